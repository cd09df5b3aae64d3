"""Webhook signatures: Standard Webhooks (Sora) and Remotion's HMAC-SHA512, verified on the raw body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from pytoon.webhooks import WebhookRejectedError, parse_event, verify_remotion, verify_standard_webhook

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def _signed(body: bytes, msg_id: str = "msg_1", timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signature = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": f"v1a,xyz v1,{signature}"}


BODY = json.dumps({"id": "evt_1", "type": "video.completed", "data": {"id": "video_123"}}).encode()


def test_standard_webhook_accepts_a_valid_signature() -> None:
    payload = verify_standard_webhook(SECRET, _signed(BODY), BODY)
    event = parse_event("sora", _signed(BODY), payload)
    assert (event.task_id, event.succeeded, event.delivery_id) == ("video_123", True, "msg_1")


def test_standard_webhook_rejects_a_tampered_body() -> None:
    with pytest.raises(WebhookRejectedError):
        verify_standard_webhook(SECRET, _signed(BODY), BODY.replace(b"completed", b"failed"))


def test_standard_webhook_rejects_old_deliveries() -> None:
    stale = _signed(BODY, timestamp=int(time.time()) - 600)
    with pytest.raises(WebhookRejectedError, match="tolerance"):
        verify_standard_webhook(SECRET, stale, BODY)


def test_standard_webhook_needs_its_headers() -> None:
    with pytest.raises(WebhookRejectedError, match="webhook-id"):
        verify_standard_webhook(SECRET, {}, BODY)


def test_remotion_signature_and_events() -> None:
    body = json.dumps({"type": "success", "renderId": "r1", "outputUrl": "https://x/out.mp4"}).encode()
    headers = {"X-Remotion-Signature": "sha512=" + hmac.new(b"s3cret", body, hashlib.sha512).hexdigest()}
    event = parse_event("remotion", headers, verify_remotion("s3cret", headers, body))
    assert (event.task_id, event.succeeded, event.detail["output_url"]) == ("r1", True, "https://x/out.mp4")
    with pytest.raises(WebhookRejectedError):
        verify_remotion("other", headers, body)
    timeout = parse_event("remotion", headers, {"type": "timeout", "renderId": "r1"})
    assert not timeout.succeeded and timeout.delivery_id == "r1:timeout"
