"""Request hardening, in process: strict JSON, validation errors without input, body limits, the 405 Allow header.

None of these needs AWS: the body is parsed (and refused) before the caller is authenticated.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from pytoon.api.app import create_app
from pytoon.api.body import BodyGuard, BodyLimit
from pytoon.api.routing import strict_loads
from pytoon.config import ApiSettings
from pytoon.limits import MAX_INLINE_BODY_BYTES, MAX_JSON_BODY_BYTES


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(ApiSettings()), raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("body", "token"),
    [
        ('{"preset_id": "meme_fast", "target_duration_seconds": NaN}', "NaN"),
        ('{"preset_id": "meme_fast", "target_duration_seconds": Infinity}', "Infinity"),
        ('{"preset_id": "meme_fast", "captions": {"hook": "x"}, "x": [1, -Infinity]}', "-Infinity"),
        ('{"preset_id": "meme_fast", "target_duration_seconds": 1e400}', "1e400"),
        ('{"preset_id": "NaN here is fine", "prompt": "Infinity", "target_duration_seconds": NaN}', "NaN"),
    ],
)
def test_non_finite_numbers_anywhere_are_422_with_a_clear_detail(client: TestClient, body: str, token: str) -> None:
    response = client.post("/api/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert issue["type"] == "json_invalid"
    assert issue["ctx"]["error"].startswith(f"{token} is not valid JSON")
    # The position is the token's own, not an occurrence inside a string.
    assert body[issue["loc"][1] :].startswith(token)


def test_a_body_that_is_not_utf8_is_invalid_json(client: TestClient) -> None:
    response = client.post(
        "/api/v1/jobs", content=b'{"preset_id": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["ctx"]["error"] == "the body is not utf-8 text"


def test_strict_json_still_reads_ordinary_numbers() -> None:
    assert strict_loads(b'{"a": 1.5e3, "b": -2, "c": [0.1, 1e308]}') == {"a": 1500.0, "b": -2, "c": [0.1, 1e308]}
    with pytest.raises(json.JSONDecodeError, match="at most 4300 digits"):
        strict_loads("1" * 5000)


def test_missing_key_is_still_422_with_its_location(client: TestClient) -> None:
    response = client.get("/api/v1/presets")
    assert response.status_code == 422
    assert response.json() == {"detail": [{"type": "missing", "loc": ["header", "X-API-Key"], "msg": "Field required"}]}


def test_a_declared_oversize_upload_is_413_naming_the_limit_and_the_presigned_route(client: TestClient) -> None:
    response = client.post(
        "/api/v1/assets/upload",
        content=b"\0" * (MAX_INLINE_BODY_BYTES + 1),
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "4.5 MB" in detail and "POST /api/v1/assets/uploads" in detail


def test_json_routes_have_a_small_body_limit(client: TestClient) -> None:
    body = json.dumps({"preset_id": "meme_fast", "prompt": "x" * MAX_JSON_BODY_BYTES})
    response = client.post("/api/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"].startswith("Request body over 64 KB")


def test_405_names_every_method_the_path_serves(client: TestClient) -> None:
    response = client.delete("/admin/keys")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    assert client.put("/api/v1/jobs/abc").headers["Allow"] == "GET"
    assert client.get("/api/v1/jobs").headers["Allow"] == "POST"


def test_unknown_routes_are_json_404(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


def _run_guard(chunks: list[bytes], limit: int) -> tuple[list[dict], int]:
    """Drive BodyGuard over an app that reads the whole body; return what was sent and how many chunks were read."""
    pulled = 0

    async def receive() -> dict:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}

    async def app(scope: dict, receive_body, send) -> None:  # noqa: ANN001
        while (await receive_body()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read it all"})

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    guard = BodyGuard(app, read_timeout_seconds=5, default=BodyLimit(limit))
    scope = {"type": "http", "path": "/x", "method": "POST", "headers": [(b"transfer-encoding", b"chunked")]}
    asyncio.run(guard(scope, receive, send))
    return sent, pulled


def test_a_chunked_body_stops_being_read_at_the_limit() -> None:
    chunks = [b"a" * 1000] * 1000  # 1 MB offered, no Content-Length
    sent, pulled = _run_guard(chunks, limit=10_000)
    assert sent[0]["status"] == 413
    assert b"10 KB" in sent[1]["body"]
    # The chunk that crossed the limit is the last one read: 11 of the 1000 offered.
    assert pulled == 11


def test_a_chunked_body_within_the_limit_is_read_whole() -> None:
    sent, pulled = _run_guard([b"a" * 1000] * 5, limit=10_000)
    assert sent[0]["status"] == 200 and pulled == 5
