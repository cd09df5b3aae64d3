"""Provider callbacks (Sora via Standard Webhooks, Remotion Lambda) that resume waiting task tokens.

A task that waits on a provider registers its task token under the provider's task id
(`register_task_token`); the webhook verifies the signature on the raw body, drops duplicates, and sends
SendTaskSuccess/SendTaskFailure. Replays are harmless: a delivery id is processed once, and a token that
has already been used or has expired is reported, not retried.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from pytoon.aws import client, dynamodb_table
from pytoon.aws.secrets import secret
from pytoon.clock import utc_now_iso
from pytoon.config import Settings, get_settings
from pytoon.errors import PytoonError

Provider = Literal["sora", "remotion"]
TOLERANCE_SECONDS = 5 * 60
DEDUPE_TTL_SECONDS = 7 * 24 * 3600


class WebhookRejectedError(PytoonError):
    """Signature, timestamp or body is not acceptable (answer 401/400; the sender will retry)."""


@dataclass(frozen=True)
class ProviderEvent:
    delivery_id: str
    task_id: str
    succeeded: bool
    detail: dict[str, Any]


@dataclass(frozen=True)
class WebhookOutcome:
    status: Literal["resumed", "duplicate", "unknown_task", "expired"]
    task_id: str


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookRejectedError(f"missing header {name}")


def verify_standard_webhook(secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None) -> dict:
    """Standard Webhooks: HMAC-SHA256 over `id.timestamp.body`, base64, `v1,` entries, ±5 minutes."""
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise WebhookRejectedError("invalid webhook-timestamp") from exc
    if abs((now or time.time()) - sent) > TOLERANCE_SECONDS:
        raise WebhookRejectedError("webhook timestamp outside the tolerance")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return json.loads(body)
    raise WebhookRejectedError("no valid signature")


def verify_remotion(secret: str, headers: Mapping[str, str], body: bytes) -> dict:
    """Remotion: `X-Remotion-Signature: sha512=<hex HMAC-SHA512 of the raw body>`."""
    expected = "sha512=" + hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
    if not hmac.compare_digest(_header(headers, "x-remotion-signature"), expected):
        raise WebhookRejectedError("invalid signature")
    return json.loads(body)


def parse_event(provider: Provider, headers: Mapping[str, str], payload: dict) -> ProviderEvent:
    try:
        if provider == "sora":
            kind = payload["type"]
            if kind not in ("video.completed", "video.failed"):
                raise WebhookRejectedError(f"unsupported event type {kind}")
            return ProviderEvent(
                delivery_id=_header(headers, "webhook-id"),
                task_id=payload["data"]["id"],
                succeeded=kind == "video.completed",
                detail={"type": kind, "video_id": payload["data"]["id"]},
            )
        kind = payload["type"]
        detail = {"type": kind, "render_id": payload["renderId"]}
        if kind == "success":
            detail["output_url"] = payload.get("outputUrl")
        elif kind == "error":
            detail["errors"] = [e.get("message") for e in payload.get("errors", [])]
        return ProviderEvent(
            delivery_id=f"{payload['renderId']}:{kind}",  # Remotion sends no delivery id
            task_id=payload["renderId"],
            succeeded=kind == "success",
            detail=detail,
        )
    except (KeyError, TypeError) as exc:
        raise WebhookRejectedError(f"malformed {provider} event: missing {exc}") from exc


def _secret(provider: Provider) -> str:
    name = {"sora": "SORA_WEBHOOK_SECRET", "remotion": "REMOTION_WEBHOOK_SECRET"}[provider]
    value = secret(name)
    if not value:
        raise WebhookRejectedError(f"{provider} webhooks are not configured ({name} is unset)")
    return value


def register_task_token(provider: Provider, task_id: str, token: str, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    dynamodb_table(settings.table_name, settings.region).put_item(
        Item={"PK": f"TASK#{provider}#{task_id}", "SK": "TOKEN", "token": token, "created_at": utc_now_iso()}
    )


def handle_webhook(
    provider: Provider, headers: Mapping[str, str], body: bytes, settings: Settings | None = None
) -> WebhookOutcome:
    settings = settings or get_settings()
    secret = _secret(provider)
    payload = (
        verify_standard_webhook(secret, headers, body) if provider == "sora" else verify_remotion(secret, headers, body)
    )
    event = parse_event(provider, headers, payload)
    table = dynamodb_table(settings.table_name, settings.region)
    try:
        table.put_item(
            Item={
                "PK": f"WEBHOOK#{provider}#{event.delivery_id}",
                "SK": "DELIVERY",
                "received_at": utc_now_iso(),
                "expires_at": int(time.time()) + DEDUPE_TTL_SECONDS,
            },
            ConditionExpression="attribute_not_exists(PK)",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return WebhookOutcome("duplicate", event.task_id)
        raise
    item = table.get_item(Key={"PK": f"TASK#{provider}#{event.task_id}", "SK": "TOKEN"}).get("Item")
    if item is None:
        return WebhookOutcome("unknown_task", event.task_id)
    sfn = client("stepfunctions", settings.region)
    try:
        if event.succeeded:
            sfn.send_task_success(taskToken=item["token"], output=json.dumps(event.detail))
        else:
            sfn.send_task_failure(
                taskToken=item["token"],
                error=f"{provider}.RenderFailed",
                cause=json.dumps(event.detail)[:32000],
            )
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
            return WebhookOutcome("expired", event.task_id)
        raise
    return WebhookOutcome("resumed", event.task_id)
