"""The Luma adapter against the fake Dream Machine API over real HTTP: the requests it sends (text-to-video,
and image-to-video with the scene's picture as the first keyframe), generation states through a generation's
life, the callbacks Luma POSTs, a downloaded clip that decodes, and each failure mapped to the error the
render job acts on."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve
from pytoon.local.fakes.luma_video import CLIP_COLOUR, FakeLumaVideo, fake_luma_video
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
from pytoon.video_engines.luma import ENGINE, generation_status
from tests.media import decode_frames, flat_image

PROMPT = "A steel bottle turns slowly on a sunlit table, product showcase"
CREATE = "/dream-machine/v1/generations/video"


class CallbackReceiver(LoopbackFake):
    """Where the job would be called back: records every POST and answers the next scripted status (200)."""

    def __init__(self, *statuses: int) -> None:
        super().__init__()
        self.statuses = list(statuses)

    def respond(self, request: ReceivedRequest) -> Reply:
        with self.lock:
            status = self.statuses.pop(0) if self.statuses else 200
        return Reply.json(status, {"received": True})


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLumaVideo]:
    with fake_luma_video() as server:
        for name in ("LUMA_API_KEY_SECRET_ARN", "LUMA_MODEL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("LUMA_API_KEY", server.api_key)
        monkeypatch.setenv("LUMA_BASE_URL", server.api_url)
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


def test_text_to_video_sends_the_documented_request(fake: FakeLumaVideo, http: httpx.Client) -> None:
    task_id = ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))

    [request] = fake.received("POST")
    assert request.path == CREATE
    assert request.headers["authorization"] == f"Bearer {fake.api_key}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "prompt": PROMPT,
        "model": "ray-2",
        "aspect_ratio": "9:16",
        "duration": "5s",
        "resolution": "720p",
    }
    assert task_id in fake.generations


def test_image_to_video_sends_the_scene_picture_as_the_first_keyframe(
    fake: FakeLumaVideo, http: httpx.Client, tmp_path: Path
) -> None:
    image = _image(tmp_path)

    ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=9, image=image))

    body = fake.received("POST", CREATE)[0].json
    assert body["keyframes"] == {"frame0": {"type": "image", "url": image.url}}
    assert (body["prompt"], body["duration"], body["aspect_ratio"]) == (PROMPT, "9s", "9:16")


def test_luma_model_overrides_the_model(
    fake: FakeLumaVideo, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMA_MODEL", "ray-flash-2")

    ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))

    assert fake.received("POST", CREATE)[0].json["model"] == "ray-flash-2"


def test_a_model_luma_does_not_offer_is_an_engine_error(
    fake: FakeLumaVideo, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMA_MODEL", "ray-99")

    with pytest.raises(EngineError) as caught:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))

    assert type(caught.value) is EngineError
    assert caught.value.reason.startswith("luma: HTTP 400:")
    assert "Invalid model" in caught.value.reason
    assert fake.generations == {}


def test_both_allowed_durations_are_accepted_and_others_are_not(fake: FakeLumaVideo, http: httpx.Client) -> None:
    access = ENGINE.access()
    for seconds in ENGINE.durations:
        ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=seconds))

    assert [r.json["duration"] for r in fake.received("POST")] == ["5s", "9s"]
    assert len(fake.generations) == 2
    with pytest.raises(EngineError, match="HTTP 400.*Invalid duration"):
        ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=7))


def test_status_follows_the_generation_until_it_completes(fake: FakeLumaVideo, http: httpx.Client) -> None:
    fake.slow(3)
    access = ENGINE.access()
    task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=5))

    states = _finish(http, access, task_id)

    assert fake.reported == ["queued", "dreaming", "completed"]
    assert [s.state for s in states] == [TaskState.RUNNING, TaskState.RUNNING, TaskState.SUCCEEDED]
    assert states[-1].video_url == f"{fake.base_url}/cdn/{task_id}/video.mp4"
    assert [r.path for r in fake.received("GET")] == [f"/dream-machine/v1/generations/{task_id}"] * 3
    assert fake.received("GET")[0].headers["authorization"] == f"Bearer {fake.api_key}"


def test_luma_calls_back_with_the_generation_on_each_change(fake: FakeLumaVideo, http: httpx.Client) -> None:
    with serve(CallbackReceiver(), name="callback-receiver") as receiver:
        callback_url = f"{receiver.base_url}/webhooks/luma/job-1-scene-2"
        access = ENGINE.access()
        task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=5, callback_url=callback_url))

        fake.finish(task_id)  # Luma works on it while the job waits for the callback

        assert fake.received("POST", CREATE)[0].json["callback_url"] == callback_url
        posted = receiver.received("POST", "/webhooks/luma/job-1-scene-2")
        assert [r.json["state"] for r in posted] == ["dreaming", "completed"]
        assert all(r.json["id"] == task_id for r in posted)
        assert generation_status(posted[0].json) == TaskStatus(TaskState.RUNNING)
        # The callback says what a status read says.
        assert generation_status(posted[-1].json) == ENGINE.status(http, access, task_id)
        assert generation_status(posted[-1].json).video_url == f"{fake.base_url}/cdn/{task_id}/video.mp4"


def test_a_failed_generation_is_called_back_with_its_reason(fake: FakeLumaVideo, http: httpx.Client) -> None:
    fake.moderate()
    with serve(CallbackReceiver(), name="callback-receiver") as receiver:
        request = ClipRequest(prompt=PROMPT, seconds=5, callback_url=f"{receiver.base_url}/cb")
        fake.finish(ENGINE.submit(http, ENGINE.access(), request))

        final = receiver.received("POST")[-1].json

    assert generation_status(final) == TaskStatus(
        TaskState.FAILED, reason="Advanced prompt moderation failed", moderated=True
    )


def test_a_callback_not_answered_200_is_retried_three_times(fake: FakeLumaVideo, http: httpx.Client) -> None:
    fake.slow(1)  # straight to completed: one change, one callback
    with serve(CallbackReceiver(503, 503, 500), name="callback-receiver") as receiver:
        request = ClipRequest(prompt=PROMPT, seconds=5, callback_url=f"{receiver.base_url}/cb")
        fake.finish(ENGINE.submit(http, ENGINE.access(), request))

        assert [d.status for d in fake.deliveries] == [503, 503, 500, 200]
        assert len(receiver.received("POST", "/cb")) == 4


def test_download_gives_the_generated_clip(fake: FakeLumaVideo, http: httpx.Client, tmp_path: Path) -> None:
    access = ENGINE.access()
    task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=5))
    finished = _finish(http, access, task_id)[-1]

    clip = ENGINE.download(http, access, finished, tmp_path / "clip.mp4")

    info = probe_media(clip)
    assert info.video is not None
    assert (info.video.width, info.video.height) == (720, 1280)
    assert info.duration_seconds == pytest.approx(5.0, abs=0.1)
    frame = decode_frames(clip, {0})[0]
    assert np.abs(frame.astype(int) - CLIP_COLOUR).max() <= 6
    [fetch] = fake.received("GET", "/cdn/")
    assert "authorization" not in fetch.headers  # the key stays with the API


def test_a_clip_that_is_not_a_video_downloads_but_does_not_probe(
    fake: FakeLumaVideo, http: httpx.Client, tmp_path: Path
) -> None:
    fake.broken_file()
    access = ENGINE.access()
    finished = _finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=5)))[-1]
    assert finished.state is TaskState.SUCCEEDED

    clip = ENGINE.download(http, access, finished, tmp_path / "clip.mp4")

    assert clip.stat().st_size > 0
    with pytest.raises(MediaProbeError):
        probe_media(clip)


def test_downloading_an_unfinished_generation_is_an_engine_error(fake: FakeLumaVideo, http: httpx.Client) -> None:
    with pytest.raises(EngineError, match="no finished clip"):
        ENGINE.download(http, ENGINE.access(), TaskStatus(TaskState.RUNNING), Path("unused.mp4"))


@pytest.mark.parametrize("reason", ["Advanced prompt moderation failed", "Frame moderation failed"])
def test_a_moderated_generation_fails_as_a_content_refusal(
    fake: FakeLumaVideo, http: httpx.Client, reason: str
) -> None:
    fake.moderate(reason)
    access = ENGINE.access()

    final = _finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=5)))[-1]

    assert fake.reported[-1] == "failed"
    assert final == TaskStatus(TaskState.FAILED, reason=reason, moderated=True)


def test_a_prompt_with_blocklisted_words_is_a_content_refusal(fake: FakeLumaVideo, http: httpx.Client) -> None:
    fake.moderate_words("fight")
    access = ENGINE.access()

    refused = _finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt="Two bottles fight", seconds=5)))
    passed = _finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt="Two bottles compete", seconds=5)))

    assert refused[-1] == TaskStatus(TaskState.FAILED, reason="Contains blacklisted words", moderated=True)
    assert passed[-1].state is TaskState.SUCCEEDED


def test_a_failed_generation_reports_lumas_reason(fake: FakeLumaVideo, http: httpx.Client) -> None:
    fake.fail_task("Failed to read user input frames")
    access = ENGINE.access()

    final = _finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=5)))[-1]

    assert final == TaskStatus(TaskState.FAILED, reason="Failed to read user input frames", moderated=False)


def test_a_completed_generation_without_a_video_or_an_unknown_state() -> None:
    assert generation_status({"id": "g-1", "state": "completed", "assets": None}) == TaskStatus(
        TaskState.FAILED, reason="Luma reported the generation completed but gave no video URL"
    )
    with pytest.raises(EngineError, match=r"^luma: generation g-1 has an unknown state 'paused'"):
        generation_status({"id": "g-1", "state": "paused"})


def test_a_bad_key_is_an_engine_error_naming_luma_and_the_status(
    http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_luma_video(api_key="luma-the-real-one") as server:
        monkeypatch.setenv("LUMA_BASE_URL", server.api_url)
        monkeypatch.setenv("LUMA_API_KEY", "luma-a-wrong-one")
        monkeypatch.delenv("LUMA_API_KEY_SECRET_ARN", raising=False)

        with pytest.raises(EngineError) as caught:
            ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))

    assert type(caught.value) is EngineError
    assert caught.value.reason.startswith("luma: HTTP 401:")
    assert "Invalid API key provided" in caught.value.reason
    assert server.generations == {}


def test_a_429_on_submit_is_rate_limited_for_as_long_as_luma_says(fake: FakeLumaVideo, http: httpx.Client) -> None:
    fake.rate_limit(retry_after="7")

    with pytest.raises(RateLimited) as caught:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))

    assert caught.value.retry_after_seconds == 7.0
    assert caught.value.reason.startswith("luma: rate limited (HTTP 429)")
    assert fake.generations == {}


def test_a_429_on_a_status_read_is_rate_limited(fake: FakeLumaVideo, http: httpx.Client) -> None:
    access = ENGINE.access()
    task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=5))
    fake.rate_limit(retry_after="12")

    with pytest.raises(RateLimited) as caught:
        ENGINE.status(http, access, task_id)

    assert caught.value.retry_after_seconds == 12.0
    assert fake.reported == []


def test_a_server_error_on_submit_is_an_engine_error(fake: FakeLumaVideo, http: httpx.Client) -> None:
    fake.fail_submit(503, "Service temporarily unavailable")

    with pytest.raises(EngineError) as caught:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))

    assert not isinstance(caught.value, ModerationRefused | RateLimited)
    assert caught.value.reason.startswith("luma: HTTP 503:")
    assert "Service temporarily unavailable" in caught.value.reason


def test_an_unknown_generation_is_an_engine_error(fake: FakeLumaVideo, http: httpx.Client) -> None:
    with pytest.raises(EngineError, match=r"^luma: HTTP 404:.*Generation not found"):
        ENGINE.status(http, ENGINE.access(), "00000000-0000-0000-0000-000000000000")


def test_an_unreachable_luma_is_an_engine_error(http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("LUMA_BASE_URL", f"http://127.0.0.1:{port}/dream-machine/v1")
    monkeypatch.setenv("LUMA_API_KEY", "luma-any")
    monkeypatch.delenv("LUMA_API_KEY_SECRET_ARN", raising=False)

    with pytest.raises(EngineError, match=r"^luma: POST /generations/video failed: "):
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))
    with pytest.raises(EngineError, match=r"^luma: GET /generations/g-1 failed: "):
        ENGINE.status(http, ENGINE.access(), "g-1")


def test_without_a_key_luma_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LUMA_API_KEY", "LUMA_API_KEY_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)

    assert unavailable_reason(ENGINE) == "luma has no API key configured"
    with pytest.raises(EngineError, match="no API key configured"), http_client() as http:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))
    monkeypatch.setenv("LUMA_API_KEY", "luma-set")
    assert unavailable_reason(ENGINE) is None


def test_by_default_luma_is_reached_at_its_public_api_and_calls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUMA_BASE_URL", raising=False)
    monkeypatch.delenv("LUMA_API_KEY_SECRET_ARN", raising=False)
    monkeypatch.setenv("LUMA_API_KEY", "luma-set")

    assert ENGINE.access() == EngineAccess(api_key="luma-set", base_url="https://api.lumalabs.ai/dream-machine/v1")
    assert (ENGINE.calls_back, ENGINE.supports_image, tuple(ENGINE.durations)) == (True, True, (5, 9))
