"""One embedded AWS stack and one real HTTP API server for the integration tests."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image, ImageDraw

from pytoon.api.app import create_app
from pytoon.local.embedded import EmbeddedAWS
from pytoon.local.fakes.luma_video import FakeLumaVideo, fake_luma_video
from pytoon.local.fakes.runway_video import FakeRunwayVideo, fake_runway_video
from pytoon.local.fakes.sora_video import FakeSoraVideo, fake_sora_video
from pytoon.render.ffmpeg import run_ffmpeg

API_KEY = "integration-test-key"
JOB_DEADLINE_SECONDS = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A developer's own provider keys and settings never reach the suite: voice scripts are spoken offline and no
# scene is sent to a video engine unless a test points a provider at its loopback fake.
PROVIDER_PREFIXES = ("OPENAI", "ELEVENLABS", "RUNWAY", "LUMA", "PIKA", "UPLOAD_POST")
PROVIDER_ENVIRONMENT = tuple(
    f"{prefix}_{name}"
    for prefix in PROVIDER_PREFIXES
    for name in ("API_KEY", "API_KEY_SECRET_ARN", "BASE_URL", "MODEL", "USER", "ASYNC_UPLOAD")
)


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedAWS]:
    monkey = pytest.MonkeyPatch()
    for name in (
        *PROVIDER_ENVIRONMENT,
        *(n for n in os.environ if n.startswith(("PYTOON_TTS_", "PYTOON_SORA_", "PYTOON_PLANNER_LLM_"))),
    ):
        monkey.delenv(name, raising=False)
    aws = EmbeddedAWS(work_dir=tmp_path_factory.mktemp("work"))
    aws.start()
    yield aws
    aws.stop()
    monkey.undo()


@pytest.fixture(scope="session")
def api(embedded: EmbeddedAWS) -> Iterator[httpx.Client]:
    """The FastAPI app served by uvicorn on a real socket, as `pytoon serve` does."""
    monkey = pytest.MonkeyPatch()
    # The suite polls jobs far faster than a client should; its own key gets a generous limit.
    monkey.setenv("API_KEYS", f"default:{API_KEY}:100000")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": API_KEY}, timeout=60) as client:
        yield client
    server.should_exit = True
    thread.join(timeout=10)
    monkey.undo()


def wait_for_job(api: httpx.Client, job_id: str) -> dict:
    deadline = time.monotonic() + JOB_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        response = api.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] in ("DONE", "FAILED"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish within {JOB_DEADLINE_SECONDS}s: {body}")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three distinctly coloured product shots of mixed sizes and a music track."""
    folder = tmp_path_factory.mktemp("media")
    specs = [((200, 40, 40), (1200, 1800)), ((40, 180, 60), (1800, 1200)), ((40, 60, 220), (900, 900))]
    for i, (colour, size) in enumerate(specs):
        image = Image.new("RGB", size, colour)
        draw = ImageDraw.Draw(image)
        w, h = size
        draw.ellipse([w // 4, h // 4, 3 * w // 4, 3 * h // 4], fill=(240, 240, 240))
        for x in range(0, w, 60):  # texture, so motion changes pixels
            draw.line([(x, 0), (x, h)], fill=tuple(min(255, c + 40) for c in colour), width=6)
        image.save(folder / f"product_{i}.png")
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:duration=6",
            "-ar",
            "44100",
            "-ac",
            "2",
            str(folder / "music.wav"),
        ],
        timeout=30,
    )
    return folder


def upload(api: httpx.Client, path: Path, category: str) -> dict:
    with path.open("rb") as handle:
        response = api.post("/api/v1/assets/upload", files={"file": (path.name, handle)}, data={"category": category})
    assert response.status_code == 201, response.text
    return response.json()


def upload_clip(api: httpx.Client, path: Path) -> str:
    """A video clip uploaded the way large files go: a presigned POST, validated by the upload notification."""
    presigned = api.post(
        "/api/v1/assets/uploads", json={"filename": path.name, "content_type": "video/mp4", "category": "video"}
    )
    assert presigned.status_code == 201, presigned.text
    form = presigned.json()
    with path.open("rb") as handle:
        posted = httpx.post(form["upload_url"], data=form["upload_fields"], files={"file": (path.name, handle)})
    assert posted.status_code in (200, 201, 204)
    status = api.get(form["status_url"]).json()
    assert status["status"] == "READY", status
    return form["uri"]


def submit_v2_job(api: httpx.Client, **body: object) -> dict:
    response = api.post("/api/v2/jobs", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def finished_v2_job(api: httpx.Client, job_id: str, status: str = "done") -> dict:
    """The V2 body of a job once it has finished, which must be with `status` (else the test fails with the
    job's error)."""
    wait_for_job(api, job_id)
    body = api.get(f"/api/v2/jobs/{job_id}").json()
    assert body["status"] == status, body["error"]
    return body


def download(url: str, path: Path) -> Path:
    path.write_bytes(httpx.get(url, timeout=60).raise_for_status().content)
    return path


# --- video engine fakes ------------------------------------------------------------------------------------

# The shipped engine rules, with waits short enough for a test: poll every second, give up after a few.
ENGINE_TIMEOUT_SECONDS = 4


@pytest.fixture
def fast_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytoon.video_engines.selection import engine_config

    rules = engine_config().model_dump(mode="json")
    for engine in rules["engines"].values():
        engine |= {"timeout_seconds": ENGINE_TIMEOUT_SECONDS, "poll_interval_seconds": 1}
    # Tests share one table: an engine a test makes fail would be skipped in the next, unless failing is rare
    # enough. The rotation test sets its own rules.
    rules["rotation"] = {"window_seconds": 60, "min_attempts": 1000, "failure_threshold": 0.5}
    path = tmp_path / "engines.json"
    path.write_text(json.dumps(rules))
    monkeypatch.setenv("PYTOON_ENGINE_CONFIG", str(path))


def long_engine_timeout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: str = "sora") -> None:
    """The fast rules, but `engine` waits long enough that only its webhook ends the wait."""
    rules = json.loads(Path(os.environ["PYTOON_ENGINE_CONFIG"]).read_text())
    rules["engines"][engine]["timeout_seconds"] = 120
    path = tmp_path / f"{engine}_rules.json"
    path.write_text(json.dumps(rules))
    monkeypatch.setenv("PYTOON_ENGINE_CONFIG", str(path))


@pytest.fixture
def runway(embedded: object, fast_rules: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRunwayVideo]:
    with fake_runway_video() as fake:
        monkeypatch.setenv("RUNWAY_API_KEY", fake.api_key)
        monkeypatch.setenv("RUNWAY_BASE_URL", fake.api_url)
        yield fake


@pytest.fixture
def luma(embedded: object, fast_rules: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLumaVideo]:
    with fake_luma_video() as fake:
        monkeypatch.setenv("LUMA_API_KEY", fake.api_key)
        monkeypatch.setenv("LUMA_BASE_URL", fake.api_url)
        yield fake


@pytest.fixture
def sora(embedded: object, fast_rules: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSoraVideo]:
    with fake_sora_video() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.api_url)
        yield fake


@pytest.fixture(scope="session")
def gateway_url(embedded: EmbeddedAWS) -> Iterator[str]:
    """The API behind the local webhooks gateway on one real port, as `pytoon serve` serves them."""
    from pytoon.local.webhooks_gateway import WebhooksGateway

    listening = socket.create_server(("127.0.0.1", 0))
    app = WebhooksGateway.for_embedded(create_app(), embedded)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the gateway never started"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    listening.close()


def colour_share(frame: np.ndarray, colour: tuple[int, int, int], tolerance: int = 24) -> float:
    """The share of the frame's pixels within `tolerance` levels of `colour`."""
    return float((np.abs(frame.astype(int) - colour).max(axis=2) < tolerance).mean())
