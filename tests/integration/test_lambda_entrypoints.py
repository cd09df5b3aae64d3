"""The Lambda entry points with API Gateway events (as in AWS), on the embedded backend: the API through
Mangum and the provider webhooks."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import io
import json
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from functions.api.app import lambda_handler as api_handler
from functions.webhooks.app import lambda_handler as webhooks_handler
from pytoon.local.embedded import EmbeddedAWS
from pytoon.local.lambda_runtime import LocalContext
from pytoon.webhooks import register_task_token, remotion_task_id
from tests.integration.conftest import API_KEY

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[1] / "events"


def _context(name: str) -> LocalContext:
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    return LocalContext(function_name=name, memory_limit_in_mb=1024, timeout_seconds=29, invoked_function_arn=arn)


def _event(path: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None) -> dict:
    event = copy.deepcopy(json.loads((EVENTS / "apigw_rest_get_health.json").read_text()))
    event.update(path=path, httpMethod=method, pathParameters={"proxy": path.lstrip("/")})
    event["requestContext"].update(httpMethod=method, path=f"/prod{path}")
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    if body is not None:
        # `*/*` is a binary media type on the API, so API Gateway hands every body over base64-encoded.
        event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    return event


@pytest.fixture
def keyed(api: httpx.Client) -> dict[str, str]:
    # The served app stores the keys API_KEYS names on its first authenticated request; the Lambda app
    # here was built before API_KEYS was set (configuration is read once, at cold start).
    assert api.get("/api/v1/presets").status_code == 200
    return {"X-API-Key": API_KEY}


def test_health_through_api_gateway_and_mangum(embedded: EmbeddedAWS) -> None:
    event = json.loads((EVENTS / "apigw_rest_get_health.json").read_text())
    response = api_handler(event, _context("ApiFunction"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["status"] == "ok"


def test_job_submit_and_read_through_api_gateway(embedded: EmbeddedAWS, keyed: dict[str, str]) -> None:
    body = json.dumps({"preset_id": "meme_fast", "prompt": "Via Lambda.", "target_duration_seconds": 1}).encode()
    headers = keyed | {"Content-Type": "application/json"}
    created = api_handler(_event("/api/v1/jobs", "POST", headers, body), _context("ApiFunction"))
    assert created["statusCode"] == 201, created["body"]
    job_id = json.loads(created["body"])["job_id"]
    read = api_handler(_event(f"/api/v1/jobs/{job_id}", headers=keyed), _context("ApiFunction"))
    assert read["statusCode"] == 200 and json.loads(read["body"])["job_id"] == job_id
    missing = api_handler(_event("/api/v1/presets"), _context("ApiFunction"))
    assert missing["statusCode"] == 422


def test_multipart_upload_through_api_gateway(embedded: EmbeddedAWS, keyed: dict[str, str]) -> None:
    image = io.BytesIO()
    Image.new("RGB", (320, 240), "orange").save(image, format="PNG")
    boundary = "pytoonboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="category"\r\n\r\nimage\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="shot.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + image.getvalue()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = keyed | {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = api_handler(_event("/api/v1/assets/upload", "POST", headers, body), _context("ApiFunction"))
    assert response["statusCode"] == 201, response["body"]
    assert json.loads(response["body"])["media"] == {"type": "png", "width": 320, "height": 240, "has_alpha": False}


def _remotion_event(body: bytes, signature: str, run_id: str | None = "run-1") -> dict:
    event = _event("/webhooks/remotion", "POST", {"X-Remotion-Signature": signature}, body)
    event["pathParameters"] = {"provider": "remotion"}
    event["queryStringParameters"] = {"run_id": run_id} if run_id else None
    return event


def _remotion_signature(body: bytes) -> str:
    return "sha512=" + hmac.new(b"remotion-secret", body, hashlib.sha512).hexdigest()


def test_remotion_webhook_is_verified_and_deduplicated(embedded: EmbeddedAWS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTION_WEBHOOK_SECRET", "remotion-secret")
    body = json.dumps({"job_id": f"j-{time.time_ns()}", "status": "done", "output_url": "https://x/y.mp4"}).encode()

    def deliver(signed: str, run_id: str | None = "run-1") -> dict:
        return webhooks_handler(_remotion_event(body, signed, run_id), _context("WebhooksFunction"))

    first = deliver(_remotion_signature(body))
    assert first["statusCode"] == 200 and json.loads(first["body"])["status"] == "unknown_task"
    assert json.loads(deliver(_remotion_signature(body))["body"])["status"] == "duplicate"
    assert deliver("sha512=" + "0" * 128)["statusCode"] == 401
    missing_run = deliver(_remotion_signature(body), run_id=None)
    assert missing_run["statusCode"] == 400
    assert json.loads(missing_run["body"]) == {"detail": "the callback URL has no run_id"}
    # Signed by the service but not one of its callbacks (no job_id): the body is at fault, not the sender.
    malformed = json.dumps({"status": "done"}).encode()
    event = _remotion_event(malformed, _remotion_signature(malformed))
    assert webhooks_handler(event, _context("WebhooksFunction"))["statusCode"] == 400
    event["pathParameters"] = {"provider": "runway"}
    assert webhooks_handler(event, _context("WebhooksFunction"))["statusCode"] == 404


def test_webhook_for_a_registered_task_sends_its_token(embedded: EmbeddedAWS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTION_WEBHOOK_SECRET", "remotion-secret")
    job_id = f"j-{time.time_ns()}"
    # A token no execution is waiting on any more (its task timed out): the webhook says so and succeeds,
    # so the provider does not keep retrying.
    register_task_token("remotion", remotion_task_id("run-1", job_id), "stale-token")
    body = json.dumps({"job_id": job_id, "run_id": "run-1", "status": "error", "error": "boom"}).encode()
    event = _remotion_event(body, _remotion_signature(body))
    response = webhooks_handler(event, _context("WebhooksFunction"))
    assert response["statusCode"] == 200 and json.loads(response["body"])["status"] == "expired"
