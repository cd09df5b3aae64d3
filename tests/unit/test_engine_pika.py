"""The Pika adapter against the fake fal.ai queue over real HTTP: the requests it sends (text-to-video, and
image-to-video with the scene's picture), request states through a request's life, a downloaded clip that decodes,
and the failures that are fal's way (the model's errors as the result, a refused submission quoted in fal's
detail, a timeout); what every engine does alike, such as a bad key or a 429, is tested in
test_engine_contract.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from pytoon.local.fakes.pika_video import CLIP_COLOUR, FakePikaVideo
from pytoon.render.probe import probe_media
from pytoon.video_engines.base import ClipRequest, EngineError, ImageInput, ModerationRefused, TaskState, TaskStatus
from pytoon.video_engines.pika import ENGINE
from tests.media import decode_frames
from tests.unit.engine_cases import PIKA

PROMPT = "A paper lantern drifts over a neon river, anime style"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePikaVideo]:
    with PIKA.configured_fake(monkeypatch) as server:
        yield server


def _final(http: httpx.Client, seconds: int = 5) -> TaskStatus:
    access = ENGINE.access()
    return PIKA.finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=seconds)))[-1]


def test_text_to_video_sends_the_documented_request(fake: FakePikaVideo, http: httpx.Client) -> None:
    task_id = ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))

    [request] = fake.received("POST")
    assert request.path == "/fal-ai/pika/v2.2/text-to-video"
    assert request.headers["authorization"] == f"Key {fake.api_key}"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {"prompt": PROMPT, "aspect_ratio": "9:16", "resolution": "720p", "duration": 5}
    assert task_id in fake.queued


def test_image_to_video_sends_the_scene_pictures_url(
    fake: FakePikaVideo, http: httpx.Client, scene_image: ImageInput
) -> None:
    task_id = ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=10, image=scene_image))

    [request] = fake.received("POST")
    assert request.path == "/fal-ai/pika/v2.2/image-to-video"
    assert request.json == {"prompt": PROMPT, "image_url": scene_image.url, "resolution": "720p", "duration": 10}
    assert PIKA.finish(http, ENGINE.access(), task_id)[-1].state is TaskState.SUCCEEDED  # the model took the picture


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

    states = PIKA.finish(http, access, task_id)

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


def test_a_content_policy_violation_fails_the_task_as_moderated(fake: FakePikaVideo, http: httpx.Client) -> None:
    fake.moderate()

    final = _final(http)

    assert final.state is TaskState.FAILED
    assert final.moderated is True
    assert final.reason == "HTTP 422: The content was flagged by a content checker. (content_policy_violation)"


REFUSED = "Prompt rejected by the safety filter"
UNAVAILABLE = "Service temporarily unavailable"


@pytest.mark.parametrize(
    ("status", "detail", "error", "reason"),
    [
        (422, REFUSED, ModerationRefused, f"pika: refused by content moderation: HTTP 422: {REFUSED}"),
        (503, UNAVAILABLE, EngineError, f"pika: HTTP 503: {UNAVAILABLE}"),
    ],
    ids=["content refusal", "server error"],
)
def test_a_refused_submission_has_fals_detail_as_its_reason(
    fake: FakePikaVideo, http: httpx.Client, status: int, detail: str, error: type[EngineError], reason: str
) -> None:
    fake.fail_submit(status, detail)

    with pytest.raises(EngineError) as caught:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5))

    assert type(caught.value) is error
    assert caught.value.reason == reason  # fal's {"detail": ...} is quoted as the detail alone


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
