"""The Runway adapter against the fake Runway API over real HTTP: the requests it sends (text-to-video, and
image-to-video with the scene's picture), task states through a task's life, a downloaded clip that decodes,
and the failures that are Runway's own (a model it does not offer, moderation, a failed or cancelled task); what
every engine does alike, such as a bad key or a 429, is tested in test_engine_contract.py."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from pytoon.local.fakes.runway_video import CLIP_COLOUR, FakeRunwayVideo
from pytoon.render.probe import probe_media
from pytoon.video_engines.base import ClipRequest, EngineError, ImageInput, TaskState, TaskStatus
from pytoon.video_engines.runway import ENGINE
from tests.media import decode_frames
from tests.unit.engine_cases import RUNWAY

PROMPT = "A steel bottle turns slowly on a sunlit table, cinematic"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRunwayVideo]:
    with RUNWAY.configured_fake(monkeypatch) as server:
        yield server


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
    fake: FakeRunwayVideo, http: httpx.Client, scene_image: ImageInput
) -> None:
    ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=5, image=scene_image))

    [request] = fake.received("POST")
    assert request.path == "/v1/image_to_video"
    body = dict(request.json)
    prefix, encoded = body.pop("promptImage").split(",", 1)
    assert body == {"model": "gen4_turbo", "promptText": PROMPT, "ratio": "720:1280", "duration": 5}
    assert prefix == "data:image/jpeg;base64"
    assert base64.b64decode(encoded) == scene_image.path.read_bytes()


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
    fake: FakeRunwayVideo, http: httpx.Client, scene_image: ImageInput, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWAY_MODEL", "gen4.5")

    ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=3, image=scene_image))

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

    states = RUNWAY.finish(http, access, task_id)

    assert fake.reported == [queued, "RUNNING", "SUCCEEDED"]
    assert [s.state for s in states] == [TaskState.RUNNING, TaskState.RUNNING, TaskState.SUCCEEDED]
    assert states[-1].video_url and states[-1].video_url.startswith(f"{fake.base_url}/outputs/{task_id}.mp4?_jwt=")
    assert [r.path for r in fake.received("GET")] == [f"/v1/tasks/{task_id}"] * 3
    assert fake.received("GET")[0].headers["x-runway-version"] == "2024-11-06"


def test_download_gives_the_generated_clip(fake: FakeRunwayVideo, http: httpx.Client, tmp_path: Path) -> None:
    access = ENGINE.access()
    task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=2))
    finished = RUNWAY.finish(http, access, task_id)[-1]

    clip = ENGINE.download(http, access, finished, tmp_path / "clip.mp4")

    info = probe_media(clip)
    assert info.video is not None
    assert (info.video.width, info.video.height) == (720, 1280)
    assert info.duration_seconds == pytest.approx(2.0, abs=0.1)
    frame = decode_frames(clip, {0})[0]
    assert np.abs(frame.astype(int) - CLIP_COLOUR).max() <= 6
    [fetch] = fake.received("GET", "/outputs/")
    assert "authorization" not in fetch.headers  # the key stays with the API


def test_a_moderated_task_fails_as_a_content_refusal(fake: FakeRunwayVideo, http: httpx.Client) -> None:
    fake.moderate()
    access = ENGINE.access()

    final = RUNWAY.finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=2)))[-1]

    assert final.state is TaskState.FAILED
    assert final.moderated is True
    assert final.reason == "The input did not pass our review. Try a different prompt. (SAFETY.INPUT.TEXT)"


def test_a_failed_task_reports_runways_reason(fake: FakeRunwayVideo, http: httpx.Client) -> None:
    fake.fail_task("An unexpected error occurred while generating.", code="INTERNAL.BAD_OUTPUT")
    access = ENGINE.access()

    final = RUNWAY.finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=2)))[-1]

    assert final == TaskStatus(
        TaskState.FAILED, reason="An unexpected error occurred while generating. (INTERNAL.BAD_OUTPUT)", moderated=False
    )


def test_a_cancelled_task_is_failed(fake: FakeRunwayVideo, http: httpx.Client) -> None:
    fake.cancel()
    access = ENGINE.access()

    final = RUNWAY.finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=2)))[-1]

    assert fake.reported[-1] == "CANCELLED"
    assert final == TaskStatus(TaskState.FAILED, reason="the task was cancelled")
