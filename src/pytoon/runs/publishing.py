"""Publishing a production run's rendered video, behind one interface.

A publisher's `publish(request)` starts publishing and says how it went: `published` (with the post's URL),
`failed` (with a readable reason), or `pending` when the provider publishes in the background or asked us to
come back later. The state machine waits, then calls `poll(request, request_id)`, or `publish` again when a
pending result carries no request id. Nothing here waits on a provider.

`publisher_for(settings)` picks the publisher from the environment:

- Upload-Post when a profile is configured (`UPLOAD_POST_USER`, its key in `UPLOAD_POST_API_KEY` or the Secrets
  Manager secret named by `UPLOAD_POST_API_KEY_SECRET_ARN`, the API at `UPLOAD_POST_BASE_URL`, by default
  https://api.upload-post.com/api);
- else the bucket publisher (the embedded default): the MP4 is copied within the artifacts bucket to
  `published/{tenant_id}/{run_id}.mp4` and its presigned URL returned; published at once.

Upload-Post's API, as this module speaks it. Every request carries `Authorization: Apikey <key>`.

- `POST /api/upload`, a multipart form: `user` (the profile), `platform[]` once per platform, `video` (the
  file), `title`, `description` (shown by LinkedIn, Facebook, YouTube and Pinterest only), `{platform}_title`
  (that platform's text instead of the title), `async_upload`.
- Synchronously it answers the outcome, `{"success": true, "results": {platform: {"success": true, "url": ...}
  | {"success": false, "error": ...}}, "usage": {...}}`; an upload that takes longer than 59 s carries on in the
  background and is answered like an asynchronous one: `{"success": true, "message", "request_id"}`.
- `GET /api/uploadposts/status?request_id=` reports a background upload: `status` pending, queued, processing or
  in_progress, then completed or failed (every platform failed); `results` a list of `{"platform", "success",
  "post_url" | "error_message", ...}`; a 404 (`not_found`) for an id it does not know.
- Errors: 401 `{"success": false, "message": "Invalid or expired token"}`, 429 (with Retry-After) when the key's
  rate is used up, 4xx `{"success": false, "error" | "message"}`, 5xx `{"error", "details"}`.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, Field

from pytoon.aws.storage import ArtifactStore, ObjectNotFoundError
from pytoon.config import Settings
from pytoon.video_engines.base import REASON_CHARS, EngineAccess, EngineError, api_request, retry_after_seconds

PublishState = Literal["published", "pending", "failed"]

BUCKET_PUBLISHER = "bucket"
PUBLISHED_PREFIX = "published"

UPLOAD_POST_PUBLISHER = "upload-post"
UPLOAD_POST = "Upload-Post"  # as reasons name it
ENV_PREFIX = "UPLOAD_POST"
KEY_VARIABLE = "UPLOAD_POST_API_KEY"
DEFAULT_UPLOAD_POST_BASE_URL = "https://api.upload-post.com/api"
UPLOAD_ENDPOINT = "/upload"
STATUS_ENDPOINT = "/uploadposts/status"
# A synchronous upload is answered within 59 s (after that Upload-Post carries it on in the background), so the
# wait for its answer is longer; the video itself streams out in pieces.
UPLOAD_TIMEOUT = httpx.Timeout(90.0, connect=10.0)
STATUS_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# Platforms whose post shows only the title (`description` goes to LinkedIn, Facebook, YouTube and Pinterest):
# their title is the whole post, hook and hashtags included.
TITLE_IS_THE_POST = frozenset({"tiktok", "instagram", "x", "threads"})
FINISHED_STATUSES = frozenset({"completed", "failed"})
# A platform's own status while its part of a background upload has not finished.
RUNNING_STATUSES = frozenset({"pending", "queued", "processing", "in_progress"})


class PublishRequest(BaseModel):
    run_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    # The rendered MP4 in the artifacts bucket.
    video_key: str = Field(min_length=1)
    title: str
    caption: str = ""
    hashtags: list[str] = Field(default_factory=list)
    # Platform names as the publisher knows them: tiktok, instagram, youtube...
    targets: list[str] = Field(default_factory=list)


class PlatformOutcome(BaseModel):
    state: PublishState
    url: str | None = None
    reason: str | None = None


class PublishResult(BaseModel):
    state: PublishState
    publisher: str
    # The published video (the first platform's post when there are several).
    url: str | None = None
    # The provider's id of a publish still in progress, for `poll`.
    request_id: str | None = None
    reason: str | None = None
    platforms: dict[str, PlatformOutcome] = Field(default_factory=dict)
    # How long the provider asked us to wait before the next call (a 429's Retry-After), when it said.
    wait_seconds: int | None = None


class Publisher(Protocol):
    name: str

    def publish(self, request: PublishRequest) -> PublishResult:
        """Start publishing; never raises for what the provider answered (that is a `failed` result)."""
        ...

    def poll(self, request: PublishRequest, request_id: str) -> PublishResult:
        """How a `pending` publish is doing now, asked once."""
        ...


def published_key(tenant_id: str, run_id: str) -> str:
    """Where the bucket publisher puts a run's video (a URL for it can be signed again from this key)."""
    return f"{PUBLISHED_PREFIX}/{tenant_id}/{run_id}.mp4"


class BucketPublisher:
    """The embedded default: the video is copied to the bucket's published/ prefix and shared by presigned URL."""

    name = BUCKET_PUBLISHER

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def publish(self, request: PublishRequest) -> PublishResult:
        key = published_key(request.tenant_id, request.run_id)
        try:
            self.store.copy(request.video_key, key)
        except ObjectNotFoundError:
            return PublishResult(
                state="failed", publisher=self.name, reason=f"the rendered video {request.video_key} is not in storage"
            )
        return PublishResult(state="published", publisher=self.name, url=self.store.url(key))

    def poll(self, request: PublishRequest, request_id: str) -> PublishResult:
        # Nothing is ever pending here; asked anyway (a retried step), the copy is simply made again.
        return self.publish(request)


@dataclass(frozen=True)
class UploadPostPublisher:
    """Posts the video to the request's platforms through one Upload-Post profile. In the background by default
    (`async_upload`: the answer is a request id, polled by the state machine); synchronously otherwise, when
    Upload-Post answers the outcome within its 59 s (or a request id after them)."""

    store: ArtifactStore
    user: str
    work_dir: Path
    async_upload: bool = True
    name: str = UPLOAD_POST_PUBLISHER

    def publish(self, request: PublishRequest) -> PublishResult:
        if not request.targets:
            return self._failed(f"{UPLOAD_POST}: the run names no platform to publish to")
        try:
            access = _access()
        except EngineError as exc:
            return self._failed(exc.reason)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="publish-") as work:
            try:
                video = self.store.download(request.video_key, Path(work) / "video.mp4")
            except ObjectNotFoundError:
                return self._failed(f"the rendered video {request.video_key} is not in storage")
            with video.open("rb") as stream, httpx.Client(timeout=UPLOAD_TIMEOUT, follow_redirects=False) as http:
                try:
                    response = _call(
                        http,
                        access,
                        "POST",
                        UPLOAD_ENDPOINT,
                        data=self._form(request),
                        files={"video": (f"{request.run_id}.mp4", stream, "video/mp4")},
                    )
                except EngineError as exc:
                    return self._failed(exc.reason)
        answered = self._refusal(response, request_id=None, accepted=False)
        if answered is not None:
            return answered
        document = _json_object(response)
        if document is None:
            return self._failed(f"{UPLOAD_POST}: the upload answer is not a JSON object: {_said(response)}")
        if document.get("success") is False:
            return self._failed(f"{UPLOAD_POST} refused the upload: {_said(response)}")
        results = document.get("results")
        if isinstance(results, dict):
            return self._outcome(
                request, {p: _platform_outcome(results.get(p), finished=True) for p in request.targets}
            )
        request_id = document.get("request_id")
        if isinstance(request_id, str) and request_id:
            pending = {platform: PlatformOutcome(state="pending") for platform in request.targets}
            return PublishResult(state="pending", publisher=self.name, request_id=request_id, platforms=pending)
        return self._failed(f"{UPLOAD_POST}: the upload answer has neither results nor a request id: {_said(response)}")

    def poll(self, request: PublishRequest, request_id: str) -> PublishResult:
        try:
            access = _access()
        except EngineError as exc:
            return self._failed(exc.reason, request_id)
        with httpx.Client(timeout=STATUS_TIMEOUT, follow_redirects=False) as http:
            try:
                response = _call(http, access, "GET", STATUS_ENDPOINT, params={"request_id": request_id})
            except EngineError as exc:
                # The upload was accepted and goes on without us: unreachable now is not failed (the run's
                # publish timeout bounds the wait).
                return self._pending(request_id, exc.reason)
        if response.status_code == 404:
            return self._failed(f"{UPLOAD_POST} knows no upload {request_id}: {_said(response)}", request_id)
        answered = self._refusal(response, request_id=request_id, accepted=True)
        if answered is not None:
            return answered
        document = _json_object(response)
        if document is None:
            return self._pending(
                request_id, f"{UPLOAD_POST}: the status answer is not a JSON object: {_said(response)}"
            )
        finished = document.get("status") in FINISHED_STATUSES
        results = document.get("results")
        reported = (
            {str(r.get("platform")): r for r in results if isinstance(r, dict)} if isinstance(results, list) else {}
        )
        platforms = {p: _platform_outcome(reported.get(p), finished=finished) for p in request.targets}
        return self._outcome(request, platforms, request_id)

    def _form(self, request: PublishRequest) -> dict[str, Any]:
        tags = _hashtags(request.hashtags)
        form: dict[str, Any] = {
            "user": self.user,
            "platform[]": list(request.targets),
            "title": request.title,
            "async_upload": "true" if self.async_upload else "false",
        }
        description = _paragraphs(request.caption, tags)
        if description:
            form["description"] = description
        post_text = _paragraphs(request.title, request.caption, tags)
        for platform in request.targets:
            if platform in TITLE_IS_THE_POST:
                form[f"{platform}_title"] = post_text
        return form

    def _refusal(self, response: httpx.Response, *, request_id: str | None, accepted: bool) -> PublishResult | None:
        """What an error status means, or None for a success. `accepted`: Upload-Post already has the video
        (a status read), so a server error there leaves the publish pending rather than failed."""
        status = response.status_code
        if status < 400:
            return None
        if status == 429:
            wait = math.ceil(retry_after_seconds(response))
            reason = f"{UPLOAD_POST}: rate limited (HTTP 429): {_said(response)}; asking again after {wait} s"
            return self._pending(request_id, reason, wait_seconds=wait)
        if status >= 500:
            reason = f"{UPLOAD_POST} is unavailable (HTTP {status}): {_said(response)}"
            return self._pending(request_id, reason) if accepted else self._failed(reason, request_id)
        return self._failed(f"{UPLOAD_POST} refused the request (HTTP {status}): {_said(response)}", request_id)

    def _outcome(
        self, request: PublishRequest, platforms: dict[str, PlatformOutcome], request_id: str | None = None
    ) -> PublishResult:
        states = {outcome.state for outcome in platforms.values()}
        failed = {platform: outcome for platform, outcome in platforms.items() if outcome.state == "failed"}
        state: PublishState = "pending" if "pending" in states else "failed" if states == {"failed"} else "published"
        reason = None
        if failed:
            details = "; ".join(f"{platform} ({outcome.reason})" for platform, outcome in failed.items())
            reason = f"{UPLOAD_POST} could not publish on {details}"
        url = next((platforms[p].url for p in request.targets if platforms[p].state == "published"), None)
        return PublishResult(
            state=state, publisher=self.name, url=url, request_id=request_id, reason=reason, platforms=platforms
        )

    def _pending(self, request_id: str | None, reason: str, wait_seconds: int | None = None) -> PublishResult:
        return PublishResult(
            state="pending", publisher=self.name, request_id=request_id, reason=reason, wait_seconds=wait_seconds
        )

    def _failed(self, reason: str, request_id: str | None = None) -> PublishResult:
        return PublishResult(state="failed", publisher=self.name, request_id=request_id, reason=reason)


def _access() -> EngineAccess:
    return EngineAccess.from_environment(ENV_PREFIX, DEFAULT_UPLOAD_POST_BASE_URL)


def _call(http: httpx.Client, access: EngineAccess, method: str, endpoint: str, **content: Any) -> httpx.Response:
    return api_request(
        http,
        access,
        method,
        endpoint,
        engine=UPLOAD_POST,
        key_variable=KEY_VARIABLE,
        headers=lambda key: {"Authorization": f"Apikey {key}"},
        **content,
    )


def _platform_outcome(result: Any, *, finished: bool) -> PlatformOutcome:
    """One platform's part, from the upload answer's `results[platform]` or a status answer's result."""
    if not isinstance(result, dict) or result.get("success") is None:
        return (
            PlatformOutcome(state="failed", reason="no outcome reported")
            if finished
            else PlatformOutcome(state="pending")
        )
    if result["success"] is False:
        reason = _text(result.get("error_message")) or _text(result.get("error")) or _text(result.get("message"))
        return PlatformOutcome(state="failed", reason=reason or "no reason given")
    if not finished and result.get("status") in RUNNING_STATUSES:
        return PlatformOutcome(state="pending")
    return PlatformOutcome(state="published", url=_text(result.get("post_url")) or _text(result.get("url")))


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        document = response.json()
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _said(response: httpx.Response) -> str:
    """The provider's own words in an answer: its message, error and details, else the body itself (shortened)."""
    document = _json_object(response) or {}
    words = [text for name in ("message", "error", "details") if (text := _text(document.get(name)))]
    said = ": ".join(words) if words else " ".join(response.text.split())
    return said[:REASON_CHARS] or "no answer body"


def _text(value: Any) -> str | None:
    """A non-blank string, stripped; None for anything else."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _hashtags(tags: list[str]) -> str:
    """`#tag` words (a tag's own # and spaces dropped), space-separated."""
    words = ("".join(tag.lstrip("#").split()) for tag in tags)
    return " ".join(f"#{word}" for word in words if word)


def _paragraphs(*parts: str) -> str:
    return "\n\n".join(part.strip() for part in parts if part.strip())


def publisher_for(settings: Settings) -> Publisher:
    """Upload-Post when a profile is configured (UPLOAD_POST_USER), else the bucket publisher. Upload-Post posts
    in the background unless UPLOAD_POST_ASYNC_UPLOAD is false."""
    store = ArtifactStore.from_settings(settings)
    user = os.environ.get("UPLOAD_POST_USER", "").strip()
    if not user:
        return BucketPublisher(store)
    asynchronous = os.environ.get("UPLOAD_POST_ASYNC_UPLOAD", "true").strip().lower() not in ("false", "0", "no")
    return UploadPostPublisher(store, user, settings.work_dir, async_upload=asynchronous)
