"""Provider callbacks that resume the Step Functions task waiting on a provider's job.

Every provider is declared once in PROVIDERS: the secret that signs its callbacks, how that signature is
checked on the raw body (or, for a provider that signs nothing, the token in the callback URL we gave it),
and what a verified body means. Adding a provider is one more entry there, with its parser and, if it signs
differently, its verifier.

A task that starts a provider job registers its task token under the provider's task id
(`register_task_token`). A callback is checked in this order, and each failure has its own answer: an
unknown or unconfigured provider (404), a missing or wrong signature or a stale timestamp (401; nothing in
the body is trusted before this), a signed body that is not a well-formed event (400). A verified event is
then handled once per delivery id and resumes its task once (`pytoon.resume`); replays are answered with
what happened, never acted on twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pytoon.aws.secrets import secret
from pytoon.aws.tasks import DEFAULT_TOKEN_TTL_SECONDS, TaskKey
from pytoon.aws.webhooks import WebhookDeliveryStore
from pytoon.config import Settings, get_settings
from pytoon.errors import PytoonError
from pytoon.resume import TaskResult, register_waiting_task, resume_task

# Standard Webhooks: a delivery whose timestamp is further than this from our clock is refused (replays).
TOLERANCE_SECONDS = 5 * 60


class WebhookError(PytoonError):
    """A callback that is refused; the subclass says why (and so which status it is answered with)."""


class UnknownProviderError(WebhookError):
    """No such provider, or its webhooks are off (no signing secret is configured)."""


class WebhookSignatureError(WebhookError):
    """Missing or invalid signature, or a timestamp outside the tolerance: the sender is not trusted."""


class WebhookPayloadError(WebhookError):
    """The signature is valid but the body is not a well-formed event of the provider."""


@dataclass(frozen=True)
class ProviderEvent:
    delivery_id: str  # the same on every retry of one delivery
    task_id: str  # the provider's job id, under which the waiting task registered its token
    succeeded: bool
    detail: dict[str, Any]


@dataclass(frozen=True)
class WebhookOutcome:
    status: str  # a ResumeStatus, or "duplicate" (a delivery already handled) or "ignored" (not a job event)
    task_id: str | None


# (secret, headers, raw body, query parameters of the callback URL, now)
Verifier = Callable[[str, Mapping[str, str], bytes, Mapping[str, str], float], None]
# (headers, verified JSON body, query parameters of the callback URL)
Parser = Callable[[Mapping[str, str], dict[str, Any], Mapping[str, str]], ProviderEvent | None]


@dataclass(frozen=True)
class WebhookProvider:
    """One provider's callbacks: the secret's name (env var, or `{name}_SECRET_ARN` in AWS), the check of the
    signature on the raw body (raises WebhookSignatureError), and the parser of a verified JSON body into an
    event (None for an event type that resumes nothing; raises WebhookPayloadError for a malformed one)."""

    name: str
    secret_name: str
    verify: Verifier
    parse: Parser
    # The provider takes a callback URL with each task (ours, with its token) rather than one configured at the
    # provider once.
    url_per_task: bool = False


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookSignatureError(f"missing header {name}")


def _field(payload: Mapping[str, Any], name: str, kind: type) -> Any:
    value = payload.get(name)
    if not isinstance(value, kind):
        raise WebhookPayloadError(f"malformed event: `{name}` is missing or not a {kind.__name__}")
    return value


def standard_webhook_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks' signature (without its `v1,` prefix): base64 HMAC-SHA256 of `id.timestamp.body`, keyed
    with the base64 `whsec_` secret. Our own outgoing notifications are signed with it too."""
    key = base64.b64decode(secret.removeprefix("whsec_") + "==")  # the padding may have been left off
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify_standard_webhook(
    secret: str, headers: Mapping[str, str], body: bytes, query: Mapping[str, str], now: float
) -> None:
    """Standard Webhooks: HMAC-SHA256 over `id.timestamp.body` with the base64 `whsec_` secret, sent as a
    space-separated list of `v1,<base64>` entries (any one may match), timestamp within ±5 minutes."""
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise WebhookSignatureError("invalid webhook-timestamp") from exc
    if abs(now - sent) > TOLERANCE_SECONDS:
        raise WebhookSignatureError("webhook timestamp outside the tolerance")
    expected = standard_webhook_signature(secret, msg_id, timestamp, body).encode()
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return
    raise WebhookSignatureError("no valid signature")


def verify_remotion(secret: str, headers: Mapping[str, str], body: bytes, query: Mapping[str, str], now: float) -> None:
    """Remotion: `X-Remotion-Signature: sha512=<hex HMAC-SHA512 of the raw body>` (it sends no timestamp)."""
    expected = "sha512=" + hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
    if not hmac.compare_digest(_header(headers, "x-remotion-signature").encode(), expected.encode()):
        raise WebhookSignatureError("invalid signature")


def callback_token(secret: str, provider: str) -> str:
    """The token our callback URLs carry for a provider that signs nothing: derived from its secret (the secret
    itself never leaves), hex HMAC-SHA256 of the provider's name."""
    return hmac.new(secret.encode(), f"{provider} callback".encode(), hashlib.sha256).hexdigest()


def verify_luma(secret: str, headers: Mapping[str, str], body: bytes, query: Mapping[str, str], now: float) -> None:
    """Luma signs nothing: a callback is trusted as far as its URL's `token` is ours. Even then it only wakes the
    wait early; what the generation became is asked of Luma's API."""
    token = query.get("token", "")
    if not hmac.compare_digest(token.encode(), callback_token(secret, "luma").encode()):
        raise WebhookSignatureError("missing or invalid callback token")


LUMA_ENDED_STATES = ("completed", "failed")


def parse_luma_event(
    headers: Mapping[str, str], payload: dict[str, Any], query: Mapping[str, str]
) -> ProviderEvent | None:
    """Luma's callback is the generation object; it is posted on every change of state, and only an ended one
    resumes a task."""
    generation_id = _field(payload, "id", str)
    state = _field(payload, "state", str)
    if state not in LUMA_ENDED_STATES:
        return None
    return ProviderEvent(
        delivery_id=f"{generation_id}:{state}",  # Luma sends no delivery id; a generation ends once
        task_id=generation_id,
        succeeded=state == "completed",
        detail={"state": state, "generation_id": generation_id},
    )


SORA_VIDEO_EVENTS = ("video.completed", "video.failed")


def parse_sora_event(
    headers: Mapping[str, str], payload: dict[str, Any], query: Mapping[str, str]
) -> ProviderEvent | None:
    """OpenAI events `{id, type, data: {id}}`; only the video events resume a task (the same endpoint gets
    every event type the OpenAI project subscribes to). The video id alone finds the waiting task: a `run_id` in
    the query, as older callback URLs carry, changes nothing."""
    kind = _field(payload, "type", str)
    if kind not in SORA_VIDEO_EVENTS:
        return None
    video_id = _field(_field(payload, "data", dict), "id", str)
    return ProviderEvent(
        delivery_id=_header(headers, "webhook-id"),
        task_id=video_id,
        succeeded=kind == "video.completed",
        detail={"type": kind, "video_id": video_id},
    )


REMOTION_STATUSES = ("done", "error")
# The error a failed Remotion render's wait ends with (`<provider>.RenderFailed`, as for every provider).
REMOTION_FAILED = "remotion.RenderFailed"


def remotion_task_id(run_id: str, job_id: str) -> str:
    """The waiting task of a run's render on the Remotion service: the run and the service's job together, so
    a callback resumes a render only when its `run_id` and `job_id` are the ones that run submitted."""
    return f"{run_id}:{job_id}"


def parse_remotion_event(
    headers: Mapping[str, str], payload: dict[str, Any], query: Mapping[str, str]
) -> ProviderEvent | None:
    """The render service's callback `{job_id, run_id, status: done|error, output_url, error}`, posted to
    `?run_id=` of the run it renders (a body naming another run is refused)."""
    run_id = query.get("run_id")
    if not run_id:
        raise WebhookPayloadError("the callback URL has no run_id")
    if payload.get("run_id") not in (None, run_id):
        raise WebhookPayloadError(f"the callback is for run {payload.get('run_id')!r}, posted for run {run_id!r}")
    kind = _field(payload, "status", str)
    if kind not in REMOTION_STATUSES:
        return None
    job_id = _field(payload, "job_id", str)
    error = payload.get("error")
    return ProviderEvent(
        delivery_id=f"{run_id}:{job_id}:{kind}",  # the service sends no delivery id; one render ends once
        task_id=remotion_task_id(run_id, job_id),
        succeeded=kind == "done",
        detail={"status": kind, "job_id": job_id, "error": str(error)[:300] if error else None},
    )


PROVIDERS: dict[str, WebhookProvider] = {
    provider.name: provider
    for provider in (
        WebhookProvider("sora", "SORA_WEBHOOK_SECRET", verify_standard_webhook, parse_sora_event),
        WebhookProvider("remotion", "REMOTION_WEBHOOK_SECRET", verify_remotion, parse_remotion_event),
        WebhookProvider("luma", "LUMA_WEBHOOK_SECRET", verify_luma, parse_luma_event, url_per_task=True),
    )
}
WEBHOOK_BASE_VARIABLE = "PYTOON_WEBHOOK_BASE_URL"


def webhook_url(provider: str, **params: str) -> str | None:
    """Our route for `provider`'s callbacks with `params` as its query, at the public base URL of the API's
    webhook routes (`PYTOON_WEBHOOK_BASE_URL`; on AWS the stack's SSM parameter that
    `PYTOON_WEBHOOK_BASE_URL_PARAMETER` names); None when that address is not known. ValueError for a base
    that is not an https URL (plain http only on loopback)."""
    import httpx

    from pytoon.aws.secrets import stack_value
    from pytoon.config import api_base_url

    base = stack_value(WEBHOOK_BASE_VARIABLE)
    if base is None:
        return None
    try:
        base = api_base_url(base)
    except ValueError as exc:
        raise ValueError(f"{WEBHOOK_BASE_VARIABLE} is invalid ({base!r}): {exc}") from None
    return str(httpx.URL(f"{base}/v1/webhooks/{_provider(provider).name}", params=params))


def engine_webhook(engine: str | None) -> str | None:
    """The webhook provider that reports `engine`'s tasks, when its callbacks are set up (`PYTOON_ENGINE_WEBHOOKS`
    names the engine and, for a provider given a URL per task, its secret and our address are known): the task
    then waits for the callback instead of polling. None: poll."""
    from pytoon.config import listed_names

    provider = PROVIDERS.get(engine or "")
    if provider is None or provider.name not in (listed_names("PYTOON_ENGINE_WEBHOOKS") or ()):
        return None
    if provider.url_per_task and task_callback_url(provider.name) is None:
        return None
    return provider.name


def task_callback_url(engine: str) -> str | None:
    """The callback URL to give a provider with its task (ours, with the token its callbacks must carry), or
    None when the provider is not given one or our address or its secret is not configured."""
    provider = PROVIDERS.get(engine)
    if provider is None or not provider.url_per_task:
        return None
    signing_secret = secret(provider.secret_name)
    if not signing_secret:
        return None
    try:
        return webhook_url(provider.name, token=callback_token(signing_secret, provider.name))
    except ValueError as exc:  # its tasks are polled instead, as without callbacks
        from pytoon.observability import logger

        logger.warning("no callback URL", extra={"provider": provider.name, "reason": str(exc)})
        return None


def _provider(name: str) -> WebhookProvider:
    provider = PROVIDERS.get(name)
    if provider is None:
        raise UnknownProviderError(f"unknown webhook provider {name!r}")
    return provider


def register_task_token(
    provider: str,
    task_id: str,
    token: str,
    *,
    ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS,
    settings: Settings | None = None,
) -> None:
    """Called by the task that started `task_id` at `provider`: its callback will resume the task."""
    register_waiting_task(TaskKey(_provider(provider).name, task_id), token, ttl_seconds=ttl_seconds, settings=settings)


def handle_webhook(
    provider_name: str,
    headers: Mapping[str, str],
    body: bytes,
    query: Mapping[str, str] | None = None,
    *,
    settings: Settings | None = None,
    now: float | None = None,
) -> WebhookOutcome:
    provider = _provider(provider_name)
    signing_secret = secret(provider.secret_name)
    if not signing_secret:
        raise UnknownProviderError(f"{provider.name} webhooks are off ({provider.secret_name} is not configured)")
    query = query or {}
    provider.verify(signing_secret, headers, body, query, time.time() if now is None else now)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookPayloadError("the body is not JSON") from exc
    if not isinstance(payload, dict):
        raise WebhookPayloadError("the body is not a JSON object")
    event = provider.parse(headers, payload, query)
    if event is None:
        return WebhookOutcome("ignored", None)
    settings = settings or get_settings()
    deliveries = WebhookDeliveryStore.from_settings(settings)
    if deliveries.outcome(provider.name, event.delivery_id) is not None:
        return WebhookOutcome("duplicate", event.task_id)
    result = TaskResult(event.succeeded, event.detail, error=f"{provider.name}.RenderFailed")
    status = resume_task(TaskKey(provider.name, event.task_id), result, claimed_by=event.delivery_id, settings=settings)
    # Recorded only once handled: a delivery that failed half-way is processed again when the provider retries.
    deliveries.record(provider.name, event.delivery_id, status)
    return WebhookOutcome(status, event.task_id)
