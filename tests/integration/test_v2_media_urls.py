"""V2 jobs naming https media, over real HTTP on the embedded backend: the planner fetches the URL from a TLS
server on loopback (reachable only through the test's resolver, loopback allowance and CA: see
tests/fakes/media_server.py), stores it under the job and shows its pixels in its scene; a URL that is missing,
is not media or redirects inside fails the job with a reason naming it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

from pytoon.aws.storage import ArtifactStore
from pytoon.config import get_settings
from tests.fakes.media_server import HOST, MediaServer, body, media_server, redirect, serve_pipeline_fetches
from tests.integration.conftest import upload, wait_for_job
from tests.media import decode_frames, video_stream

pytestmark = pytest.mark.integration

GREEN = (30, 200, 60)


def _green_png() -> bytes:
    """A green shot with a light stripe pattern (so the camera's motion has something to move)."""
    image = Image.new("RGB", (900, 1400), GREEN)
    draw = ImageDraw.Draw(image)
    for y in range(0, 1400, 80):
        draw.line([(0, y), (900, y)], fill=(60, 230, 90), width=8)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server() -> Iterator[MediaServer]:
    routes = {
        "/green.png": body("image/png", _green_png()),
        "/page.html": body("text/html", b"<html>not a picture</html>"),
        "/to-private": redirect("https://10.0.0.1/green.png"),
    }
    with media_server(routes) as running:
        yield running


@pytest.fixture
def fetches(server: MediaServer, monkeypatch: pytest.MonkeyPatch) -> MediaServer:
    """The planner's fetches (in this process) reach the server; the API's submit checks are untouched."""
    serve_pipeline_fetches(server, monkeypatch)
    return server


def _mean(frame: np.ndarray) -> np.ndarray:
    return frame[200:1600].reshape(-1, 3).mean(axis=0)


def test_an_https_image_is_fetched_stored_and_shown_in_its_scene(
    api: httpx.Client, fetches: MediaServer, media_dir: Path, tmp_path: Path
) -> None:
    red = upload(api, media_dir / "product_0.png", "image")["uri"]
    url = fetches.url("/green.png")
    created = api.post(
        "/api/v2/jobs",
        json={
            "prompt": "Red comes first. Then the green one.",
            "media_files": [red, url],
            "target_duration_seconds": 4,
        },
    )
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    wait_for_job(api, job_id)
    job = api.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "done", job["error"]
    assert [s["media_type"] for s in job["scenes"]] == ["image", "image"]
    assert ("/green.png", f"{HOST}:{fetches.port}") in fetches.requests

    # Stored under the job, byte for byte, and the scene names the stored copy, not the URL.
    graph = api.get(f"/api/v2/jobs/{job_id}/scene-graph").json()
    assert graph["scenes"][1]["media"]["asset"] == f"jobs/{job_id}/media/00.png"
    assert ArtifactStore.from_settings(get_settings()).get_bytes(f"jobs/{job_id}/media/00.png") == _green_png()

    video = tmp_path / "out.mp4"
    video.write_bytes(httpx.get(job["output_url"], timeout=60).content)
    assert video_stream(video).frames == 120
    timeline = api.get(f"/api/v2/jobs/{job_id}/timeline").json()
    middles = [(e["start"] + e["end"]) // 2 * 30 // 1000 for e in timeline["timeline"]]
    frames = decode_frames(video, set(middles))
    red_scene, green_scene = (_mean(frames[n]) for n in middles)
    assert red_scene[0] > red_scene[1] + 40  # the uploaded red product
    r, g, b = green_scene
    assert g > 170 and r < 90 and b < 110  # the fetched green, cover-fitted over the whole frame


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/missing.png", "Media URL answered HTTP 404"),
        ("/page.html", "Media URL serves text/html; accepted: image/png"),
        ("/to-private", "Media URL host 10.0.0.1 is a private address, which is not allowed"),
    ],
)
def test_a_url_that_cannot_be_used_fails_the_job_naming_it(
    api: httpx.Client, fetches: MediaServer, path: str, reason: str
) -> None:
    url = fetches.url(path)
    created = api.post("/api/v2/jobs", json={"prompt": "Show the product.", "media_files": [url]})
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    assert wait_for_job(api, job_id)["status"] == "FAILED"
    job = api.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "failed" and job["error"].startswith(reason) and job["error"].endswith(f"({url})")
    assert job.get("output_url") is None
