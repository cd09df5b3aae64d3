"""A fake Runway video API (API version 2024-11-06) on 127.0.0.1, a real HTTP server in a thread.

It checks a request as Runway does: `Authorization: Bearer <key>` (401 otherwise), `X-Runway-Version: 2024-11-06`
(400 otherwise), a JSON body that passes the Gen-4 models' schemas: `POST /v1/image_to_video` with `gen4_turbo`
or `gen4.5`, `POST /v1/text_to_video` with `gen4.5` (any other model: 400, no matching discriminator), the
fields each model requires, `promptText` of 1-1000 characters, a `ratio` the endpoint offers, a whole `duration`
of 2-10 s, a `promptImage` that is an https URL on a domain or an image data URI of at most 5 MB. A refusal is
Runway's `{"error": "Validation of body failed", "issues": [...], "docUrl"}`; other fields are let through.

A task goes PENDING, RUNNING, then SUCCEEDED after `polls` status requests (`GET /v1/tasks/{id}`, 3 unless
scripted); its `output` is a signed URL on the fake serving a real H.264 MP4: 720x1280 at 12 fps, the requested
seconds long, every frame CLIP_COLOUR.

    with fake_runway_video() as fake:
        fake.fail_submit(500)             # or fake.rate_limit(retry_after="7"), fake.moderate(), fake.cancel(),
                                          # fake.moderate_words("fight"),
        fake.fail_task("Internal error")  # fake.slow(5), fake.throttle(), fake.broken_file()
        monkeypatch.setenv("RUNWAY_BASE_URL", fake.api_url)
        ...
        fake.received("POST", "/v1/text_to_video")[0].json    # what the client sent
        fake.reported                                         # each status the fake answered, in order
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytoon.local.fakes.clips import solid_clip
from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve

DEFAULT_API_KEY = "key_fake_runway_secret"
API_VERSION = "2024-11-06"
DOC_URL = "https://docs.dev.runwayml.com/api"
CLIP_COLOUR = (200, 30, 160)
CLIP_SIZE = (720, 1280)
CLIP_FPS = 12
IMAGE_RATIOS = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
TEXT_RATIOS = ("1280:720", "720:1280")
# Per endpoint and model: the fields Runway requires and the ratios it offers.
MODELS: dict[str, dict[str, tuple[frozenset[str], tuple[str, ...]]]] = {
    "/v1/image_to_video": {
        "gen4_turbo": (frozenset({"model", "promptImage", "ratio"}), IMAGE_RATIOS),
        "gen4.5": (frozenset({"model", "promptImage", "promptText", "ratio", "duration"}), IMAGE_RATIOS),
    },
    "/v1/text_to_video": {
        "gen4.5": (frozenset({"model", "promptText", "ratio", "duration"}), TEXT_RATIOS),
    },
}
MAX_PROMPT_CHARS = 1000
MIN_SECONDS, MAX_SECONDS = 2, 10
MAX_DATA_URI_CHARS = 5 * 1024 * 1024
DATA_URI = re.compile(r"data:image/(jpeg|png|webp);base64,(.+)", re.DOTALL)
TASK_PATH = re.compile(r"/v1/tasks/([^/]+)")
OUTPUT_PATH = re.compile(r"/outputs/([^/]+)\.mp4")
NOT_A_VIDEO = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"


def _error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> Reply:
    return Reply.json(status, {"error": message, **extra, "docUrl": DOC_URL}, headers)


def _invalid(issue: dict[str, Any]) -> Reply:
    return _error(400, "Validation of body failed", issues=[issue])


@cache
def clip_bytes(seconds: int) -> bytes:
    """The MP4 every finished task of this length serves (made once per length)."""
    with tempfile.TemporaryDirectory() as work:
        clip = solid_clip(Path(work) / "clip.mp4", seconds=seconds, fps=CLIP_FPS, size=CLIP_SIZE, colour=CLIP_COLOUR)
        return clip.read_bytes()


@dataclass
class _Task:
    seconds: int
    token: str
    polls_to_finish: int
    queued_status: str
    # Set when the task is to end otherwise than SUCCEEDED: (status, failure, failureCode).
    ending: tuple[str, str | None, str | None] | None
    broken_file: bool
    polls: int = 0


class FakeRunwayVideo(LoopbackFake):
    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.tasks: dict[str, _Task] = {}
        self.reported: list[str] = []
        self._submit_failures: list[tuple[int, str]] = []
        self._rate_limits: list[str] = []
        self._polls_to_finish = 3
        self._queued_status = "PENDING"
        self._ending: tuple[str, str | None, str | None] | None = None
        self._broken_file = False
        self._moderated_words: tuple[str, ...] = ()
        self._clip_lock = threading.Lock()

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1"

    # --- scripting -------------------------------------------------------------------------------------

    def fail_submit(self, status: int, error: str = "An unexpected error occurred.", times: int = 1) -> None:
        """The next `times` task creations are answered `status` with Runway's error body."""
        with self.lock:
            self._submit_failures += [(status, error)] * times

    def rate_limit(self, retry_after: str = "1", times: int = 1) -> None:
        """The next `times` API requests (creations or status reads) are answered 429 with this Retry-After."""
        with self.lock:
            self._rate_limits += [retry_after] * times

    def moderate(self, code: str = "SAFETY.INPUT.TEXT") -> None:
        """Tasks created from now on fail as Runway's moderation fails them: a `SAFETY.*` failure code."""
        self._end_tasks("FAILED", "The input did not pass our review. Try a different prompt.", code)

    def moderate_words(self, *words: str) -> None:
        """Tasks created from now on whose prompt contains any of `words` fail moderation (a rephrased prompt
        without them passes), as Runway's review judges the prompt."""
        with self.lock:
            self._moderated_words = tuple(w.lower() for w in words)

    def fail_task(self, failure: str, code: str = "INTERNAL") -> None:
        self._end_tasks("FAILED", failure, code)

    def cancel(self) -> None:
        """Tasks created from now on end CANCELLED (as when deleted from the dashboard)."""
        self._end_tasks("CANCELLED", None, None)

    def slow(self, polls: int) -> None:
        """Tasks created from now on finish on their `polls`-th status request."""
        with self.lock:
            self._polls_to_finish = polls

    def throttle(self) -> None:
        """Tasks created from now on wait THROTTLED (the account's concurrency is used up) before running."""
        with self.lock:
            self._queued_status = "THROTTLED"

    def broken_file(self) -> None:
        """Tasks created from now on succeed, but their output URL serves bytes that are not a video."""
        with self.lock:
            self._broken_file = True

    def _end_tasks(self, status: str, failure: str | None, code: str | None) -> None:
        with self.lock:
            self._ending = (status, failure, code)

    # --- the API ---------------------------------------------------------------------------------------

    def respond(self, request: ReceivedRequest) -> Reply:
        output = OUTPUT_PATH.fullmatch(request.path)
        if request.method == "GET" and output:
            return self._output(output.group(1), request.query.get("_jwt"))
        task = TASK_PATH.fullmatch(request.path)
        known_route = (request.method == "POST" and request.path in MODELS) or (request.method == "GET" and task)
        if not known_route:
            return _error(404, f"Cannot {request.method} {request.path}")
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Invalid API key")
        if request.headers.get("x-runway-version") != API_VERSION:
            return _error(400, "The API version that was provided in the X-Runway-Version header is not valid.")
        with self.lock:
            retry_after = self._rate_limits.pop(0) if self._rate_limits else None
        if retry_after is not None:
            return _error(429, "You have exceeded your rate limit.", {"Retry-After": retry_after})
        return self._task(task.group(1)) if task else self._create(request)

    def _create(self, request: ReceivedRequest) -> Reply:
        body = request.json
        if not request.headers.get("content-type", "").startswith("application/json") or not isinstance(body, dict):
            return _error(400, "The request body is not valid JSON.")
        refusal = _body_refusal(request.path, body)
        if refusal is not None:
            return refusal
        with self.lock:
            if self._submit_failures:
                status, error = self._submit_failures.pop(0)
                return _error(status, error)
            task_id = str(uuid.uuid4())
            prompt = str(body.get("promptText", "")).lower()
            ending = self._ending
            if any(word in prompt for word in self._moderated_words):
                ending = ("FAILED", "The input did not pass our review. Try a different prompt.", "SAFETY.INPUT.TEXT")
            self.tasks[task_id] = _Task(
                seconds=body.get("duration", MAX_SECONDS),
                token=uuid.uuid4().hex,
                polls_to_finish=self._polls_to_finish,
                queued_status=self._queued_status,
                ending=ending,
                broken_file=self._broken_file,
            )
        return Reply.json(200, {"id": task_id})

    def _task(self, task_id: str) -> Reply:
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None:
                return _error(404, "Task not found")
            task.polls += 1
            answer: dict[str, Any] = {"id": task_id, "createdAt": "2026-01-01T00:00:00.000Z"}
            if task.polls < task.polls_to_finish:
                answer["status"] = task.queued_status if task.polls == 1 else "RUNNING"
                if answer["status"] == "RUNNING":
                    answer["progress"] = round(task.polls / task.polls_to_finish, 2)
            elif task.ending is None:
                answer["status"] = "SUCCEEDED"
                answer["output"] = [f"{self.base_url}/outputs/{task_id}.mp4?_jwt={task.token}"]
            else:
                status, failure, code = task.ending
                answer["status"] = status
                if failure is not None:
                    answer |= {"failure": failure, "failureCode": code}
            self.reported.append(answer["status"])
        return Reply.json(200, answer)

    def _output(self, task_id: str, token: str | None) -> Reply:
        with self.lock:
            task = self.tasks.get(task_id)
        if task is None or token != task.token or task.ending is not None:
            return Reply(403, NOT_A_VIDEO, "application/xml")
        if task.broken_file:
            return Reply(200, b"\x00\x01 this is not an mp4 \xff" * 64, "video/mp4")
        with self._clip_lock:
            return Reply(200, clip_bytes(task.seconds), "video/mp4")


def _body_refusal(endpoint: str, body: dict[str, Any]) -> Reply | None:
    """Runway's 400 for a body its schema refuses, else None."""
    model = body.get("model")
    if model not in MODELS[endpoint]:
        return _invalid(
            {
                "code": "invalid_union",
                "errors": [],
                "note": "No matching discriminator",
                "discriminator": "model",
                "path": ["model"],
                "message": "Invalid input",
            }
        )
    required, ratios = MODELS[endpoint][model]
    missing = sorted(required - set(body))
    if missing:
        return _invalid({"code": "invalid_type", "path": [missing[0]], "message": "Invalid input: expected a value"})
    prompt = body.get("promptText", "x")
    if not isinstance(prompt, str) or not 1 <= len(prompt.encode("utf-16-le")) // 2 <= MAX_PROMPT_CHARS:
        return _invalid(
            {
                "code": "too_big",
                "path": ["promptText"],
                "message": f"Must be a string of 1 to {MAX_PROMPT_CHARS} characters",
            }
        )
    if body["ratio"] not in ratios:
        options = "|".join(f'"{ratio}"' for ratio in ratios)
        return _invalid(
            {
                "code": "invalid_value",
                "values": list(ratios),
                "path": ["ratio"],
                "message": f"Invalid option: expected one of {options}",
            }
        )
    seconds = body.get("duration", MAX_SECONDS)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not MIN_SECONDS <= seconds <= MAX_SECONDS:
        return _invalid(
            {
                "code": "invalid_value",
                "path": ["duration"],
                "message": f"Must be a whole number from {MIN_SECONDS} to {MAX_SECONDS}",
            }
        )
    if "promptImage" in body and not _acceptable_image(body["promptImage"]):
        return _invalid(
            {
                "code": "custom",
                "path": ["promptImage"],
                "message": "Must be an https URL on a domain or an image data URI of at most 5MB",
            }
        )
    return None


def _acceptable_image(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    data_uri = DATA_URI.fullmatch(value)
    if data_uri:
        try:
            base64.b64decode(data_uri.group(2), validate=True)
        except binascii.Error:
            return False
        return len(value) <= MAX_DATA_URI_CHARS
    url = urlsplit(value)
    if url.scheme != "https" or not url.hostname:
        return False
    try:
        ipaddress.ip_address(url.hostname)
    except ValueError:
        return True  # a domain name, as Runway requires
    return False


@contextmanager
def fake_runway_video(api_key: str = DEFAULT_API_KEY) -> Iterator[FakeRunwayVideo]:
    """Serve the fake on a free 127.0.0.1 port; yields it (`api_url` ends in /v1, like Runway's base URL)."""
    with serve(FakeRunwayVideo(api_key), name="fake-runway-video") as fake:
        yield fake
