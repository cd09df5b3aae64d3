"""The Pika adapter against the fake fal.ai queue over real HTTP: the requests it sends (text-to-video, and
image-to-video with the scene's picture), request states through a request's life, a downloaded clip that decodes,
and each failure mapped to the error the render job acts on."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from pytoon.local.fakes.pika_video import CLIP_COLOUR, FakePikaVideo, fake_pika_video
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
from pytoon.video_engines.pika import ENGINE
from tests.media import decode_frames, flat_image

PROMPT = "A paper lantern drifts over a neon river, anime style"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePikaVideo]:
    with fake_pika_video() as server:
        monkeypatch.delenv("PIKA_API_KEY_SECRET_ARN", raising=False)
        monkeypatch.setenv("PIKA_API_KEY", server.api_key)
        monkeypatch.setenv("PIKA_BASE_URL", server.base_url)
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


def _final(http: httpx.Client, seconds: int = 5) -> TaskStatus:
    access = ENGINE.access()
    return _finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=seconds)))[-1]


def test_text_to_video_sends_the_documented_request(fake: FakePikaVideo, http: httpx.Client) -> None:
    task_id = ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))

    [request] = fake.received("POST")
    assert request.path == "/fal-ai/pika/v2.2/text-to-video"
    assert request.headers["authorization"] == f"Key {fake.api_key}"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {"prompt": PROMPT, "aspect_ratio": "9:16", "resolution": "720p", "duration": 5}
    assert task_id in fake.queued


def test_image_to_video_sends_the_scene_pictures_url(fake: FakePikaVideo, http: httpx.Client, tmp_path: Path) -> None:
    image = _image(tmp_path)

    task_id = ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=10, image=image))

    [request] = fake.received("POST")
    assert request.path == "/fal-ai/pika/v2.2/image-to-video"
    assert request.json == {"prompt": PROMPT, "image_url": image.url, "resolution": "720p", "duration": 10}
    assert _finish(http, ENGINE.access(), task_id)[-1].state is TaskState.SUCCEEDED  # the model took the picture


def test_both_durations_are_accepted_and_others_fail_in_the_model(fake: FakePikaVideo, http: httpx.Client) -> None:
    fake.slow(1)
    access = ENGINE.access()
    task_ids = [ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=s)) for s in ENGINE.durations]
    assert [r.json["duration"] for r in fake.received("POST")] == [5, 10]
    assert [ENGINE.status(http, access, task_id).state for task_id in task_ids] == [TaskState.SUCCEEDED] * 2

    final = _final(http, seconds=8)

    assert final.state is TaskState.FAILED
    assert final.moderated is False
    assert final.reason == "HTTP 422: Input should be 5 or 10 (enum)"


def test_status_follows_the_request_until_it_completes(fake: FakePikaVideo, http: httpx.Client) -> None:
    fake.slow(3)
    access = ENGINE.access()
    task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=5))

    states = _finish(http, access, task_id)

    assert fake.reported == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    assert [s.state for s in states] == [TaskState.RUNNING, TaskState.RUNNING, TaskState.SUCCEEDED]
    assert states[-1].video_url and states[-1].video_url.startswith(f"{fake.base_url}/files/")
    # Status and result are read under the app, not under the endpoint the request was submitted to.
    reads = [r.path for r in fake.received("GET")]
    assert reads == [f"/fal-ai/pika/requests/{task_id}/status"] * 3 + [f"/fal-ai/pika/requests/{task_id}"]
    assert all(r.headers["authorization"] == f"Key {fake.api_key}" for r in fake.received("GET"))


def test_download_gives_the_generated_clip(fake: FakePikaVideo, http: httpx.Client, tmp_path: Path) -> None:
    finished = _final(http, seconds=5)

    clip = ENGINE.download(http, ENGINE.access(), finished, tmp_path / "clip.mp4")

    info = probe_media(clip)
    assert info.video is not None
    assert (info.video.width, info.video.height) == (720, 1280)
    assert info.duration_seconds == pytest.approx(5.0, abs=0.1)
    frame = decode_frames(clip, {0})[0]
    assert np.abs(frame.astype(int) - CLIP_COLOUR).max() <= 6
    [fetch] = fake.received("GET", "/files/")
    assert "authorization" not in fetch.headers  # the key stays with the API


def test_a_clip_that_is_not_a_video_downloads_but_does_not_probe(
    fake: FakePikaVideo, http: httpx.Client, tmp_path: Path
) -> None:
    fake.broken_file()
    finished = _final(http)
    assert finished.state is TaskState.SUCCEEDED

    clip = ENGINE.download(http, ENGINE.access(), finished, tmp_path / "clip.mp4")

    assert clip.stat().st_size > 0
    with pytest.raises(MediaProbeError):
        probe_media(clip)


def test_a_content_policy_violation_fails_the_task_as_moderated(fake: FakePikaVideo, http: httpx.Client) -> None:
    fake.moderate()

    final = _final(http)

    assert final.state is TaskState.FAILED
    assert final.moderated is True
    assert final.reason == "HTTP 422: The content was flagged by a content checker. (content_policy_violation)"


def test_a_content_refusal_on_submit_is_moderation_refused(fake: FakePikaVideo, http: httpx.Client) -> None:
    fake.fail_submit(422, "Prompt rejected by the safety filter")

    with pytest.raises(ModerationRefused) as caught:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))

    assert caught.value.reason == "pika: refused by content moderation: HTTP 422: Prompt rejected by the safety filter"


def test_a_failed_task_reports_the_models_reason(fake: FakePikaVideo, http: httpx.Client) -> None:
    fake.fail_task("Pika could not generate the video")

    final = _final(http)

    assert final == TaskStatus(
        TaskState.FAILED, reason="HTTP 500: Pika could not generate the video (downstream_service_error)"
    )


def test_a_timed_out_request_reports_fals_error_type(fake: FakePikaVideo, http: httpx.Client) -> None:
    fake.time_out()

    final = _final(http)

    assert final == TaskStatus(TaskState.FAILED, reason="HTTP 504: Request timed out (request_timeout)")


def test_a_bad_key_is_an_engine_error_naming_pika_and_the_status(
    http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_pika_video(api_key="real-id:real-secret") as server:
        monkeypatch.setenv("PIKA_BASE_URL", server.base_url)
        monkeypatch.setenv("PIKA_API_KEY", "wrong-id:wrong-secret")
        monkeypatch.delenv("PIKA_API_KEY_SECRET_ARN", raising=False)

        with pytest.raises(EngineError) as caught:
            ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))
        with pytest.raises(EngineError, match=r"^pika: HTTP 401:"):
            ENGINE.status(http, ENGINE.access(), "00000000-0000-0000-0000-000000000000")

    assert type(caught.value) is EngineError
    assert caught.value.reason.startswith("pika: HTTP 401:")
    assert "No user found for Key ID and Secret" in caught.value.reason
    assert server.queued == {}


def test_a_429_on_submit_is_rate_limited_for_as_long_as_fal_says(fake: FakePikaVideo, http: httpx.Client) -> None:
    fake.rate_limit(retry_after="7")

    with pytest.raises(RateLimited) as caught:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))

    assert caught.value.retry_after_seconds == 7.0
    assert caught.value.reason.startswith("pika: rate limited (HTTP 429)")
    assert fake.queued == {}


@pytest.mark.parametrize("reads_first", [0, 1], ids=["status read", "result read"])
def test_a_429_on_a_status_or_result_read_is_rate_limited(
    fake: FakePikaVideo, http: httpx.Client, reads_first: int
) -> None:
    fake.slow(1)  # complete at once: a status read is followed by the result read
    access = ENGINE.access()
    task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=5))
    fake.rate_limit(retry_after="12", after=reads_first)

    with pytest.raises(RateLimited) as caught:
        ENGINE.status(http, access, task_id)

    assert caught.value.retry_after_seconds == 12.0
    assert len(fake.received("GET")) == 1 + reads_first
    assert ENGINE.status(http, access, task_id).state is TaskState.SUCCEEDED  # the next poll carries on


def test_a_server_error_on_submit_is_an_engine_error(fake: FakePikaVideo, http: httpx.Client) -> None:
    fake.fail_submit(503, "Service temporarily unavailable")

    with pytest.raises(EngineError) as caught:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))

    assert not isinstance(caught.value, ModerationRefused | RateLimited)
    assert caught.value.reason == "pika: HTTP 503: Service temporarily unavailable"
    assert fake.queued == {}


def test_an_unknown_request_is_an_engine_error(fake: FakePikaVideo, http: httpx.Client) -> None:
    with pytest.raises(EngineError, match=r"^pika: HTTP 404:.*not found"):
        ENGINE.status(http, ENGINE.access(), "00000000-0000-0000-0000-000000000000")


def test_an_unreachable_fal_is_an_engine_error(http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("PIKA_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("PIKA_API_KEY", "id:secret")
    monkeypatch.delenv("PIKA_API_KEY_SECRET_ARN", raising=False)

    with pytest.raises(EngineError, match=r"^pika: POST /fal-ai/pika/v2.2/text-to-video failed: "):
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))
    with pytest.raises(EngineError, match=r"^pika: GET /fal-ai/pika/requests/r-1/status failed: "):
        ENGINE.status(http, ENGINE.access(), "r-1")


def test_without_a_key_pika_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PIKA_API_KEY", "PIKA_API_KEY_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)

    assert unavailable_reason(ENGINE) == "pika has no API key configured"
    with pytest.raises(EngineError, match="no API key configured"), http_client() as http:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))
    monkeypatch.setenv("PIKA_API_KEY", "id:secret")
    assert unavailable_reason(ENGINE) is None


def test_by_default_pika_is_reached_through_fals_queue_and_polled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIKA_BASE_URL", raising=False)
    monkeypatch.delenv("PIKA_API_KEY_SECRET_ARN", raising=False)
    monkeypatch.setenv("PIKA_API_KEY", "id:secret")

    assert ENGINE.access() == EngineAccess(api_key="id:secret", base_url="https://queue.fal.run")
    assert (ENGINE.calls_back, ENGINE.supports_image, tuple(ENGINE.durations)) == (False, True, (5, 10))
