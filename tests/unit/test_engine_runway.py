"""The Runway adapter against the fake Runway API over real HTTP: the requests it sends (text-to-video, and
image-to-video with the scene's picture), task states through a task's life, a downloaded clip that decodes,
and each failure mapped to the error the render job acts on."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from pytoon.local.fakes.runway_video import CLIP_COLOUR, FakeRunwayVideo, fake_runway_video
from pytoon.render.probe import MediaProbeError, probe_media
from pytoon.video_engines.base import (
    ClipRequest,
    EngineAccess,
    EngineError,
    ImageInput,
    ModerationRefused,
    RateLimited,
    TaskState,
    TaskStatus,
    http_client,
    unavailable_reason,
)
from pytoon.video_engines.runway import ENGINE
from tests.media import decode_frames, flat_image

PROMPT = "A steel bottle turns slowly on a sunlit table, cinematic"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRunwayVideo]:
    with fake_runway_video() as server:
        for name in ("RUNWAY_API_KEY_SECRET_ARN", "RUNWAY_MODEL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("RUNWAY_API_KEY", server.api_key)
        monkeypatch.setenv("RUNWAY_BASE_URL", server.api_url)
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with http_client() as client:
        yield client


def _image(tmp_path: Path) -> ImageInput:
    path = flat_image(tmp_path / "scene.jpg", (30, 110, 160))
    return ImageInput(
        url="https://assets.example.com/scene.jpg?X-Amz-Signature=abc", path=path, content_type="image/jpeg"
    )


def _finish(http: httpx.Client, access: EngineAccess, task_id: str, polls: int = 3) -> list[TaskStatus]:
    return [ENGINE.status(http, access, task_id) for _ in range(polls)]


def test_text_to_video_sends_the_documented_request(fake: FakeRunwayVideo, http: httpx.Client) -> None:
    task_id = ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=4))

    [request] = fake.received("POST")
    assert request.path == "/v1/text_to_video"
    assert request.headers["authorization"] == f"Bearer {fake.api_key}"
    assert request.headers["x-runway-version"] == "2024-11-06"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {"model": "gen4.5", "promptText": PROMPT, "ratio": "720:1280", "duration": 4}
    assert task_id in fake.tasks


def test_image_to_video_sends_the_scene_picture_itself(
    fake: FakeRunwayVideo, http: httpx.Client, tmp_path: Path
) -> None:
    image = _image(tmp_path)

    ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5, image=image))

    [request] = fake.received("POST")
    assert request.path == "/v1/image_to_video"
    body = dict(request.json)
    prefix, encoded = body.pop("promptImage").split(",", 1)
    assert body == {"model": "gen4_turbo", "promptText": PROMPT, "ratio": "720:1280", "duration": 5}
    assert prefix == "data:image/jpeg;base64"
    assert base64.b64decode(encoded) == image.path.read_bytes()


def test_a_picture_too_large_for_a_data_uri_is_sent_as_its_url(
    fake: FakeRunwayVideo, http: httpx.Client, tmp_path: Path
) -> None:
    large = tmp_path / "large.png"
    large.write_bytes(np.random.default_rng(1).bytes(4 * 1024 * 1024))
    image = ImageInput(
        url="https://assets.example.com/large.png?X-Amz-Signature=abc", path=large, content_type="image/png"
    )

    ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=2, image=image))

    assert fake.received("POST")[0].json["promptImage"] == image.url


def test_runway_model_overrides_the_model_of_every_task(
    fake: FakeRunwayVideo, http: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWAY_MODEL", "gen4.5")

    ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=3, image=_image(tmp_path)))

    assert fake.received("POST", "/v1/image_to_video")[0].json["model"] == "gen4.5"


def test_a_model_runway_does_not_offer_is_an_engine_error(
    fake: FakeRunwayVideo, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWAY_MODEL", "gen3a_turbo")

    with pytest.raises(EngineError) as caught:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))

    assert type(caught.value) is EngineError
    assert caught.value.reason.startswith("runway: HTTP 400:")
    assert "No matching discriminator" in caught.value.reason
    assert fake.tasks == {}


def test_every_allowed_duration_is_accepted_and_others_are_not(fake: FakeRunwayVideo, http: httpx.Client) -> None:
    access = ENGINE.access()
    for seconds in ENGINE.durations:
        ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=seconds))

    assert [r.json["duration"] for r in fake.received("POST")] == list(range(2, 11))
    assert len(fake.tasks) == 9
    with pytest.raises(EngineError, match="HTTP 400.*duration"):
        ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=11))


@pytest.mark.parametrize("queued", ["PENDING", "THROTTLED"])
def test_status_follows_the_task_until_it_succeeds(fake: FakeRunwayVideo, http: httpx.Client, queued: str) -> None:
    if queued == "THROTTLED":
        fake.throttle()
    fake.slow(3)
    access = ENGINE.access()
    task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=2))

    states = _finish(http, access, task_id)

    assert fake.reported == [queued, "RUNNING", "SUCCEEDED"]
    assert [s.state for s in states] == [TaskState.RUNNING, TaskState.RUNNING, TaskState.SUCCEEDED]
    assert states[-1].video_url and states[-1].video_url.startswith(f"{fake.base_url}/outputs/{task_id}.mp4?_jwt=")
    assert [r.path for r in fake.received("GET")] == [f"/v1/tasks/{task_id}"] * 3
    assert fake.received("GET")[0].headers["x-runway-version"] == "2024-11-06"


def test_download_gives_the_generated_clip(fake: FakeRunwayVideo, http: httpx.Client, tmp_path: Path) -> None:
    access = ENGINE.access()
    task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=2))
    finished = _finish(http, access, task_id)[-1]

    clip = ENGINE.download(http, access, finished, tmp_path / "clip.mp4")

    info = probe_media(clip)
    assert info.video is not None
    assert (info.video.width, info.video.height) == (720, 1280)
    assert info.duration_seconds == pytest.approx(2.0, abs=0.1)
    frame = decode_frames(clip, {0})[0]
    assert np.abs(frame.astype(int) - CLIP_COLOUR).max() <= 6
    [fetch] = fake.received("GET", "/outputs/")
    assert "authorization" not in fetch.headers  # the key stays with the API


def test_a_clip_that_is_not_a_video_downloads_but_does_not_probe(
    fake: FakeRunwayVideo, http: httpx.Client, tmp_path: Path
) -> None:
    fake.broken_file()
    access = ENGINE.access()
    finished = _finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=2)))[-1]
    assert finished.state is TaskState.SUCCEEDED

    clip = ENGINE.download(http, access, finished, tmp_path / "clip.mp4")

    assert clip.stat().st_size > 0
    with pytest.raises(MediaProbeError):
        probe_media(clip)


def test_a_moderated_task_fails_as_a_content_refusal(fake: FakeRunwayVideo, http: httpx.Client) -> None:
    fake.moderate()
    access = ENGINE.access()

    final = _finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=2)))[-1]

    assert final.state is TaskState.FAILED
    assert final.moderated is True
    assert final.reason == "The input did not pass our review. Try a different prompt. (SAFETY.INPUT.TEXT)"


def test_a_failed_task_reports_runways_reason(fake: FakeRunwayVideo, http: httpx.Client) -> None:
    fake.fail_task("An unexpected error occurred while generating.", code="INTERNAL.BAD_OUTPUT")
    access = ENGINE.access()

    final = _finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=2)))[-1]

    assert final == TaskStatus(
        TaskState.FAILED, reason="An unexpected error occurred while generating. (INTERNAL.BAD_OUTPUT)", moderated=False
    )


def test_a_cancelled_task_is_failed(fake: FakeRunwayVideo, http: httpx.Client) -> None:
    fake.cancel()
    access = ENGINE.access()

    final = _finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=2)))[-1]

    assert fake.reported[-1] == "CANCELLED"
    assert final == TaskStatus(TaskState.FAILED, reason="the task was cancelled")


def test_a_bad_key_is_an_engine_error_naming_runway_and_the_status(
    http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_runway_video(api_key="key_the_real_one") as server:
        monkeypatch.setenv("RUNWAY_BASE_URL", server.api_url)
        monkeypatch.setenv("RUNWAY_API_KEY", "key_a_wrong_one")
        monkeypatch.delenv("RUNWAY_API_KEY_SECRET_ARN", raising=False)

        with pytest.raises(EngineError) as caught:
            ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=2))

    assert type(caught.value) is EngineError
    assert caught.value.reason.startswith("runway: HTTP 401:")
    assert "Invalid API key" in caught.value.reason
    assert server.tasks == {}


def test_a_429_on_submit_is_rate_limited_for_as_long_as_runway_says(fake: FakeRunwayVideo, http: httpx.Client) -> None:
    fake.rate_limit(retry_after="7")

    with pytest.raises(RateLimited) as caught:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=2))

    assert caught.value.retry_after_seconds == 7.0
    assert caught.value.reason.startswith("runway: rate limited (HTTP 429)")
    assert fake.tasks == {}


def test_a_429_on_a_status_read_is_rate_limited(fake: FakeRunwayVideo, http: httpx.Client) -> None:
    access = ENGINE.access()
    task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=2))
    fake.rate_limit(retry_after="12")

    with pytest.raises(RateLimited) as caught:
        ENGINE.status(http, access, task_id)

    assert caught.value.retry_after_seconds == 12.0
    assert fake.reported == []


def test_a_server_error_on_submit_is_an_engine_error(fake: FakeRunwayVideo, http: httpx.Client) -> None:
    fake.fail_submit(503, "Service temporarily unavailable.")

    with pytest.raises(EngineError) as caught:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=2))

    assert not isinstance(caught.value, ModerationRefused | RateLimited)
    assert caught.value.reason.startswith("runway: HTTP 503:")
    assert "Service temporarily unavailable." in caught.value.reason


def test_an_unknown_task_is_an_engine_error(fake: FakeRunwayVideo, http: httpx.Client) -> None:
    with pytest.raises(EngineError, match=r"^runway: HTTP 404:.*Task not found"):
        ENGINE.status(http, ENGINE.access(), "00000000-0000-0000-0000-000000000000")


def test_an_unreachable_runway_is_an_engine_error(http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("RUNWAY_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("RUNWAY_API_KEY", "key_any")
    monkeypatch.delenv("RUNWAY_API_KEY_SECRET_ARN", raising=False)

    with pytest.raises(EngineError, match=r"^runway: POST /text_to_video failed: "):
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=2))
    with pytest.raises(EngineError, match=r"^runway: GET /tasks/t-1 failed: "):
        ENGINE.status(http, ENGINE.access(), "t-1")


def test_without_a_key_runway_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUNWAY_API_KEY", "RUNWAY_API_KEY_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)

    assert unavailable_reason(ENGINE) == "runway has no API key configured"
    with pytest.raises(EngineError, match="no API key configured"), http_client() as http:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=2))
    monkeypatch.setenv("RUNWAY_API_KEY", "key_set")
    assert unavailable_reason(ENGINE) is None


def test_by_default_runway_is_reached_at_its_public_api_and_polled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNWAY_BASE_URL", raising=False)
    monkeypatch.delenv("RUNWAY_API_KEY_SECRET_ARN", raising=False)
    monkeypatch.setenv("RUNWAY_API_KEY", "key_set")

    assert ENGINE.access() == EngineAccess(api_key="key_set", base_url="https://api.dev.runwayml.com/v1")
    assert (ENGINE.calls_back, ENGINE.supports_image) == (False, True)
