"""What every external video engine adapter shares: the request it is given, what it answers, how it fails,
and the download and checks every generated clip goes through.

An adapter speaks one provider's documented HTTP API and nothing else: `submit` starts a generation and
returns the provider's task id at once, `status` asks once how that task is doing, `download` fetches a
finished clip. Waiting is not the adapter's business: the render job waits between calls (or for the
provider's callback), so no process sits on a generation that takes minutes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pytoon.config import api_base_url
from pytoon.errors import PytoonError

if TYPE_CHECKING:
    # httpx is imported where a request is made: a render that calls no engine never loads it (with the CLI
    # it imports when click and rich are installed, about 60 ms).
    import httpx

# Clips are requested in portrait, the output's orientation; the renderer cover-fits them to 1080×1920.
ASPECT_RATIO = "9:16"
# A generated clip is a few seconds of video: far below this, which only stops a runaway download.
MAX_CLIP_BYTES = 200 * 1024 * 1024
# Each HTTP request to a provider: connecting, and waiting between bytes. Generation itself is not waited on.
REQUEST_TIMEOUT_SECONDS, CONNECT_TIMEOUT_SECONDS = 30.0, 10.0


class EngineError(PytoonError):
    """A request the provider did not carry out; `reason` is readable and names the engine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ModerationRefused(EngineError):
    """The provider refused the prompt or image on content grounds (worth one rephrased attempt)."""


class RateLimited(EngineError):
    """HTTP 429: try this engine again after `retry_after_seconds` (the provider's Retry-After, else a default)."""

    def __init__(self, reason: str, retry_after_seconds: float) -> None:
        super().__init__(reason)
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class ImageInput:
    """The scene's picture for image-to-video: an https URL the provider can fetch (a short-lived presigned
    link), and the file itself for providers that take an upload instead."""

    url: str
    path: Path
    content_type: str


@dataclass(frozen=True)
class ClipRequest:
    prompt: str
    # The length the engine is asked for: one of its allowed durations (see `engine_seconds`).
    seconds: int
    image: ImageInput | None = None
    # Where a provider with callbacks reports the finished task (None: the job polls instead).
    callback_url: str | None = None


class TaskState(StrEnum):
    RUNNING = "running"  # queued, or generating
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class TaskStatus:
    state: TaskState
    # Where the finished clip is (the provider's output URL, or its content endpoint).
    video_url: str | None = None
    # Why a FAILED task failed, in the provider's words; `moderated` when it was a content refusal.
    reason: str | None = None
    moderated: bool = False


@dataclass(frozen=True)
class EngineAccess:
    """A provider's key and API base URL, from `<PREFIX>_API_KEY` (or its Secrets Manager ARN,
    `<PREFIX>_API_KEY_SECRET_ARN`) and `<PREFIX>_BASE_URL`."""

    api_key: str | None
    base_url: str

    @classmethod
    def from_environment(cls, prefix: str, default_base_url: str) -> EngineAccess:
        from pytoon.aws.secrets import secret  # boto3 only where a secret ARN is configured

        base = os.environ.get(f"{prefix}_BASE_URL", "").strip() or default_base_url
        try:
            base = api_base_url(base)
        except ValueError as exc:
            raise EngineError(f"{prefix}_BASE_URL is invalid ({base!r}): {exc}") from None
        return cls(api_key=secret(f"{prefix}_API_KEY"), base_url=base)


class VideoEngine(Protocol):
    """One provider's adapter."""

    name: str
    # The clip lengths (seconds) the provider can be asked for, ascending.
    durations: Sequence[int]
    supports_image: bool
    # Whether the provider calls back when a task finishes (else the job polls `status`).
    calls_back: bool

    def access(self) -> EngineAccess: ...

    def submit(self, http: httpx.Client, access: EngineAccess, request: ClipRequest) -> str:
        """Start a generation; the provider's task id. Raises ModerationRefused, RateLimited or EngineError."""
        ...

    def status(self, http: httpx.Client, access: EngineAccess, task_id: str) -> TaskStatus:
        """The task as the provider reports it now. Raises RateLimited or EngineError."""
        ...

    def download(self, http: httpx.Client, access: EngineAccess, status: TaskStatus, path: Path) -> Path:
        """Fetch a SUCCEEDED task's clip to `path` (see `download_clip`)."""
        ...


def unavailable_reason(engine: VideoEngine) -> str | None:
    """Why the engine cannot be used now (no key configured), or None: a missing key is not a failure."""
    if engine.access().api_key is None:
        return f"{engine.name} has no API key configured"
    return None


def engine_seconds(durations: Sequence[int], scene_seconds: float) -> int:
    """The length to ask an engine for: the shortest it allows that covers the scene, else its longest (the
    clip is then trimmed, or held on its last frame, to the scene's exact frames)."""
    return next((d for d in sorted(durations) if d >= scene_seconds), max(durations))


def retry_after_seconds(response: httpx.Response, default: float = 10.0) -> float:
    """A 429's Retry-After in seconds (the delta form; an unreadable value means `default`)."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return default


# Words in a 400/422 answer (or a failed task's reason) that mean a content refusal, as the providers word it.
MODERATION_MARKERS = ("moderation", "safety", "content policy", "inappropriate")
# How much of a provider's error body a reason quotes.
REASON_CHARS = 300


def is_moderation(text: str | None) -> bool:
    return bool(text) and any(marker in text.lower() for marker in MODERATION_MARKERS)


def checked(response: httpx.Response, engine: str) -> httpx.Response:
    """The response when it is a success; else RateLimited (429), ModerationRefused (a 400/422 on content
    grounds) or EngineError quoting the provider's answer."""
    if response.status_code < 400:
        return response
    said = " ".join(response.text.split())[:REASON_CHARS]
    if response.status_code == 429:
        raise RateLimited(f"{engine}: rate limited (HTTP 429): {said}", retry_after_seconds(response))
    if response.status_code in (400, 422) and is_moderation(said):
        raise ModerationRefused(f"{engine}: refused by content moderation: {said}")
    raise EngineError(f"{engine}: HTTP {response.status_code}: {said}")


def json_object(response: httpx.Response, engine: str) -> dict:
    """A successful answer's JSON object; EngineError when it is not one."""
    try:
        document = checked(response, engine).json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise EngineError(f"{engine}: the answer is not a JSON object: {response.text[:REASON_CHARS]!r}")
    return document


def api_request(
    http: httpx.Client,
    access: EngineAccess,
    method: str,
    endpoint: str,
    *,
    engine: str,
    key_variable: str,
    headers: Callable[[str], dict[str, str]],
    **content: Any,
) -> httpx.Response:
    """One call to a provider's API at `access.base_url + endpoint`, with the headers `headers` makes of the key
    (and the `json`, `files`... of `content`); EngineError when no key is configured or the provider cannot be
    reached. The caller judges the answer (`checked`, `json_object`)."""
    import httpx

    if access.api_key is None:
        raise EngineError(f"{engine}: no API key configured ({key_variable})")
    try:
        return http.request(method, f"{access.base_url}{endpoint}", headers=headers(access.api_key), **content)
    except httpx.HTTPError as exc:
        raise EngineError(f"{engine}: {method} {endpoint} failed: {exc}") from exc


def download_clip(
    http: httpx.Client, url: str, path: Path, *, headers: dict[str, str] | None = None, engine: str
) -> Path:
    """Stream a clip to `path`: https only (plain http on loopback, for tests and local proxies), at most
    MAX_CLIP_BYTES, a 2xx answer. The caller checks that it is a playable video before using it."""
    import httpx

    try:
        api_base_url(url.split("?", 1)[0])
    except ValueError as exc:
        raise EngineError(f"{engine}: the clip URL is refused: {exc}") from None
    size = 0
    try:
        with http.stream("GET", url, headers=headers or {}, follow_redirects=True) as response:
            if response.status_code >= 400:
                raise EngineError(f"{engine}: downloading the clip answered HTTP {response.status_code}")
            with path.open("wb") as out:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_CLIP_BYTES:
                        raise EngineError(f"{engine}: the clip is larger than {MAX_CLIP_BYTES // 2**20} MB")
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise EngineError(f"{engine}: downloading the clip failed: {exc}") from exc
    if size == 0:
        raise EngineError(f"{engine}: the clip is empty")
    return path


def http_client() -> httpx.Client:
    """The client every adapter call goes through: bounded waits, no redirects on API calls."""
    import httpx

    timeout = httpx.Timeout(REQUEST_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)
    return httpx.Client(timeout=timeout, follow_redirects=False)
