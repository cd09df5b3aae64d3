"""The Sora adapter against the fake OpenAI Videos API over real HTTP: the form it sends (text-to-video, and
image-to-video with the scene's picture fitted to the clip size), video states through a video's life, a
downloaded clip that decodes, the failures that are Sora's own (a model it does not offer, a picture it cannot
read, moderation of the prompt or the clip), and the fake's signed webhook events (on time, duplicated, late, out of
order, forged) as the project's Sora webhook checks see them. What every engine does alike, such as a bad key or a
429, is tested in test_engine_contract.py."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve
from pytoon.local.fakes.sora_video import CLIP_COLOUR, WEBHOOK_SECRET, FakeSoraVideo
from pytoon.render.probe import probe_media
from pytoon.video_engines.base import ClipRequest, EngineError, ImageInput, ModerationRefused, TaskState, TaskStatus
from pytoon.video_engines.sora import ENGINE
from pytoon.webhooks import (
    TOLERANCE_SECONDS,
    ProviderEvent,
    WebhookSignatureError,
    parse_sora_event,
    verify_standard_webhook,
)
from tests.media import cutout_png, decode_frames, flat_image
from tests.unit.engine_cases import SORA

PROMPT = "A steel bottle turns slowly on a sunlit table, cinematic"
SCENE_COLOUR = (30, 110, 160)


class WebhookReceiver(LoopbackFake):
    """The project's Sora webhook checks behind an endpoint: the signature on the raw body (401 when it fails),
    then the event; what passed is kept in `accepted`."""

    def __init__(self, signing_secret: str) -> None:
        super().__init__()
        self.signing_secret = signing_secret
        self.accepted: list[ProviderEvent] = []

    def respond(self, request: ReceivedRequest) -> Reply:
        try:
            verify_standard_webhook(self.signing_secret, request.headers, request.raw, {}, time.time())
        except WebhookSignatureError as exc:
            return Reply.json(401, {"error": str(exc)})
        event = parse_sora_event(request.headers, json.loads(request.raw), {})
        if event is None:
            return Reply.json(200, {"status": "ignored"})
        with self.lock:
            self.accepted.append(event)
        return Reply.json(200, {"status": "accepted"})


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSoraVideo]:
    with SORA.configured_fake(monkeypatch) as server:
        yield server


@pytest.fixture
def receiver(fake: FakeSoraVideo) -> Iterator[WebhookReceiver]:
    with serve(WebhookReceiver(WEBHOOK_SECRET), name="sora-webhook-receiver") as endpoint:
        fake.send_webhooks_to(f"{endpoint.base_url}/webhooks/sora")
        yield endpoint


def _image(path: Path) -> ImageInput:
    return ImageInput(url="https://assets.example.com/scene?X-Amz-Signature=abc", path=path, content_type="image/png")


def _text(form: dict[str, tuple[str | None, bytes]]) -> dict[str, str]:
    """A received form's plain fields (no file name) as text."""
    return {name: data.decode() for name, (filename, data) in form.items() if filename is None}


def _uploaded_reference(fake: FakeSoraVideo) -> Image.Image:
    [request] = fake.received("POST", "/v1/videos")
    filename, data = request.form()["input_reference"]
    assert filename is not None  # an uploaded file, not a text field
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image


# --- the request -----------------------------------------------------------------------------------------


def test_text_to_video_sends_the_documented_form(fake: FakeSoraVideo, http: httpx.Client) -> None:
    task_id = ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=8))

    [request] = fake.received("POST")
    assert request.path == "/v1/videos"
    assert request.headers["authorization"] == f"Bearer {fake.api_key}"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    form = request.form()
    assert _text(form) == {"model": "sora-2", "prompt": PROMPT, "seconds": "8", "size": "720x1280"}
    assert set(form) == {"model", "prompt", "seconds", "size"}
    assert task_id.startswith("video_") and task_id in fake.videos


def test_the_model_is_pytoon_sora_model(
    fake: FakeSoraVideo, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTOON_SORA_MODEL", "sora-2-pro")
    task_id = ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=4))
    assert _text(fake.received("POST")[0].form())["model"] == "sora-2-pro"
    assert fake.videos[task_id].model == "sora-2-pro"

    monkeypatch.setenv("PYTOON_SORA_MODEL", "sora-3")
    with pytest.raises(EngineError) as caught:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=4))
    assert type(caught.value) is EngineError
    assert caught.value.reason.startswith("sora: HTTP 400:")
    assert "Invalid value: 'sora-3'" in caught.value.reason
    assert len(fake.videos) == 1


def test_image_to_video_uploads_the_scene_picture_at_exactly_the_clip_size(
    fake: FakeSoraVideo, http: httpx.Client, tmp_path: Path
) -> None:
    # Square and larger than the clip: Sora refuses a reference of another size, so it is cover-fitted.
    picture = flat_image(tmp_path / "scene.png", SCENE_COLOUR, size=(1000, 1000))

    task_id = ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=4, image=_image(picture)))

    reference = _uploaded_reference(fake)
    assert (reference.format, reference.size) == ("JPEG", (720, 1280))
    pixels = np.asarray(reference.convert("RGB"), dtype=int)
    assert np.abs(pixels - SCENE_COLOUR).max() <= 4
    assert fake.videos[task_id].reference is not None
    assert _text(fake.received("POST")[0].form())["size"] == "720x1280"


def test_a_cutout_is_centred_whole_on_white_rather_than_cropped(
    fake: FakeSoraVideo, http: httpx.Client, tmp_path: Path
) -> None:
    cutout = cutout_png(tmp_path / "product.png", size=(400, 800), colour=(200, 60, 80))

    ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=4, image=_image(cutout)))

    pixels = np.asarray(_uploaded_reference(fake).convert("RGB"), dtype=int)
    assert pixels.shape == (1280, 720, 3)
    # The 1:2 product is contained in 720x1280 (9:16): 640x1280, full height, centred between white margins.
    assert np.abs(pixels[640, 360] - (200, 60, 80)).max() <= 6
    assert np.abs(pixels[5, 360] - (200, 60, 80)).max() <= 6
    assert np.abs(pixels[640, 20] - 255).max() <= 4
    assert np.abs(pixels[640, 700] - 255).max() <= 4


def test_a_picture_that_cannot_be_read_is_an_engine_error_and_nothing_is_sent(
    fake: FakeSoraVideo, http: httpx.Client, tmp_path: Path
) -> None:
    (tmp_path / "scene.png").write_text("not an image")

    with pytest.raises(EngineError, match=r"^sora: the scene picture cannot be read: "):
        ENGINE.submit(
            http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=4, image=_image(tmp_path / "scene.png"))
        )
    assert fake.requests == []


def test_every_allowed_duration_is_sent_as_a_string_and_others_are_refused(
    fake: FakeSoraVideo, http: httpx.Client
) -> None:
    access = ENGINE.access()
    for seconds in ENGINE.durations:
        ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=seconds))

    assert [_text(r.form())["seconds"] for r in fake.received("POST")] == ["4", "8", "12"]
    assert len(fake.videos) == 3
    with pytest.raises(EngineError, match=r"HTTP 400.*Supported values are: '4', '8', and '12'"):
        ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=10))


# --- the video's life ------------------------------------------------------------------------------------


def test_status_follows_the_video_until_it_completes(fake: FakeSoraVideo, http: httpx.Client) -> None:
    fake.slow(3)
    access = ENGINE.access()
    task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=4))

    states = SORA.finish(http, access, task_id)

    assert fake.reported == ["queued", "in_progress", "completed"]
    assert [s.state for s in states] == [TaskState.RUNNING, TaskState.RUNNING, TaskState.SUCCEEDED]
    assert states[-1].video_url == f"{fake.api_url}/videos/{task_id}/content"
    assert [r.path for r in fake.received("GET")] == [f"/v1/videos/{task_id}"] * 3


def test_download_gives_the_generated_clip_from_the_content_endpoint_with_the_key(
    fake: FakeSoraVideo, http: httpx.Client, tmp_path: Path
) -> None:
    access = ENGINE.access()
    task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=4))
    finished = SORA.finish(http, access, task_id)[-1]

    clip = ENGINE.download(http, access, finished, tmp_path / "clip.mp4")

    info = probe_media(clip)
    assert info.video is not None
    assert (info.video.width, info.video.height) == (720, 1280)
    assert info.duration_seconds == pytest.approx(4.0, abs=0.1)
    frame = decode_frames(clip, {0})[0]
    assert np.abs(frame.astype(int) - CLIP_COLOUR).max() <= 6
    [fetch] = fake.received("GET", f"/v1/videos/{task_id}/content")
    assert fetch.headers["authorization"] == f"Bearer {fake.api_key}"


def test_the_key_is_not_sent_to_a_clip_url_off_the_api(fake: FakeSoraVideo, http: httpx.Client, tmp_path: Path) -> None:
    elsewhere = TaskStatus(TaskState.SUCCEEDED, video_url="https://cdn.example.com/videos/video_1/content")

    with pytest.raises(EngineError, match=r"^sora: the clip URL is not on "):
        ENGINE.download(http, ENGINE.access(), elsewhere, tmp_path / "clip.mp4")
    assert not (tmp_path / "clip.mp4").exists()


# --- failures --------------------------------------------------------------------------------------------


def test_a_prompt_refused_by_moderation_is_a_moderation_refusal(fake: FakeSoraVideo, http: httpx.Client) -> None:
    fake.moderate()

    with pytest.raises(ModerationRefused) as caught:
        ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=4))

    assert caught.value.reason.startswith("sora: refused by content moderation:")
    assert "moderation_blocked" in caught.value.reason
    assert fake.videos == {}


def test_a_clip_blocked_by_moderation_fails_as_a_content_refusal(fake: FakeSoraVideo, http: httpx.Client) -> None:
    fake.moderate_output()
    access = ENGINE.access()

    final = SORA.finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=4)))[-1]

    assert fake.reported[-1] == "failed"
    assert final == TaskStatus(
        TaskState.FAILED,
        reason="The generated video was blocked by our moderation system. (moderation_blocked)",
        moderated=True,
    )


def test_a_failed_video_reports_openais_reason(fake: FakeSoraVideo, http: httpx.Client) -> None:
    fake.fail_task("Video generation failed due to an internal error.", code="internal_error")
    access = ENGINE.access()

    final = SORA.finish(http, access, ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=4)))[-1]

    assert final == TaskStatus(
        TaskState.FAILED, reason="Video generation failed due to an internal error. (internal_error)", moderated=False
    )


# --- webhook events --------------------------------------------------------------------------------------


def test_a_completed_video_sends_a_signed_event_the_sora_webhook_accepts(
    fake: FakeSoraVideo, receiver: WebhookReceiver, http: httpx.Client
) -> None:
    access = ENGINE.access()
    task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=4))

    fake.finish(task_id)

    [delivery] = fake.deliveries
    assert delivery.status == 200
    [posted] = receiver.received("POST", "/webhooks/sora")
    assert json.loads(posted.raw) == {
        "id": json.loads(delivery.event.body)["id"],
        "object": "event",
        "created_at": fake.videos[task_id].completed_at,
        "type": "video.completed",
        "data": {"id": task_id},
    }
    assert receiver.accepted == [
        ProviderEvent(
            delivery_id=delivery.event.webhook_id,
            task_id=task_id,
            succeeded=True,
            detail={"type": "video.completed", "video_id": task_id},
        )
    ]
    # Told by the event, the job reads the video once: it is complete.
    assert ENGINE.status(http, access, task_id).state is TaskState.SUCCEEDED


def test_a_failed_video_sends_video_failed_and_its_reason_is_read_from_the_video(
    fake: FakeSoraVideo, receiver: WebhookReceiver, http: httpx.Client
) -> None:
    fake.fail_task("Video generation failed.", code="internal_error")
    access = ENGINE.access()
    task_id = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=4))

    fake.finish(task_id)

    [event] = receiver.accepted
    assert (event.task_id, event.succeeded, event.detail["type"]) == (task_id, False, "video.failed")
    assert ENGINE.status(http, access, task_id) == TaskStatus(
        TaskState.FAILED, reason="Video generation failed. (internal_error)"
    )


def test_a_duplicate_delivery_carries_the_same_delivery_id(
    fake: FakeSoraVideo, receiver: WebhookReceiver, http: httpx.Client
) -> None:
    task_id = ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=4))
    fake.finish(task_id)

    again = fake.resend(fake.events[0])

    assert again.status == 200
    first, second = receiver.accepted
    # The same webhook-id, re-signed: the webhook handler answers the second one as a duplicate.
    assert first == second
    assert first.delivery_id == fake.events[0].webhook_id
    assert [p.raw for p in receiver.received("POST")] == [fake.events[0].body] * 2


def test_events_held_back_arrive_out_of_order_and_still_verify(
    fake: FakeSoraVideo, receiver: WebhookReceiver, http: httpx.Client
) -> None:
    access = ENGINE.access()
    first = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=4))
    fake.fail_task("Video generation failed.")
    second = ENGINE.submit(http, access, ClipRequest(prompt=PROMPT, seconds=4))
    fake.hold_webhooks()
    fake.finish(first)
    fake.finish(second)
    assert receiver.requests == []

    deliveries = fake.release_webhooks(reverse=True)

    assert [d.status for d in deliveries] == [200, 200]
    assert [(e.task_id, e.succeeded) for e in receiver.accepted] == [(second, False), (first, True)]


def test_a_late_retry_outside_the_tolerance_is_refused(
    fake: FakeSoraVideo, receiver: WebhookReceiver, http: httpx.Client
) -> None:
    task_id = ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=4))
    fake.finish(task_id)

    late = fake.resend(fake.events[0], sent_at=time.time() - 2 * TOLERANCE_SECONDS)

    assert late.status == 401
    assert late.headers["webhook-id"] == fake.events[0].webhook_id
    assert len(receiver.accepted) == 1


def test_an_event_with_a_bad_signature_is_refused(
    fake: FakeSoraVideo, receiver: WebhookReceiver, http: httpx.Client
) -> None:
    fake.bad_signature()
    task_id = ENGINE.submit(http, ENGINE.access(), ClipRequest(prompt=PROMPT, seconds=4))

    fake.finish(task_id)

    [delivery] = fake.deliveries
    assert delivery.status == 401
    assert delivery.headers["webhook-signature"].startswith("v1,")
    assert receiver.accepted == []
