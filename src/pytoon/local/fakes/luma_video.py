"""A fake Luma Dream Machine video API on 127.0.0.1, a real HTTP server in a thread.

It checks a request as Luma does: `Authorization: Bearer <key>` (401 otherwise), `POST
/dream-machine/v1/generations/video` with a JSON body whose `model` is a Ray model, `prompt` of 3-5000
characters (it may be left out only when an image keyframe is given), `aspect_ratio`, `duration` ("5s" or
"9s") and `resolution` from Luma's lists, keyframes `frame0`/`frame1` that are `{type: image, url}` with an
https URL or `{type: generation, id}`, a boolean `loop`, an http(s) `callback_url`. A refusal is Luma's
`{"detail": "..."}`, with 400; other fields are let through. The answer is the generation object (201).

A generation goes queued, dreaming, then completed after `polls` steps (3 unless scripted). A step is a
status request (`GET /dream-machine/v1/generations/{id}`) or a call of `advance(id)`, which stands for Luma
getting on with it while nobody asks (a job waiting for the callback). On every change to dreaming, completed
or failed, a generation created with a `callback_url` gets the generation object POSTed there, retried 3
times 100 ms apart until it is answered 200, as Luma does. A completed generation's `assets.video` is a URL
on the fake serving a real H.264 MP4: 720x1280 at 12 fps, the requested seconds long, every frame CLIP_COLOUR.

    with fake_luma_video() as fake:
        fake.fail_submit(500)             # or fake.rate_limit(retry_after="7"), fake.moderate(),
                                          # fake.moderate_words("fight"),
        fake.fail_task("Job failed")      # fake.slow(5), fake.broken_file()
        monkeypatch.setenv("LUMA_BASE_URL", fake.api_url)
        ...
        fake.received("POST", "/dream-machine/v1/generations/video")[0].json    # what the client sent
        fake.reported                     # each state a status request was answered, in order
        fake.finish(generation_id)        # run it to its end (delivering its callbacks)
        fake.deliveries                   # every callback attempt: url, body, status (None: unreachable)
"""

from __future__ import annotations

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

import httpx

from pytoon.local.fakes.clips import solid_clip
from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve

DEFAULT_API_KEY = "luma-fake-secret"
API_PREFIX = "/dream-machine/v1"
CREATE_PATH = f"{API_PREFIX}/generations/video"
GENERATION_PATH = re.compile(rf"{API_PREFIX}/generations/([^/]+)")
VIDEO_PATH = re.compile(r"/cdn/([^/]+)/video\.mp4")
CLIP_COLOUR = (30, 170, 210)
CLIP_SIZE = (720, 1280)
CLIP_FPS = 12
MODELS = ("ray-1-6", "ray-2", "ray-flash-2")
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")
DURATIONS = {"5s": 5, "9s": 9}
RESOLUTIONS = ("540p", "720p", "1080p", "4k")
MIN_PROMPT_CHARS, MAX_PROMPT_CHARS = 3, 5000
PROMPT_REFUSAL = "Advanced prompt moderation failed"
BLOCKLIST_REFUSAL = "Contains blacklisted words"
# Luma's callback delivery: retried this many times, this far apart, each attempt with this timeout.
CALLBACK_RETRIES, CALLBACK_RETRY_DELAY, CALLBACK_TIMEOUT = 3, 0.1, 5.0
CREATED_AT = "2026-01-01T00:00:00.000Z"
NOT_A_VIDEO = b"<html><body>404 Not Found</body></html>"


def _detail(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply.json(status, {"detail": message}, headers)


@cache
def clip_bytes(seconds: int) -> bytes:
    """The MP4 every completed generation of this length serves (made once per length)."""
    with tempfile.TemporaryDirectory() as work:
        clip = solid_clip(Path(work) / "clip.mp4", seconds=seconds, fps=CLIP_FPS, size=CLIP_SIZE, colour=CLIP_COLOUR)
        return clip.read_bytes()


@dataclass(frozen=True)
class Delivery:
    url: str
    body: dict[str, Any]
    status: int | None  # None when the receiver could not be reached


@dataclass
class _Generation:
    request: dict[str, Any]
    seconds: int
    steps_to_finish: int
    failure_reason: str | None  # set when the generation is to fail
    broken_file: bool
    steps: int = 0


class FakeLumaVideo(LoopbackFake):
    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.generations: dict[str, _Generation] = {}
        self.reported: list[str] = []
        self.deliveries: list[Delivery] = []
        self._submit_failures: list[tuple[int, str]] = []
        self._rate_limits: list[str] = []
        self._steps_to_finish = 3
        self._failure_reason: str | None = None
        self._broken_file = False
        self._blocked_words: tuple[str, ...] = ()
        self._clip_lock = threading.Lock()

    @property
    def api_url(self) -> str:
        return f"{self.base_url}{API_PREFIX}"

    # --- scripting -------------------------------------------------------------------------------------

    def fail_submit(self, status: int, detail: str = "Internal server error", times: int = 1) -> None:
        """The next `times` generation requests are answered `status` with Luma's error body."""
        with self.lock:
            self._submit_failures += [(status, detail)] * times

    def rate_limit(self, retry_after: str = "1", times: int = 1) -> None:
        """The next `times` API requests (creations or status reads) are answered 429 with this Retry-After."""
        with self.lock:
            self._rate_limits += [retry_after] * times

    def moderate(self, reason: str = PROMPT_REFUSAL) -> None:
        """Generations created from now on fail as Luma's moderation fails them, with this failure_reason."""
        self.fail_task(reason)

    def moderate_words(self, *words: str) -> None:
        """Generations created from now on whose prompt contains any of `words` fail with Luma's blocklist
        refusal (a rephrased prompt without them passes)."""
        with self.lock:
            self._blocked_words = tuple(w.lower() for w in words)

    def fail_task(self, reason: str) -> None:
        """Generations created from now on end `failed` with this failure_reason."""
        with self.lock:
            self._failure_reason = reason

    def slow(self, polls: int) -> None:
        """Generations created from now on finish on their `polls`-th step."""
        with self.lock:
            self._steps_to_finish = polls

    def broken_file(self) -> None:
        """Generations created from now on complete, but their video URL serves bytes that are not a video."""
        with self.lock:
            self._broken_file = True

    # --- Luma getting on with a generation --------------------------------------------------------------

    def advance(self, generation_id: str) -> dict[str, Any]:
        """One step of the generation, as if Luma's workers moved it on; its object afterwards."""
        document, changed = self._step(generation_id)
        if changed:
            self._deliver(generation_id, document)
        return document

    def finish(self, generation_id: str) -> dict[str, Any]:
        """Step the generation until it is completed or failed; its final object."""
        while True:
            document = self.advance(generation_id)
            if document["state"] in ("completed", "failed"):
                return document

    def _step(self, generation_id: str) -> tuple[dict[str, Any], bool]:
        with self.lock:
            generation = self.generations[generation_id]
            before = self._state(generation)
            generation.steps += 1
            document = self._document(generation_id, generation)
        return document, document["state"] != before

    @staticmethod
    def _state(generation: _Generation) -> str:
        if generation.steps < generation.steps_to_finish:
            return "queued" if generation.steps <= 1 else "dreaming"
        return "completed" if generation.failure_reason is None else "failed"

    def _document(self, generation_id: str, generation: _Generation) -> dict[str, Any]:
        state = self._state(generation)
        video = f"{self.base_url}/cdn/{generation_id}/video.mp4" if state == "completed" else None
        return {
            "id": generation_id,
            "generation_type": "video",
            "state": state,
            "failure_reason": generation.failure_reason if state == "failed" else None,
            "created_at": CREATED_AT,
            "assets": {"video": video} if video else None,
            "model": generation.request["model"],
            "request": generation.request,
        }

    def _deliver(self, generation_id: str, document: dict[str, Any]) -> None:
        """POST the generation object to its callback_url, as Luma does on each change of state."""
        with self.lock:
            url = self.generations[generation_id].request.get("callback_url")
        if not url:
            return
        for attempt in range(1 + CALLBACK_RETRIES):
            if attempt:
                self.stopping.wait(CALLBACK_RETRY_DELAY)
            try:
                status: int | None = httpx.post(url, json=document, timeout=CALLBACK_TIMEOUT).status_code
            except httpx.HTTPError:
                status = None
            delivery = Delivery(url, document, status)
            with self.lock:
                self.deliveries.append(delivery)
            if status == 200:
                return

    # --- the API ---------------------------------------------------------------------------------------

    def respond(self, request: ReceivedRequest) -> Reply:
        video = VIDEO_PATH.fullmatch(request.path)
        if request.method == "GET" and video:
            return self._video(video.group(1))
        generation = GENERATION_PATH.fullmatch(request.path)
        creating = request.method == "POST" and request.path == CREATE_PATH
        if not (creating or (request.method == "GET" and generation)):
            return _detail(404, "Not Found")
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _detail(401, "Invalid API key provided")
        with self.lock:
            retry_after = self._rate_limits.pop(0) if self._rate_limits else None
        if retry_after is not None:
            return _detail(429, "Too many requests, please slow down", {"Retry-After": retry_after})
        return self._create(request) if creating else self._status(generation.group(1))

    def _create(self, request: ReceivedRequest) -> Reply:
        body = request.json
        if not request.headers.get("content-type", "").startswith("application/json") or not isinstance(body, dict):
            return _detail(400, "Invalid JSON body")
        refusal = _body_refusal(body)
        if refusal is not None:
            return _detail(400, refusal)
        with self.lock:
            if self._submit_failures:
                return _detail(*self._submit_failures.pop(0))
            generation_id = str(uuid.uuid4())
            prompt = str(body.get("prompt", "")).lower()
            blocked = any(word in prompt for word in self._blocked_words)
            generation = _Generation(
                request=body,
                seconds=DURATIONS[body.get("duration", "5s")],
                steps_to_finish=self._steps_to_finish,
                failure_reason=BLOCKLIST_REFUSAL if blocked else self._failure_reason,
                broken_file=self._broken_file,
            )
            self.generations[generation_id] = generation
            document = self._document(generation_id, generation)
        return Reply.json(201, document)

    def _status(self, generation_id: str) -> Reply:
        with self.lock:
            known = generation_id in self.generations
        if not known:
            return _detail(404, "Generation not found")
        document = self.advance(generation_id)
        with self.lock:
            self.reported.append(document["state"])
        return Reply.json(200, document)

    def _video(self, generation_id: str) -> Reply:
        with self.lock:
            generation = self.generations.get(generation_id)
            completed = generation is not None and self._state(generation) == "completed"
        if not completed:
            return Reply(404, NOT_A_VIDEO, "text/html")
        if generation.broken_file:
            return Reply(200, b"\x00\x01 this is not an mp4 \xff" * 64, "video/mp4")
        with self._clip_lock:
            return Reply(200, clip_bytes(generation.seconds), "video/mp4")


def _body_refusal(body: dict[str, Any]) -> str | None:
    """Luma's detail for a generation request it refuses, else None."""
    if body.get("model") not in MODELS:
        return f"Invalid model: {body.get('model')!r}, expected one of {', '.join(MODELS)}"
    if body.get("generation_type", "video") != "video":
        return "Unknown request type"
    keyframes = body.get("keyframes")
    if keyframes is not None:
        problem = _keyframes_refusal(keyframes)
        if problem is not None:
            return problem
    has_image = isinstance(keyframes, dict) and any(
        isinstance(frame, dict) and frame.get("type") == "image" for frame in keyframes.values()
    )
    prompt = body.get("prompt")
    if prompt is None and not has_image:
        return "Prompt is required"
    if prompt is not None:
        if not isinstance(prompt, str) or len(prompt) < MIN_PROMPT_CHARS:
            return f"Prompt is too short, minimum length is {MIN_PROMPT_CHARS} characters"
        if len(prompt) > MAX_PROMPT_CHARS:
            return f"Prompt is too long, maximum length is {MAX_PROMPT_CHARS} characters"
    for name, allowed in (("aspect_ratio", ASPECT_RATIOS), ("duration", tuple(DURATIONS)), ("resolution", RESOLUTIONS)):
        if name in body and body[name] not in allowed:
            return f"Invalid {name}: {body[name]!r}, expected one of {', '.join(allowed)}"
    if "loop" in body and not isinstance(body["loop"], bool):
        return "Invalid loop: expected a boolean"
    if "callback_url" in body and not _is_url(body["callback_url"], ("http", "https")):
        return "Invalid callback_url: expected an http(s) URL"
    return None


def _keyframes_refusal(keyframes: Any) -> str | None:
    if not isinstance(keyframes, dict) or not keyframes or set(keyframes) - {"frame0", "frame1"}:
        return "No keyframes provided"
    for name, frame in keyframes.items():
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == "image" and _is_url(frame.get("url"), ("https",)):
            continue
        if kind == "generation" and isinstance(frame.get("id"), str):
            continue
        return f"Invalid keyframe {name}: expected {{type: image, url}} with an https URL or {{type: generation, id}}"
    return None


def _is_url(value: Any, schemes: tuple[str, ...]) -> bool:
    if not isinstance(value, str):
        return False
    url = urlsplit(value)
    return url.scheme in schemes and bool(url.hostname)


@contextmanager
def fake_luma_video(api_key: str = DEFAULT_API_KEY) -> Iterator[FakeLumaVideo]:
    """Serve the fake on a free 127.0.0.1 port; yields it (`api_url` ends in /dream-machine/v1, like Luma's)."""
    with serve(FakeLumaVideo(api_key), name="fake-luma-video") as fake:
        yield fake
