"""Video clips over real HTTP on the embedded backend: presigned upload, the upload notification decodes the
clip (READY with its facts, or REJECTED with the reason and the object deleted); the inline route refuses."""

from __future__ import annotations

import base64
import io
import json
import os
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from pytoon.aws import client
from pytoon.config import get_settings
from pytoon.limits import MAX_VIDEO_UPLOAD_BYTES
from tests.media import make_test_clip

pytestmark = pytest.mark.integration

DECISION_DEADLINE_SECONDS = 60


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    made = {
        "good.mp4": make_test_clip(folder / "good.mp4", seconds=2, fps=30, size=(320, 240), audio=True),
        "good.webm": make_test_clip(folder / "good.webm", seconds=1.5, fps=24, size=(240, 320)),
        "good.mov": make_test_clip(folder / "good.mov", seconds=1, fps=25, size=(320, 180), audio=True),
        "long.mp4": make_test_clip(folder / "long.mp4", seconds=65, fps=2, size=(64, 64)),
        "wide.mp4": make_test_clip(folder / "wide.mp4", seconds=0.4, fps=5, size=(5000, 64)),
    }
    cut = folder / "cut.mp4"
    cut.write_bytes(made["good.mp4"].read_bytes()[: made["good.mp4"].stat().st_size // 2])
    png = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(png, format="PNG")
    (folder / "photo.mp4").write_bytes(png.getvalue())
    (folder / "noise.mp4").write_bytes(os.urandom(100_000))
    return made | {name: folder / name for name in ("cut.mp4", "photo.mp4", "noise.mp4")}


def _presign(api: httpx.Client, filename: str, content_type: str) -> dict:
    response = api.post(
        "/api/v1/assets/uploads", json={"filename": filename, "content_type": content_type, "category": "video"}
    )
    assert response.status_code == 201, response.text
    return response.json()


def _upload(api: httpx.Client, path: Path, content_type: str) -> tuple[dict, dict]:
    """Presign, POST the file to storage as a browser would, and wait for the notification's decision."""
    form = _presign(api, path.name, content_type)
    posted = httpx.post(form["upload_url"], data=form["upload_fields"], files={"file": (path.name, path.read_bytes())})
    assert posted.status_code in (200, 201, 204), posted.text
    deadline = time.monotonic() + DECISION_DEADLINE_SECONDS
    while (asset := api.get(form["status_url"]).json())["status"] == "PENDING":
        assert time.monotonic() < deadline, f"{path.name} still PENDING"
        time.sleep(0.2)
    return form, asset


def _stored(key: str) -> bool:
    objects = client("s3", "us-east-1").list_objects_v2(Bucket=get_settings().bucket_name, Prefix=key)
    return objects.get("KeyCount", 0) > 0


def test_a_video_presign_allows_200_mb_of_a_video_type(api: httpx.Client) -> None:
    form = _presign(api, "clip.mp4", "video/mp4")
    assert form["max_bytes"] == MAX_VIDEO_UPLOAD_BYTES == 200 * 1024 * 1024
    # moto stores a POSTed object without checking the policy, so check the policy S3 would enforce.
    conditions = json.loads(base64.b64decode(form["upload_fields"]["policy"]))["conditions"]
    assert ["content-length-range", 1, MAX_VIDEO_UPLOAD_BYTES] in conditions
    assert {"Content-Type": "video/mp4"} in conditions
    refused = api.post(
        "/api/v1/assets/uploads", json={"filename": "clip.mp4", "content_type": "image/png", "category": "video"}
    )
    assert refused.status_code == 400
    assert "video/mp4, video/quicktime, video/webm" in refused.json()["detail"]


def test_a_small_mp4_becomes_ready_with_its_facts(api: httpx.Client, clips: dict[str, Path]) -> None:
    form, asset = _upload(api, clips["good.mp4"], "video/mp4")
    assert asset["status"] == "READY", asset
    assert (asset["category"], asset["size"]) == ("video", clips["good.mp4"].stat().st_size)
    assert asset["media"] == {
        "type": "mp4",
        "codec": "h264",
        "width": 320,
        "height": 240,
        "duration_seconds": 2.0,
        "fps": 30.0,
        "has_audio": True,
    }
    assert httpx.get(asset["url"]).raise_for_status().content == clips["good.mp4"].read_bytes()
    # A clip is not an image: a V1 job naming it as one is refused.
    job = api.post(
        "/api/v1/jobs",
        json={"preset_id": "product_hero_clean", "target_duration_seconds": 1, "image_uris": [form["uri"]]},
    )
    assert job.status_code == 400 and "is a video asset, not image" in job.json()["detail"]


@pytest.mark.parametrize(
    ("name", "content_type", "facts"),
    [
        ("good.webm", "video/webm", {"type": "webm", "codec": "vp9", "width": 240, "height": 320, "fps": 24.0}),
        ("good.mov", "video/quicktime", {"type": "mov", "codec": "h264", "width": 320, "height": 180, "fps": 25.0}),
    ],
)
def test_webm_and_mov_are_accepted(
    api: httpx.Client, clips: dict[str, Path], name: str, content_type: str, facts: dict
) -> None:
    _, asset = _upload(api, clips[name], content_type)
    assert asset["status"] == "READY", asset
    assert facts.items() <= asset["media"].items()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("long.mp4", "Video is 65.00 s long; the limit is 60 s"),
        ("wide.mp4", "Video dimensions exceed 4096px limit: 5000x64"),
        ("cut.mp4", "Video could not be decoded (truncated or corrupt)"),
        ("photo.mp4", "Not an MP4, MOV or WebM video: the content is not an MP4, MOV or WebM video"),
        ("noise.mp4", "Not an MP4, MOV or WebM video"),
    ],
)
def test_bad_clips_are_rejected_with_a_reason_and_deleted(
    api: httpx.Client, clips: dict[str, Path], name: str, reason: str
) -> None:
    form, asset = _upload(api, clips[name], "video/mp4")
    assert asset["status"] == "REJECTED", asset
    assert reason in asset["reason"]
    assert asset["url"] is None and asset["media"] is None
    assert not _stored(form["key"])


def test_the_inline_route_points_video_to_the_presigned_flow(api: httpx.Client, clips: dict[str, Path]) -> None:
    response = api.post(
        "/api/v1/assets/upload",
        files={"file": ("good.mp4", clips["good.mp4"].read_bytes())},
        data={"category": "video"},
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "POST /api/v1/assets/uploads" in detail and "200MB" in detail
