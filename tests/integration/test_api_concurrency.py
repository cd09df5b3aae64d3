"""The API under concurrency and hostile clients, over real HTTP on the embedded backend.

Simultaneous identical Idempotency-Key requests, uploads that run in parallel without stalling the server,
bodies that are too large or stall, and errors that never echo what was sent.
"""

from __future__ import annotations

import io
import select
import socket
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from PIL import Image

from pytoon.api.app import create_app
from pytoon.api.routers import assets as asset_routes
from pytoon.aws import client
from pytoon.aws.apikeys import ApiKeyRepository
from pytoon.config import ApiSettings, get_settings
from pytoon.limits import MAX_INLINE_BODY_BYTES
from tests.integration.conftest import API_KEY

pytestmark = pytest.mark.integration

# Deadlock guards only: a healthy run passes each wait at once.
GUARD_SECONDS = 30


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def _tenant_client(api: httpx.Client, tenant: str) -> httpx.Client:
    key = ApiKeyRepository.from_settings(get_settings()).create(tenant, 100_000).api_key
    return httpx.Client(base_url=api.base_url, headers={"X-API-Key": key}, timeout=60)


def _tenant_jobs(tenant: str) -> list[dict]:
    items = client("dynamodb", "us-east-1").scan(TableName=get_settings().table_name)["Items"]
    return [i for i in items if i.get("GSI1PK", {}).get("S") == f"TENANT#{tenant}" and i["SK"]["S"] == "META"]


def test_simultaneous_identical_requests_get_one_job_and_never_404(api: httpx.Client) -> None:
    tenant = f"racer-{uuid.uuid4().hex[:8]}"
    key = ApiKeyRepository.from_settings(get_settings()).create(tenant, 100_000).api_key
    body = {"preset_id": "meme_fast", "prompt": "Exactly once.", "target_duration_seconds": 1}
    rounds, callers = 3, 10
    job_ids = []
    for round_number in range(rounds):
        start = threading.Barrier(callers)

        def post(_: int, start: threading.Barrier = start, key_name: str = f"order-{round_number}") -> httpx.Response:
            # One connection per caller, all released at once.
            with httpx.Client(base_url=api.base_url, headers={"X-API-Key": key}, timeout=60) as own:
                start.wait(timeout=GUARD_SECONDS)
                return own.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": key_name})

        with ThreadPoolExecutor(callers) as pool:
            responses = list(pool.map(post, range(callers)))
        assert [r.status_code for r in responses] == [201] * callers, [r.text for r in responses]
        ids = {r.json()["job_id"] for r in responses}
        assert len(ids) == 1
        job_ids.append(ids.pop())
    # One job per key, each started once; the losers' records are gone, not left QUEUED.
    assert sorted(i["job_id"]["S"] for i in _tenant_jobs(tenant)) == sorted(job_ids)
    executions = client("stepfunctions", "us-east-1").list_executions(stateMachineArn=get_settings().state_machine_arn)[
        "executions"
    ]
    assert sorted(e["name"] for e in executions if e["name"] in job_ids) == sorted(job_ids)


def test_health_answers_while_two_slow_uploads_are_in_flight(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_upload = asset_routes.store_upload
    both_inside = threading.Barrier(3)  # the two uploads and this test
    release = threading.Event()

    def held_store_upload(**kwargs: object) -> object:
        # Both uploads must be inside validation at the same time; with uploads serialized (or the event
        # loop blocked) the second never arrives and the barrier breaks.
        both_inside.wait(timeout=GUARD_SECONDS)
        assert release.wait(timeout=GUARD_SECONDS)
        return store_upload(**kwargs)

    monkeypatch.setattr(asset_routes, "store_upload", held_store_upload)

    def upload() -> httpx.Response:
        return api.post("/api/v1/assets/upload", files={"file": ("p.png", _png())}, data={"category": "image"})

    with ThreadPoolExecutor(2) as pool:
        uploads = [pool.submit(upload) for _ in range(2)]
        both_inside.wait(timeout=GUARD_SECONDS)
        # Both uploads are held inside validation; the server still answers.
        health = httpx.get(f"{api.base_url}/health", timeout=GUARD_SECONDS)
        uploads_done_before_health = [u.done() for u in uploads]
        release.set()
        results = [u.result() for u in uploads]
    assert health.status_code == 200
    assert uploads_done_before_health == [False, False]
    assert [r.status_code for r in results] == [201, 201]
    assert len({r.json()["asset_id"] for r in results}) == 2


def _raw_request(base_url: str, head: bytes) -> socket.socket:
    url = httpx.URL(base_url)
    sock = socket.create_connection((url.host, url.port), timeout=GUARD_SECONDS)
    sock.sendall(head)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = int(next(line.split(b":")[1] for line in lines if line.lower().startswith(b"content-length")))
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split(b" ")[1]), rest


def test_a_chunked_upload_over_the_limit_is_refused_while_it_is_being_sent(api: httpx.Client) -> None:
    sock = _raw_request(
        str(api.base_url),
        b"POST /api/v1/assets/upload HTTP/1.1\r\nHost: test\r\n"
        + f"X-API-Key: {API_KEY}\r\n".encode()
        + b"Content-Type: multipart/form-data; boundary=zz\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    offered, sent = 200_000_000, 0
    part = b'--zz\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'
    chunk = b"\0" * 65536
    sock.settimeout(2)
    try:
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        while sent < offered:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
    except (TimeoutError, BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading
    sock.settimeout(GUARD_SECONDS)
    status, body = _read_response(sock)
    sock.close()
    assert status == 413
    assert b"POST /api/v1/assets/uploads" in body
    # Answered long before the client could send it all: nothing past the limit was read and kept.
    assert MAX_INLINE_BODY_BYTES < sent < offered // 4


@contextmanager
def _server(settings: ApiSettings) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(GUARD_SECONDS)


def test_a_client_that_stalls_mid_body_gets_408_and_the_server_moves_on() -> None:
    with _server(ApiSettings(body_read_timeout_seconds=0.5)) as base_url:
        sock = _raw_request(
            base_url,
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"preset_id": ',
        )
        status, body = _read_response(sock)
        sock.close()
        assert status == 408
        assert b"nothing arrived for 0.5 s" in body
        assert httpx.get(f"{base_url}/health", timeout=GUARD_SECONDS).status_code == 200


def test_errors_never_echo_large_input(api: httpx.Client) -> None:
    big = "A" * 60_000
    job = api.post("/api/v1/jobs", json={"preset_id": "meme_fast", "image_uris": big})
    assert job.status_code == 422
    assert job.json()["detail"][0]["loc"] == ["body", "image_uris"]
    assert "input" not in job.json()["detail"][0] and big[:100] not in job.text and len(job.content) < 2000
    form = api.post("/api/v1/assets/upload", files={"file": ("a.png", _png())}, data={"category": "B" * 500_000})
    assert form.status_code == 422 and len(form.content) < 2000 and "BBBB" not in form.text


def test_non_finite_json_is_422_over_http(api: httpx.Client) -> None:
    for token in ("NaN", "Infinity", "-Infinity", "1e400"):
        response = api.post(
            "/api/v1/jobs",
            content=f'{{"preset_id": "meme_fast", "target_duration_seconds": {token}}}',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, token
        assert f"{token} is not valid JSON" in response.json()["detail"][0]["ctx"]["error"]


def test_no_error_body_names_a_temporary_path(api: httpx.Client) -> None:
    for name, content, category in (
        ("x.png", b"not an image at all", "image"),
        ("x.png", _png()[:40], "image"),
        ("x.wav", b"RIFF\x00\x00\x00\x00WAVEjunk", "audio"),
    ):
        response = api.post("/api/v1/assets/upload", files={"file": (name, content)}, data={"category": category})
        assert response.status_code == 400
        assert "/tmp" not in response.text and "Traceback" not in response.text
