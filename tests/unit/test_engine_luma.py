"""The Luma adapter against the fake Dream Machine API over real HTTP: the requests it sends (text-to-video,
and image-to-video with the scene's picture as the first keyframe), generation states through a generation's
life, the callbacks Luma POSTs, a downloaded clip that decodes, and the failures that are Luma's own (a model
or duration it does not offer, moderation, a failed generation); what every engine does alike, such as a bad key
or a 429, is tested in test_engine_contract.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve
from pytoon.local.fakes.luma_video import CLIP_COLOUR, FakeLumaVideo
from pytoon.render.probe import probe_media
from pytoon.video_engines.base import ClipRequest, EngineError, ImageInput, TaskState, TaskStatus
from pytoon.video_engines.luma import ENGINE, generation_status
from tests.media import decode_frames
from tests.unit.engine_cases import LUMA

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
    with LUMA.configured_fake(monkeypatch) as server:
        yield server


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
    fake: FakeLumaVideo, http: httpx.Client, scene_image: ImageInput
) -> None:
    ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=9, image=scene_image))

    body = fake.received("POST", CREATE)[0].json
    assert body["keyframes"] == {"frame0": {"type": "image", "url": scene_image.url}}
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

    states = LUMA.finish(http, access, task_id)

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
    finished = LUMA.finish(http, access, task_id)[-1]

    clip = ENGINE.download(http, access, finished, tmp_path / "clip.mp4")

    info = probe_media(clip)
    assert info.video is not None
    assert (info.video.width, info.video.height) == (720, 1280)
    assert info.duration_seconds == pytest.approx(5.0, abs=0.1)
    frame = decode_frames(clip, {0})[0]
    assert np.abs(frame.astype(int) - CLIP_COLOUR).max() <= 6
    [fetch] = fake.received("GET", "/cdn/")
    assert "authorization" not in fetch.headers  # the key stays with the API


def test_downloading_an_unfinished_generation_is_an_engine_error(fake: FakeLumaVideo, http: httpx.Client) -> None:
    with pytest.raises(EngineError, match="no finished clip"):
        ENGINE.download(http, ENGINE.access(), TaskStatus(TaskState.RUNNING), Path("unused.mp4"))


@pytest.mark.parametrize("reason", ["Advanced prompt moderation failed", "Frame moderation failed"])
def test_a_moderated_generation_fails_as_a_content_refusal(
    fake: FakeLumaVideo, http: httpx.Client, reason: str
) -> None:
    fake.moderate(reason)
    access = ENGINE.access()

    final = LUMA.finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=5)))[-1]

    assert fake.reported[-1] == "failed"
    assert final == TaskStatus(TaskState.FAILED, reason=reason, moderated=True)


def test_a_prompt_with_blocklisted_words_is_a_content_refusal(fake: FakeLumaVideo, http: httpx.Client) -> None:
    fake.moderate_words("fight")
    access = ENGINE.access()

    refused = LUMA.finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt="Two bottles fight", seconds=5)))
    passed = LUMA.finish(
        http, access, ENGINE.submit(http, access, ClipRequest(prompt="Two bottles compete", seconds=5))
    )

    assert refused[-1] == TaskStatus(TaskState.FAILED, reason="Contains blacklisted words", moderated=True)
    assert passed[-1].state is TaskState.SUCCEEDED


def test_a_failed_generation_reports_lumas_reason(fake: FakeLumaVideo, http: httpx.Client) -> None:
    fake.fail_task("Failed to read user input frames")
    access = ENGINE.access()

    final = LUMA.finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=5)))[-1]

    assert final == TaskStatus(TaskState.FAILED, reason="Failed to read user input frames", moderated=False)


def test_a_completed_generation_without_a_video_or_an_unknown_state() -> None:
    assert generation_status({"id": "g-1", "state": "completed", "assets": None}) == TaskStatus(
        TaskState.FAILED, reason="Luma reported the generation completed but gave no video URL"
    )
    with pytest.raises(EngineError, match=r"^luma: generation g-1 has an unknown state 'paused'"):
        generation_status({"id": "g-1", "state": "paused"})
