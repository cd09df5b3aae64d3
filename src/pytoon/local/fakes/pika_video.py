"""A fake of fal.ai's queue API serving Pika 2.2 (queue.fal.run) on 127.0.0.1, a real HTTP server in a thread.

It checks a request as fal does: `Authorization: Key <key>` (401 `{"detail": "No user found for Key ID and
Secret"}` otherwise), a route it serves (`POST /fal-ai/pika/v2.2/text-to-video` or `.../image-to-video` to submit;
`GET /fal-ai/pika/requests/{id}/status` and `GET /fal-ai/pika/requests/{id}` under the app, not the endpoint: 404
otherwise, `Application "..." not found` for another app) and a JSON object body (422 otherwise). Like fal's queue
it takes any such body at once and lets the model judge it: the request completes, and its result is the model's
422 `{"detail": [{loc, msg, type, input}]}` for a missing `prompt` (or `image_url` for image-to-video), an
`aspect_ratio` (text-to-video only), `resolution` or `duration` outside the schema's values (9:16 and the other
six ratios, 720p/1080p, 5 or 10), or an `image_url` that is neither https nor an image data URI. Fields outside
the schema are ignored, as fal's models do.

A request answers IN_QUEUE, IN_PROGRESS (HTTP 202), then COMPLETED (200) on its `polls`-th status read (3 unless
scripted); its result then is `{"video": {"url", ...}}`, a URL on the fake that needs no key and serves a real H.264
MP4: 720x1280 at 12 fps, the requested seconds long, every frame CLIP_COLOUR.

    with fake_pika_video() as fake:
        fake.fail_submit(503)             # or fake.rate_limit(retry_after="7"), fake.moderate(), fake.time_out(),
        fake.fail_task("Pika failed")     # fake.slow(5), fake.broken_file()
        monkeypatch.setenv("PIKA_BASE_URL", fake.base_url)
        ...
        fake.received("POST", "/fal-ai/pika/v2.2/")[0].json    # what the client sent
        fake.reported                                          # each status the fake answered, in order
"""

from __future__ import annotations

import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytoon.local.fakes.clips import solid_clip
from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve

DEFAULT_API_KEY = "3f2c9a1e-fake-pika:5b7d0e4c2a9f4f1e8c6b"
APP = "/fal-ai/pika"
TEXT_TO_VIDEO = f"{APP}/v2.2/text-to-video"
IMAGE_TO_VIDEO = f"{APP}/v2.2/image-to-video"
CLIP_COLOUR = (240, 150, 20)
CLIP_SIZE = (720, 1280)
CLIP_FPS = 12
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:5", "5:4", "3:2", "2:3")
RESOLUTIONS = ("720p", "1080p")
DURATIONS = (5, 10)
# Per endpoint: the required fields, and the schema's fields with a fixed set of values.
SCHEMAS: dict[str, tuple[tuple[str, ...], dict[str, tuple[Any, ...]]]] = {
    TEXT_TO_VIDEO: (
        ("prompt",),
        {"aspect_ratio": ASPECT_RATIOS, "resolution": RESOLUTIONS, "duration": DURATIONS},
    ),
    IMAGE_TO_VIDEO: (("image_url", "prompt"), {"resolution": RESOLUTIONS, "duration": DURATIONS}),
}
REQUEST_PATH = re.compile(rf"{APP}/requests/([^/]+)(/status)?")
CLIP_PATH = re.compile(r"/files/([0-9a-f]+)/([^/]+)\.mp4")
IMAGE_DATA_URI = re.compile(r"data:image/(jpeg|png|webp);base64,.+", re.DOTALL)
MODERATION_MESSAGE = "The content was flagged by a content checker."
NOT_A_VIDEO = b"\x00\x01 this is not an mp4 \xff" * 64


def _detail(status: int, detail: Any, headers: dict[str, str] | None = None, **extra: Any) -> Reply:
    return Reply.json(status, {"detail": detail, **extra}, headers)


def _model_error(status: int, *errors: dict[str, Any]) -> Reply:
    """A model's structured error: a list of typed error objects under `detail`."""
    return _detail(status, list(errors))


@cache
def clip_bytes(seconds: int) -> bytes:
    """The MP4 every finished request of this length serves (made once per length)."""
    with tempfile.TemporaryDirectory() as work:
        clip = solid_clip(Path(work) / "clip.mp4", seconds=seconds, fps=CLIP_FPS, size=CLIP_SIZE, colour=CLIP_COLOUR)
        return clip.read_bytes()


@dataclass
class _Request:
    seconds: int
    token: str
    polls_to_finish: int
    # The model's answer when it is not a video: a validation or content refusal, or a scripted failure.
    failure: Reply | None
    broken_file: bool
    polls: int = 0


# A scripted way for the model to fail a request, given the request's input.
Ending = Callable[[dict[str, Any]], Reply]


class FakePikaVideo(LoopbackFake):
    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.queued: dict[str, _Request] = {}
        self.reported: list[str] = []
        self._submit_failures: list[tuple[int, str]] = []
        self._rate_limits: list[str | None] = []  # None: a request let through
        self._polls_to_finish = 3
        self._ending: Ending | None = None
        self._broken_file = False
        self._clip_lock = threading.Lock()

    # --- scripting -------------------------------------------------------------------------------------

    def fail_submit(self, status: int, detail: str = "Internal Server Error", times: int = 1) -> None:
        """The next `times` submissions are answered `status` with `{"detail": detail}`."""
        with self.lock:
            self._submit_failures += [(status, detail)] * times

    def rate_limit(self, retry_after: str = "1", times: int = 1, after: int = 0) -> None:
        """The `times` API requests (submissions, status or result reads) after the next `after` ones are answered
        429 with this Retry-After."""
        with self.lock:
            self._rate_limits += [None] * after + [retry_after] * times

    def moderate(self) -> None:
        """Requests submitted from now on are refused by the content checker: their result is fal's 422
        `content_policy_violation` on the prompt."""
        self._end_requests(
            lambda body: _model_error(
                422,
                {
                    "loc": ["body", "prompt"],
                    "msg": MODERATION_MESSAGE,
                    "type": "content_policy_violation",
                    "url": "https://docs.fal.ai/errors#content_policy_violation",
                    "input": body.get("prompt"),
                },
            )
        )

    def fail_task(self, message: str, status: int = 500, error_type: str = "downstream_service_error") -> None:
        """Requests submitted from now on fail in the model: their result is a model error of this type."""
        self._end_requests(lambda body: _model_error(status, {"loc": ["body"], "msg": message, "type": error_type}))

    def time_out(self) -> None:
        """Requests submitted from now on exceed fal's processing time: their result is the infrastructure's 504
        `{"detail": "Request timed out", "error_type": "request_timeout"}` (also in X-Fal-Error-Type)."""
        headers = {"X-Fal-Error-Type": "request_timeout"}
        self._end_requests(lambda body: _detail(504, "Request timed out", headers, error_type="request_timeout"))

    def slow(self, polls: int) -> None:
        """Requests submitted from now on complete on their `polls`-th status read."""
        with self.lock:
            self._polls_to_finish = polls

    def broken_file(self) -> None:
        """Requests submitted from now on succeed, but their video URL serves bytes that are not a video."""
        with self.lock:
            self._broken_file = True

    def _end_requests(self, ending: Ending) -> None:
        with self.lock:
            self._ending = ending

    # --- the API ---------------------------------------------------------------------------------------

    def respond(self, request: ReceivedRequest) -> Reply:
        clip = CLIP_PATH.fullmatch(request.path)
        if request.method == "GET" and clip:
            return self._clip(clip.group(2), clip.group(1))
        read = REQUEST_PATH.fullmatch(request.path)
        if request.method == "POST" and not request.path.startswith(f"{APP}/"):
            app = "/".join(request.path.strip("/").split("/")[:2])
            return _detail(404, f'Application "{app}" not found')
        if not ((request.method == "POST" and request.path in SCHEMAS) or (request.method == "GET" and read)):
            return _detail(404, "Not Found")
        if request.headers.get("authorization") != f"Key {self.api_key}":
            return _detail(401, "No user found for Key ID and Secret")
        with self.lock:
            retry_after = self._rate_limits.pop(0) if self._rate_limits else None
        if retry_after is not None:
            return _detail(429, "Rate limit exceeded", {"Retry-After": retry_after})
        if read is None:
            return self._submit(request)
        return self._status(read.group(1)) if read.group(2) else self._result(read.group(1))

    def _submit(self, request: ReceivedRequest) -> Reply:
        body = request.json
        if not request.headers.get("content-type", "").startswith("application/json") or not isinstance(body, dict):
            return _detail(422, "The request body must be a JSON object")
        with self.lock:
            if self._submit_failures:
                status, detail = self._submit_failures.pop(0)
                return _detail(status, detail)
            request_id = str(uuid.uuid4())
            failure = _input_refusal(request.path, body)
            if failure is None and self._ending is not None:
                failure = self._ending(body)
            self.queued[request_id] = _Request(
                seconds=body.get("duration", 5),
                token=uuid.uuid4().hex,
                polls_to_finish=self._polls_to_finish,
                failure=failure,
                broken_file=self._broken_file,
            )
        urls = f"{self.base_url}{APP}/requests/{request_id}"
        return Reply.json(
            200,
            {
                "status": "IN_QUEUE",
                "request_id": request_id,
                "response_url": urls,
                "status_url": f"{urls}/status",
                "cancel_url": f"{urls}/cancel",
                "queue_position": 0,
            },
        )

    def _status(self, request_id: str) -> Reply:
        with self.lock:
            queued = self.queued.get(request_id)
            if queued is None:
                return _detail(404, f"Request {request_id} not found")
            queued.polls += 1
            urls = f"{self.base_url}{APP}/requests/{request_id}"
            answer: dict[str, Any] = {"request_id": request_id, "response_url": urls, "status_url": f"{urls}/status"}
            if queued.polls >= queued.polls_to_finish:
                answer |= {"status": "COMPLETED", "logs": [], "metrics": {"inference_time": 41.7}}
            elif queued.polls == 1:
                answer |= {"status": "IN_QUEUE", "queue_position": 0}
            else:
                answer |= {"status": "IN_PROGRESS", "logs": []}
            self.reported.append(answer["status"])
        return Reply.json(200 if answer["status"] == "COMPLETED" else 202, answer)

    def _result(self, request_id: str) -> Reply:
        with self.lock:
            queued = self.queued.get(request_id)
        if queued is None:
            return _detail(404, f"Request {request_id} not found")
        if queued.polls < queued.polls_to_finish:
            return _detail(400, "Request is still in progress")
        if queued.failure is not None:
            return queued.failure
        video = {
            "url": f"{self.base_url}/files/{queued.token}/{request_id}.mp4",
            "content_type": "video/mp4",
            "file_name": f"{request_id}.mp4",
        }
        return Reply.json(200, {"video": video})

    def _clip(self, request_id: str, token: str) -> Reply:
        with self.lock:
            queued = self.queued.get(request_id)
        if queued is None or token != queued.token or queued.failure is not None:
            return Reply(404, b"Not Found", "text/plain")
        if queued.broken_file:
            return Reply(200, NOT_A_VIDEO, "video/mp4")
        with self._clip_lock:
            return Reply(200, clip_bytes(queued.seconds), "video/mp4")


def _input_refusal(endpoint: str, body: dict[str, Any]) -> Reply | None:
    """The model's 422 for an input its schema refuses (the first problem), else None."""
    required, choices = SCHEMAS[endpoint]
    for name in required:
        if name not in body:
            return _model_error(422, {"loc": ["body", name], "msg": "Field required", "type": "missing"})
        if not isinstance(body[name], str):
            return _model_error(
                422,
                {"loc": ["body", name], "msg": "Input should be a valid string", "type": "string_type"},
            )
    for name, allowed in choices.items():
        value = body.get(name, allowed[0])
        if isinstance(value, bool) or value not in allowed:
            expected = " or ".join(repr(option) for option in allowed)
            return _model_error(
                422,
                {"loc": ["body", name], "msg": f"Input should be {expected}", "type": "enum", "input": value},
            )
    image = body.get("image_url")
    if image is not None and not _fetchable_image(image):
        return _model_error(
            422,
            {
                "loc": ["body", "image_url"],
                "msg": "Failed to download the file. Please check if the URL is accessible and try again.",
                "type": "file_download_error",
                "input": image,
            },
        )
    return None


def _fetchable_image(value: str) -> bool:
    if IMAGE_DATA_URI.fullmatch(value):
        return True
    url = urlsplit(value)
    return url.scheme == "https" and bool(url.hostname)


@contextmanager
def fake_pika_video(api_key: str = DEFAULT_API_KEY) -> Iterator[FakePikaVideo]:
    """Serve the fake on a free 127.0.0.1 port; yields it (`base_url` stands for https://queue.fal.run)."""
    with serve(FakePikaVideo(api_key), name="fake-pika-video") as fake:
        yield fake
