"""Outgoing notifications: a tenant's webhook told when its runs and jobs need someone or have ended.

Events (`type`, and what `data` holds):
- `run.awaiting_approval`: a run waits at a gate (`run_id`, `status`, `current_step`, `gate`);
- `run.completed`: a run published its video (`run_id`, `status`);
- `run.failed`: a run failed or was rejected (`run_id`, `status`, `current_step`, `error`; `rejected: true`);
- `job.completed`, `job.failed`: a render job ended (`job_id`, `status`, `error`).

Each is a JSON body `{"type", "timestamp", "data"}` signed the Standard Webhooks way (`webhook-id`,
`webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>` with the subscription's `whsec_` secret), so
any Standard Webhooks library verifies it. A delivery is tried up to DELIVERY_ATTEMPTS times with growing
waits (a 2xx ends it; a 4xx other than 408 and 429 is not retried) and every attempt is logged. The URL is
checked against SSRF rules when it is registered and again before each attempt: https (plain http only to a
loopback receiver, and loopback only where PYTOON_NOTIFY_ALLOW_LOOPBACK is set, as in local mode), no
credentials, and every address its name resolves to public. A receiver that is down never fails the run or
job that sent the event.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from pytoon.clock import utc_now_iso
from pytoon.config import Settings, get_settings
from pytoon.errors import PytoonError
from pytoon.observability import logger

if TYPE_CHECKING:
    from pytoon.media_fetch import IPAddress

EVENT_TYPES = ("run.awaiting_approval", "run.completed", "run.failed", "job.completed", "job.failed")
DELIVERY_ATTEMPTS = 3
# Waits before the second and third attempts: short, the sender is a state machine step.
RETRY_WAITS_SECONDS = (1.0, 3.0)
DELIVERY_TIMEOUT = 5.0
MAX_URL_CHARS = 2048
_RETRIED_CLIENT_ERRORS = {408, 429}

Resolver = Callable[[str, int], Sequence[str]]


class WebhookUrlError(PytoonError):
    """A notification URL that is refused; the message says why."""


class Subscription(BaseModel):
    url: str
    events: list[str]
    secret: str = Field(repr=False)
    created_at: str


def _system_resolver(host: str, port: int) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def _loopback_allowed() -> bool:
    return os.environ.get("PYTOON_NOTIFY_ALLOW_LOOPBACK", "").lower() in ("1", "true", "yes")


def check_webhook_url(url: str, *, resolver: Resolver | None = None) -> list[IPAddress]:
    """The addresses a notification to `url` may be sent to (all its host resolves to); WebhookUrlError for a URL
    a notification may not be sent to."""
    from pytoon.media_fetch import forbidden_address

    if len(url) > MAX_URL_CHARS:
        raise WebhookUrlError(f"the webhook URL is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise WebhookUrlError(f"the webhook URL is not a URL ({exc})") from None
    loopback = _loopback_allowed()
    if not host or parts.scheme not in ("https", "http"):
        raise WebhookUrlError("the webhook URL must be an https URL")
    if parts.username or parts.password:
        raise WebhookUrlError("the webhook URL must not carry credentials")
    try:
        addresses = (resolver or _system_resolver)(host, port or (443 if parts.scheme == "https" else 80))
    except OSError as exc:
        raise WebhookUrlError(f"the webhook URL's host {host} does not resolve ({exc})") from None
    if not addresses:
        raise WebhookUrlError(f"the webhook URL's host {host} does not resolve")
    checked = [ipaddress.ip_address(address) for address in addresses]
    for address in checked:
        reason = forbidden_address(address, allow_loopback=loopback)
        if reason:
            raise WebhookUrlError(f"the webhook URL's host {host} is {reason}, which is not allowed")
    if parts.scheme == "http" and not all(address.is_loopback for address in checked):
        raise WebhookUrlError("the webhook URL must be an https URL (plain http only to this machine)")
    return checked


def subscribe(
    tenant_id: str, url: str, events: Sequence[str] | None = None, *, settings: Settings | None = None
) -> Subscription:
    """Register (or replace) the tenant's webhook; the answer carries the signing secret."""
    from pytoon.aws.notifications import NotificationStore

    check_webhook_url(url)
    unknown = sorted(set(events or ()) - set(EVENT_TYPES))
    if unknown:
        raise WebhookUrlError(f"unknown events {unknown}: the events are {', '.join(EVENT_TYPES)}")
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    chosen = list(dict.fromkeys(events)) if events else list(EVENT_TYPES)
    subscription = Subscription(url=url, events=chosen, secret=secret, created_at=utc_now_iso())
    NotificationStore.from_settings(settings or get_settings()).put_subscription(tenant_id, subscription.model_dump())
    return subscription


def current_subscription(tenant_id: str, *, settings: Settings | None = None) -> Subscription | None:
    from pytoon.aws.notifications import NotificationStore

    stored = NotificationStore.from_settings(settings or get_settings()).subscription(tenant_id)
    return None if stored is None else Subscription.model_validate(stored)


def notify(
    tenant_id: str,
    event_type: str,
    data: dict[str, Any],
    *,
    settings: Settings | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Deliver the event to the tenant's webhook if it wants it; never raises (failures are logged)."""
    from pytoon.aws.notifications import NotificationStore

    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown notification event {event_type!r}")
    try:
        store = NotificationStore.from_settings(settings or get_settings())
        stored = store.subscription(tenant_id)
        if stored is None:
            return
        wanted = Subscription.model_validate(stored)
        if event_type in wanted.events:
            _deliver(store, tenant_id, wanted, event_type, data, sleep)
    except Exception:
        logger.exception("notification not delivered", extra={"tenant": tenant_id, "event": event_type})


class DeliveryError(PytoonError):
    """The receiver could not be reached or answered something that is not HTTP."""


def _post(url: str, addresses: Sequence[IPAddress], body: bytes, headers: dict[str, str]) -> int:
    """POST to `url` connecting to the checked `addresses` only (its name is not resolved again, so it cannot
    have been pointed elsewhere since the check); redirects are not followed. The answer's status."""
    import httpcore

    from pytoon.media_fetch import PinnedBackend

    host = urlsplit(url).hostname or ""
    timeouts = dict.fromkeys(("connect", "read", "write", "pool"), DELIVERY_TIMEOUT)
    try:
        with httpcore.ConnectionPool(network_backend=PinnedBackend(host, addresses), retries=0) as pool:
            return pool.request("POST", url, headers=headers, content=body, extensions={"timeout": timeouts}).status
    except (
        httpcore.NetworkError,
        httpcore.TimeoutException,
        httpcore.ProtocolError,
        httpcore.UnsupportedProtocol,
    ) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


def _deliver(
    store: Any,
    tenant_id: str,
    wanted: Subscription,
    event_type: str,
    data: dict[str, Any],
    sleep: Callable[[float], None],
) -> None:
    from pytoon.webhooks import standard_webhook_signature

    event_id = f"msg_{uuid.uuid4().hex}"
    body = json.dumps({"type": event_type, "timestamp": utc_now_iso(), "data": data}).encode()
    for attempt in range(1, DELIVERY_ATTEMPTS + 1):
        sent_at = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": sent_at,
            "webhook-signature": "v1," + standard_webhook_signature(wanted.secret, event_id, sent_at, body),
        }
        status: int | None = None
        error: str | None = None
        refused = False
        try:
            status = _post(wanted.url, check_webhook_url(wanted.url), body, headers)
        except WebhookUrlError as exc:  # its name resolves elsewhere now: not sent, and not tried again
            error, refused = str(exc), True
        except DeliveryError as exc:
            error = str(exc)[:300]
        delivered = status is not None and 200 <= status < 300
        store.log_delivery(
            tenant_id,
            {
                "event_id": event_id,
                "type": event_type,
                "attempt": attempt,
                "url": wanted.url,
                "status_code": status,
                "error": error,
                "delivered": delivered,
                "at": utc_now_iso(),
            },
        )
        final = status is not None and 400 <= status < 500 and status not in _RETRIED_CLIENT_ERRORS
        if delivered or final or refused:
            return
        if attempt < DELIVERY_ATTEMPTS:
            sleep(RETRY_WAITS_SECONDS[attempt - 1])
