"""A fake OpenAI Videos API (Sora 2) on 127.0.0.1, a real HTTP server in a thread, which also sends the
Standard Webhooks events OpenAI sends when a video finishes.

It checks a request as OpenAI does: the route (`POST /v1/videos`, `GET /v1/videos/{id}`,
`GET /v1/videos/{id}/content`; anything else 404 "Invalid URL"), `Authorization: Bearer <key>` (401
`invalid_api_key`), a multipart form or a JSON body (400 otherwise) with no parameter OpenAI does not know (400
`unknown_parameter`), a non-empty `prompt`, a `model` of sora-2 or sora-2-pro, `seconds` as the string "4", "8"
or "12" (a JSON number: 400 `invalid_type`), a `size` the model offers, and an `input_reference` that is an
uploaded JPEG, PNG or WebP file of exactly `size` pixels (a plain string: 400 `invalid_type`; another size: 400
"Inpaint image must match the requested width and height"). Every refusal is OpenAI's
`{"error": {"message", "type", "param", "code"}}`. A JSON `input_reference` object is valid but not imitated (501).

A video is `queued`, then `in_progress`, then `completed` on its `polls`-th status request (3 unless scripted),
or at once when the test calls `finish(video_id)`. Its content (the key is needed) is a real H.264 MP4 of the
requested size and seconds at 12 fps, every frame CLIP_COLOUR; before it is completed, 404.

When a video ends, its event (`video.completed` or `video.failed`, `{"id": "evt_…", "object": "event",
"created_at", "type", "data": {"id": video_id}}`) is POSTed to the URL given to `send_webhooks_to`, signed with
`webhook_secret` by the Standard Webhooks reference library (headers webhook-id, webhook-timestamp,
webhook-signature); each answer is kept in `deliveries`.

    with fake_sora_video() as fake:
        fake.fail_submit(500)                # or fake.rate_limit(retry_after="7"), fake.moderate(),
        fake.fail_task("Video generation failed")  # fake.moderate_output(), fake.slow(5), fake.broken_file()
        fake.send_webhooks_to(receiver_url)  # fake.hold_webhooks() / fake.release_webhooks(reverse=True),
                                             # fake.resend(event, sent_at=...), fake.bad_signature()
        monkeypatch.setenv("OPENAI_BASE_URL", fake.api_url)
        ...
        fake.received("POST", "/v1/videos")[0].form()    # what the client sent
        fake.reported                                    # each status the fake answered, in order
"""

from __future__ import annotations

import base64
import io
import json
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from pytoon.local.fakes.clips import solid_clip
from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve
from pytoon.webhooks import standard_webhook_signature

DEFAULT_API_KEY = "sk-fake-sora-key"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"fake-sora-webhook-signing-key-32").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"not-the-secret-the-receiver-has!").decode()
CLIP_COLOUR = (40, 170, 90)
CLIP_FPS = 12
SIZES = {
    "sora-2": ("720x1280", "1280x720"),
    "sora-2-pro": ("720x1280", "1280x720", "1024x1792", "1792x1024"),
}
SECONDS = ("4", "8", "12")
PARAMETERS = frozenset({"prompt", "model", "seconds", "size", "input_reference", "character_ids"})
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")
VIDEO_PATH = re.compile(r"/v1/videos/([^/]+)")
CONTENT_PATH = re.compile(r"/v1/videos/([^/]+)/content")
MODERATION_MESSAGE = "Your request was blocked by our moderation system."
NOT_A_VIDEO = b"\x00\x01 this is not an mp4 \xff" * 64
# How OpenAI names a JSON value's type in an `invalid_type` refusal.
JSON_TYPES = {int: "an integer", float: "a decimal", bool: "a boolean", list: "an array", dict: "an object"}


def _error(
    status: int,
    message: str,
    code: str | None,
    param: str | None = None,
    error_type: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
) -> Reply:
    return Reply.json(
        status, {"error": {"message": message, "type": error_type, "param": param, "code": code}}, headers
    )


def _one_of(values: tuple[str, ...]) -> str:
    quoted = [f"'{v}'" for v in values]
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}" if len(quoted) > 2 else " and ".join(quoted)


@cache
def clip_bytes(seconds: int, size: tuple[int, int]) -> bytes:
    """The MP4 every finished video of this length and size serves (made once each)."""
    with tempfile.TemporaryDirectory() as work:
        clip = solid_clip(Path(work) / "clip.mp4", seconds=seconds, fps=CLIP_FPS, size=size, colour=CLIP_COLOUR)
        return clip.read_bytes()


@dataclass(frozen=True)
class WebhookEvent:
    webhook_id: str  # the same on every delivery of this event (a retry), as Standard Webhooks requires
    kind: str
    video_id: str
    body: bytes


@dataclass(frozen=True)
class Delivery:
    event: WebhookEvent
    headers: dict[str, str]
    status: int | None  # the receiver's answer; None when it could not be reached


@dataclass
class _Video:
    video_id: str
    model: str
    seconds: str
    size: str
    prompt: str
    reference: bytes | None
    polls_to_finish: int
    # How the video ends when it does not complete: (error code, message).
    failure: tuple[str, str] | None
    broken_file: bool
    created_at: int
    polls: int = 0
    ended: bool = False
    completed_at: int | None = None


@dataclass
class _Script:
    submit_failures: list[tuple[int, str, str | None]] = field(default_factory=list)
    rate_limits: list[str] = field(default_factory=list)
    moderate_prompts: bool = False
    failure: tuple[str, str] | None = None
    polls_to_finish: int = 3
    broken_file: bool = False


class FakeSoraVideo(LoopbackFake):
    def __init__(self, api_key: str = DEFAULT_API_KEY, webhook_secret: str = WEBHOOK_SECRET) -> None:
        super().__init__()
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.videos: dict[str, _Video] = {}
        self.reported: list[str] = []
        self.events: list[WebhookEvent] = []
        self.deliveries: list[Delivery] = []
        self._script = _Script()
        self._webhook_url: str | None = None
        self._holding = False
        self._held: list[WebhookEvent] = []
        self._signing_secret = webhook_secret
        self._clip_lock = threading.Lock()

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1"

    # --- scripting -------------------------------------------------------------------------------------

    def fail_submit(self, status: int, message: str = "The server had an error.", code: str | None = None) -> None:
        """The next video creation is answered `status` with OpenAI's error body."""
        with self.lock:
            self._script.submit_failures.append((status, message, code))

    def rate_limit(self, retry_after: str = "1", times: int = 1) -> None:
        """The next `times` API requests are answered 429 `rate_limit_exceeded` with this Retry-After."""
        with self.lock:
            self._script.rate_limits += [retry_after] * times

    def moderate(self) -> None:
        """Creations from now on are refused as OpenAI's input moderation refuses them: 400 `moderation_blocked`."""
        with self.lock:
            self._script.moderate_prompts = True

    def moderate_output(self) -> None:
        """Videos created from now on fail with `moderation_blocked` (the generated clip did not pass review)."""
        self.fail_task("The generated video was blocked by our moderation system.", code="moderation_blocked")

    def fail_task(self, message: str, code: str = "internal_error") -> None:
        """Videos created from now on end `failed` with this `error`."""
        with self.lock:
            self._script.failure = (code, message)

    def slow(self, polls: int) -> None:
        """Videos created from now on end on their `polls`-th status request (0: as they are created, their
        event sent before the create request is answered)."""
        with self.lock:
            self._script.polls_to_finish = polls

    def broken_file(self) -> None:
        """Videos created from now on complete, but their content is bytes that are not a video."""
        with self.lock:
            self._script.broken_file = True

    def finish(self, video_id: str) -> None:
        """The video ends now (as its generation does, whoever is polling), sending its webhook event."""
        with self.lock:
            event = self._end(self.videos[video_id])
        self._emit(event)

    # --- webhooks --------------------------------------------------------------------------------------

    def send_webhooks_to(self, url: str) -> None:
        """Where the events of videos that end go (the OpenAI project's webhook endpoint)."""
        self._webhook_url = url

    def hold_webhooks(self) -> None:
        """Events are kept back from now on (sent late, or out of order, by `release_webhooks`)."""
        self._holding = True

    def release_webhooks(self, *, reverse: bool = False) -> list[Delivery]:
        """Send the held events, in the order their videos ended or the reverse; later events are sent at once."""
        self._holding = False
        held, self._held = self._held, []
        return [self.resend(event) for event in (reversed(held) if reverse else held)]

    def take_held(self) -> list[WebhookEvent]:
        """The held events, without sending them (a test then delivers them its own way, with `resend`)."""
        self._holding = False
        held, self._held = self._held, []
        return held

    def bad_signature(self) -> None:
        """Events from now on are signed with a secret the receiver does not have."""
        self._signing_secret = OTHER_SECRET

    def good_signature(self) -> None:
        """Events from now on are signed with the project's secret again."""
        self._signing_secret = self.webhook_secret

    def resend(self, event: WebhookEvent, *, sent_at: float | None = None) -> Delivery:
        """Deliver `event` (again: a duplicate, as OpenAI retries; or late, with an old `sent_at` timestamp)."""
        if self._webhook_url is None:
            raise RuntimeError("send_webhooks_to(url) first")
        timestamp = str(int(time.time() if sent_at is None else sent_at))
        # Signed as OpenAI signs (Standard Webhooks); tests check this signer against the reference library.
        signature = standard_webhook_signature(self._signing_secret, event.webhook_id, timestamp, event.body)
        headers = {
            "content-type": "application/json",
            "webhook-id": event.webhook_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": f"v1,{signature}",
        }
        status: int | None
        try:
            status = httpx.post(self._webhook_url, content=event.body, headers=headers, timeout=5).status_code
        except httpx.HTTPError:
            status = None
        delivery = Delivery(event, headers, status)
        with self.lock:
            self.deliveries.append(delivery)
        return delivery

    def _emit(self, event: WebhookEvent | None) -> None:
        if event is None or self._webhook_url is None:
            return
        if self._holding:
            self._held.append(event)
        else:
            self.resend(event)

    # --- the API ---------------------------------------------------------------------------------------

    def respond(self, request: ReceivedRequest) -> Reply:
        content = CONTENT_PATH.fullmatch(request.path)
        video = VIDEO_PATH.fullmatch(request.path)
        known_route = (request.method == "POST" and request.path == "/v1/videos") or (
            request.method == "GET" and (content or video)
        )
        if not known_route:
            return _error(404, f"Invalid URL ({request.method} {request.path})", None)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        with self.lock:
            retry_after = self._script.rate_limits.pop(0) if self._script.rate_limits else None
        if retry_after is not None:
            message = "Rate limit reached for videos per minute. Please try again later."
            headers = {"Retry-After": retry_after}
            return _error(429, message, "rate_limit_exceeded", error_type="requests", headers=headers)
        if content:
            return self._content(content.group(1), request.query.get("variant", "video"))
        if video:
            return self._retrieve(video.group(1))
        return self._create(request)

    def _create(self, request: ReceivedRequest) -> Reply:
        fields, refusal = _parameters(request)
        if refusal is not None:
            return refusal
        problem = _refusal(fields)
        if problem is not None:
            return problem
        with self.lock:
            if self._script.submit_failures:
                status, message, code = self._script.submit_failures.pop(0)
                error_type = "server_error" if status >= 500 else "invalid_request_error"
                return _error(status, message, code, error_type=error_type)
            if self._script.moderate_prompts:
                return _error(400, MODERATION_MESSAGE, "moderation_blocked")
            video = _Video(
                video_id=f"video_{uuid.uuid4().hex}",
                model=fields.get("model", "sora-2"),
                seconds=fields.get("seconds", "4"),
                size=fields.get("size", "720x1280"),
                prompt=fields["prompt"],
                reference=fields.get("input_reference"),
                polls_to_finish=self._script.polls_to_finish,
                failure=self._script.failure,
                broken_file=self._script.broken_file,
                created_at=int(time.time()),
            )
            self.videos[video.video_id] = video
            event = self._end(video) if video.polls_to_finish == 0 else None
            answer = self._object(video)
        self._emit(event)
        return Reply.json(200, answer)

    def _retrieve(self, video_id: str) -> Reply:
        with self.lock:
            video = self.videos.get(video_id)
            if video is None:
                return _error(404, f"Video with id '{video_id}' not found.", None, "video_id")
            video.polls += 1
            event = self._end(video) if video.polls >= video.polls_to_finish else None
            answer = self._object(video)
            self.reported.append(answer["status"])
        self._emit(event)
        return Reply.json(200, answer)

    def _content(self, video_id: str, variant: str) -> Reply:
        with self.lock:
            video = self.videos.get(video_id)
        if video is None:
            return _error(404, f"Video with id '{video_id}' not found.", None, "video_id")
        if variant != "video":
            return _error(501, f"the fake serves the video variant only, not {variant!r}", None, "variant")
        if not video.ended or video.failure is not None:
            return _error(404, f"Video '{video_id}' has no content: it is not completed.", None)
        if video.broken_file:
            return Reply(200, NOT_A_VIDEO, "video/mp4")
        width, height = (int(side) for side in video.size.split("x"))
        with self._clip_lock:
            return Reply(200, clip_bytes(int(video.seconds), (width, height)), "video/mp4")

    def _end(self, video: _Video) -> WebhookEvent | None:
        """End the video (once; the caller holds the lock) and make its event."""
        if video.ended:
            return None
        video.ended, video.completed_at = True, int(time.time())
        kind = "video.completed" if video.failure is None else "video.failed"
        body = json.dumps(
            {
                "id": f"evt_{uuid.uuid4().hex}",
                "object": "event",
                "created_at": video.completed_at,
                "type": kind,
                "data": {"id": video.video_id},
            }
        ).encode()
        event = WebhookEvent(webhook_id=f"wh_{uuid.uuid4().hex}", kind=kind, video_id=video.video_id, body=body)
        self.events.append(event)
        return event

    @staticmethod
    def _object(video: _Video) -> dict[str, Any]:
        if not video.ended:
            status = "queued" if video.polls <= 1 else "in_progress"
        else:
            status = "completed" if video.failure is None else "failed"
        progress = 100 if status == "completed" else min(99, 100 * video.polls // max(1, video.polls_to_finish))
        error = None
        if status == "failed" and video.failure is not None:
            error = {"code": video.failure[0], "message": video.failure[1]}
        return {
            "id": video.video_id,
            "object": "video",
            "model": video.model,
            "status": status,
            "progress": 0 if status == "queued" else progress,
            "created_at": video.created_at,
            "completed_at": video.completed_at,
            "expires_at": video.completed_at + 3600 if status == "completed" and video.completed_at else None,
            "seconds": video.seconds,
            "size": video.size,
            "remixed_from_video_id": None,
            "error": error,
        }


def _parameters(request: ReceivedRequest) -> tuple[dict[str, Any], Reply | None]:
    """The body's parameters (a form's text fields as str, its file as bytes), or OpenAI's refusal."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        fields: dict[str, Any] = {}
        for name, (filename, data) in request.form().items():
            if name == "input_reference" and filename is None:
                message = "Invalid type for 'input_reference': expected a file, but got a string instead."
                return {}, _error(400, message, "invalid_type", "input_reference")
            fields[name] = data if filename is not None else data.decode("utf-8", "replace")
        return fields, None
    body = request.json
    if not content_type.startswith("application/json") or not isinstance(body, dict):
        return {}, _error(400, "We could not parse the JSON body of your request.", None)
    if "seconds" in body and not isinstance(body["seconds"], str):
        got = JSON_TYPES.get(type(body["seconds"]), "another type")
        expected = _one_of(SECONDS).replace(", and", ", or")
        message = f"Invalid type for 'seconds': expected one of {expected}, but got {got} instead."
        return {}, _error(400, message, "invalid_type", "seconds")
    if "input_reference" in body:
        return {}, _error(501, "the fake does not imitate a JSON input_reference", None, "input_reference")
    return body, None


def _refusal(fields: dict[str, Any]) -> Reply | None:
    unknown = sorted(set(fields) - PARAMETERS)
    if unknown:
        return _error(400, f"Unknown parameter: '{unknown[0]}'.", "unknown_parameter", unknown[0])
    if not isinstance(fields.get("prompt"), str) or not fields["prompt"].strip():
        return _error(400, "Missing required parameter: 'prompt'.", "missing_required_parameter", "prompt")
    model = fields.get("model", "sora-2")
    if model not in SIZES:
        message = f"Invalid value: '{model}'. Supported values are: {_one_of(tuple(SIZES))}."
        return _error(400, message, "invalid_value", "model")
    seconds = fields.get("seconds", "4")
    if seconds not in SECONDS:
        message = f"Invalid value: '{seconds}'. Supported values are: {_one_of(SECONDS)}."
        return _error(400, message, "invalid_value", "seconds")
    size = fields.get("size", "720x1280")
    if size not in SIZES[model]:
        message = f"Invalid value: '{size}'. Supported values are: {_one_of(SIZES[model])}."
        return _error(400, message, "invalid_value", "size")
    reference = fields.get("input_reference")
    if reference is not None:
        try:
            with Image.open(io.BytesIO(reference), formats=IMAGE_FORMATS) as image:
                dimensions = image.size
        except (OSError, ValueError):
            return _error(400, "The input_reference is not a valid image.", "invalid_image", "input_reference")
        if "x".join(map(str, dimensions)) != size:
            message = "Inpaint image must match the requested width and height"
            return _error(400, message, "invalid_value", "input_reference")
    return None


@contextmanager
def fake_sora_video(api_key: str = DEFAULT_API_KEY) -> Iterator[FakeSoraVideo]:
    """Serve the fake on a free 127.0.0.1 port; yields it (`api_url` ends in /v1, like OpenAI's base URL)."""
    with serve(FakeSoraVideo(api_key), name="fake-sora-video") as fake:
        yield fake
