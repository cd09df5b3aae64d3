"""A fake Upload-Post API on 127.0.0.1, a real HTTP server in a thread.

It checks a request as Upload-Post does: `Authorization: Apikey <key>` (401 `{"success": false, "message":
"Invalid or expired token"}` otherwise). `POST /api/upload` takes a multipart form: `user` (the profile, which
must exist), `platform[]` once per platform (each one Upload-Post posts to), `video` (a file, which must be an
MP4: its first box is `ftyp`), `title`; optional `description`, `{platform}_title`, `async_upload`. A refused
form is a 400 `{"success": false, "error": ...}`. Every upload is recorded in `uploads`.

Without `async_upload=true` the answer is the outcome: `{"success": true, "results": {platform: {"success":
true, "url": <the post>} | {"success": false, "error": ...}}, "usage": {...}}`. With it (or for a synchronous
upload scripted to take longer than Upload-Post waits, `background()`), the answer is `{"success": true,
"message", "request_id"}` and `GET /api/uploadposts/status?request_id=` reports it: `pending` with no results,
`in_progress` with some, then `completed` (or `failed` when every platform failed) on the `polls`-th status
request (3 unless scripted), each result `{"platform", "success", "message", "post_url" | "error_message",
"upload_timestamp"}`; an unknown id is a 404 `not_found`.

    with fake_upload_post() as fake:
        fake.fail_platform("instagram", "Session expired")   # or fake.rate_limit(retry_after="7"), fake.fail(500),
        fake.slow(5), fake.background()
        monkeypatch.setenv("UPLOAD_POST_API_KEY", fake.api_key)
        monkeypatch.setenv("UPLOAD_POST_BASE_URL", fake.api_url)
        monkeypatch.setenv("UPLOAD_POST_USER", fake.user)
        ...
        fake.uploads[0].platforms, fake.uploads[0].video       # what the client sent
        fake.posts                                             # platform -> URL of every post it made
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve

DEFAULT_API_KEY = "fake-upload-post-key"
DEFAULT_USER = "pytoon"
UPLOAD_PATH = "/api/upload"
STATUS_PATH = "/api/uploadposts/status"
# The posts each platform's answer links to, as the platforms shape them.
POST_URLS = {
    "tiktok": "https://www.tiktok.com/@{user}/video/{id}",
    "instagram": "https://www.instagram.com/reel/{id}/",
    "youtube": "https://www.youtube.com/shorts/{id}",
    "facebook": "https://www.facebook.com/reel/{id}",
    "x": "https://x.com/{user}/status/{id}",
    "threads": "https://www.threads.net/@{user}/post/{id}",
    "linkedin": "https://www.linkedin.com/feed/update/urn:li:activity:{id}/",
    "pinterest": "https://www.pinterest.com/pin/{id}/",
}
UPLOAD_TIMESTAMP = "2026-01-01T12:00:00Z"


@dataclass(frozen=True)
class ReceivedUpload:
    user: str
    platforms: list[str]
    title: str
    description: str | None
    # Every text field, repeated ones (platform[]) by their last value.
    fields: dict[str, str]
    video: bytes
    video_filename: str | None
    async_upload: bool


@dataclass
class _Upload:
    request_id: str
    # platform -> (succeeded, post URL or error message)
    outcomes: dict[str, tuple[bool, str]]
    polls_to_finish: int
    polls: int = 0


@dataclass
class _Script:
    failing_platforms: dict[str, str] = field(default_factory=dict)
    rate_limits: list[str] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    polls_to_finish: int = 3
    background: bool = False


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply.json(status, {"success": False, "error": message}, headers)


def _form_fields(request: ReceivedRequest) -> list[tuple[str, str | None, bytes]]:
    """A multipart body's parts in order, repeated names included: (field name, file name or None, bytes)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return []
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.raw)
    return [
        (str(part.get_param("name", header="content-disposition")), part.get_filename(), part.get_payload(decode=True))
        for part in message.iter_parts()
        if part.get_param("name", header="content-disposition")
    ]


class FakeUploadPost(LoopbackFake):
    def __init__(self, api_key: str = DEFAULT_API_KEY, user: str = DEFAULT_USER) -> None:
        super().__init__()
        self.api_key = api_key
        self.user = user
        self.uploads: list[ReceivedUpload] = []
        self.posts: dict[str, list[str]] = {}
        self.status_answers: list[str] = []
        self._active: dict[str, _Upload] = {}
        self._script = _Script()
        self._post_ids = itertools.count(7_300_000_000_000_000_001)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    # --- scripting -------------------------------------------------------------------------------------

    def fail_platform(self, platform: str, error: str) -> None:
        """Uploads from now on fail on `platform` with this error (the other platforms still get their post)."""
        with self.lock:
            self._script.failing_platforms[platform] = error

    def rate_limit(self, retry_after: str = "1", times: int = 1) -> None:
        """The next `times` API requests (uploads or status reads) are answered 429 with this Retry-After."""
        with self.lock:
            self._script.rate_limits += [retry_after] * times

    def fail(self, status: int = 500, times: int = 1) -> None:
        """The next `times` API requests are answered `status` (a server error) without doing anything."""
        with self.lock:
            self._script.failures += [status] * times

    def slow(self, polls: int) -> None:
        """Background uploads from now on complete on their `polls`-th status request."""
        with self.lock:
            self._script.polls_to_finish = polls

    def background(self) -> None:
        """Synchronous uploads from now on take longer than Upload-Post waits (59 s) and are answered as an
        asynchronous upload, with a request id."""
        with self.lock:
            self._script.background = True

    # --- the API ---------------------------------------------------------------------------------------

    def respond(self, request: ReceivedRequest) -> Reply:
        known_route = (request.method, request.path) in (("POST", UPLOAD_PATH), ("GET", STATUS_PATH))
        if not known_route:
            return Reply.json(404, {"success": False, "message": f"Cannot {request.method} {request.path}"})
        if request.headers.get("authorization") != f"Apikey {self.api_key}":
            return Reply.json(401, {"success": False, "message": "Invalid or expired token"})
        with self.lock:
            retry_after = self._script.rate_limits.pop(0) if self._script.rate_limits else None
            failure = self._script.failures.pop(0) if self._script.failures else None
        if retry_after is not None:
            return _error(429, "Too many requests, please try again later.", {"Retry-After": retry_after})
        if failure is not None:
            return Reply.json(failure, {"error": "Internal server error", "details": "the upload service is down"})
        return self._upload(request) if request.method == "POST" else self._status(request.query.get("request_id"))

    def _upload(self, request: ReceivedRequest) -> Reply:
        parts = _form_fields(request)
        if not parts:
            return _error(400, "The request must be multipart/form-data")
        fields = {name: data.decode("utf-8", "replace") for name, filename, data in parts if filename is None}
        platforms = [data.decode() for name, filename, data in parts if name == "platform[]" and filename is None]
        videos = [(filename, data) for name, filename, data in parts if name == "video" and filename is not None]
        refusal = self._refusal(fields, platforms, videos)
        if refusal is not None:
            return refusal
        [(video_filename, video)] = videos
        async_upload = fields.get("async_upload", "").lower() == "true"
        with self.lock:
            self.uploads.append(
                ReceivedUpload(
                    user=fields["user"],
                    platforms=platforms,
                    title=fields["title"],
                    description=fields.get("description"),
                    fields=fields,
                    video=video,
                    video_filename=video_filename,
                    async_upload=async_upload,
                )
            )
            upload = _Upload(
                request_id=str(uuid.uuid4()),
                outcomes={platform: self._outcome(platform) for platform in platforms},
                polls_to_finish=self._script.polls_to_finish,
            )
            backgrounded = async_upload or self._script.background
            if backgrounded:
                self._active[upload.request_id] = upload
        if backgrounded:
            message = "Upload initiated successfully in background"
            return Reply.json(200, {"success": True, "message": message, "request_id": upload.request_id})
        results = {
            platform: {"success": True, "url": said} if succeeded else {"success": False, "error": said}
            for platform, (succeeded, said) in upload.outcomes.items()
        }
        return Reply.json(200, {"success": True, "results": results, "usage": self._usage()})

    def _refusal(
        self, fields: dict[str, str], platforms: list[str], videos: list[tuple[str | None, bytes]]
    ) -> Reply | None:
        if not fields.get("user"):
            return _error(400, "Missing required field: user")
        if fields["user"] != self.user:
            return _error(404, f"User '{fields['user']}' not found")
        if not platforms:
            return _error(400, "Missing required field: platform[]")
        unknown = sorted(set(platforms) - set(POST_URLS))
        if unknown:
            return _error(400, f"Invalid platform(s): {', '.join(unknown)}")
        if not fields.get("title"):
            return _error(400, "Missing required field: title")
        if len(videos) != 1:
            return _error(400, "Missing required field: video")
        # An MP4 (ISO base media file) opens with its `ftyp` box: four bytes of size, then the type.
        if videos[0][1][4:8] != b"ftyp":
            return _error(400, "The video file is not a valid video (unsupported format)")
        return None

    def _outcome(self, platform: str) -> tuple[bool, str]:
        """Called under the lock: the platform's post (recorded in `posts`), or its scripted failure."""
        error = self._script.failing_platforms.get(platform)
        if error is not None:
            return False, error
        url = POST_URLS[platform].format(user=self.user, id=next(self._post_ids))
        self.posts.setdefault(platform, []).append(url)
        return True, url

    def _usage(self) -> dict[str, Any]:
        return {"count": len(self.uploads), "limit": 10, "last_reset": UPLOAD_TIMESTAMP}

    def _status(self, request_id: str | None) -> Reply:
        if not request_id:
            return Reply.json(400, {"error": "request_id is required"})
        with self.lock:
            upload = self._active.get(request_id)
            if upload is None:
                return Reply.json(404, {"request_id": request_id, "status": "not_found", "results": []})
            upload.polls += 1
            platforms = list(upload.outcomes)
            finished = upload.polls >= upload.polls_to_finish
            # The platforms finish one after another while the upload is in progress.
            recorded = (
                platforms
                if finished
                else platforms[: (upload.polls - 1) * len(platforms) // (upload.polls_to_finish - 1)]
            )
            results = [self._result(platform, *upload.outcomes[platform]) for platform in recorded]
            if finished:
                every_one_failed = not any(succeeded for succeeded, _ in upload.outcomes.values())
                status = "failed" if every_one_failed else "completed"
            else:
                status = "in_progress" if results else "pending"
            self.status_answers.append(status)
        return Reply.json(
            200,
            {
                "request_id": request_id,
                "status": status,
                "completed": len(results),
                "total": len(platforms) if results else None,
                "results": results,
                "last_update": UPLOAD_TIMESTAMP,
            },
        )

    @staticmethod
    def _result(platform: str, succeeded: bool, said: str) -> dict[str, Any]:
        result: dict[str, Any] = {"platform": platform, "success": succeeded, "upload_timestamp": UPLOAD_TIMESTAMP}
        if succeeded:
            return result | {"message": "Published", "post_url": said}
        return result | {"message": "Failed", "error_message": said}


@contextmanager
def fake_upload_post(api_key: str = DEFAULT_API_KEY, user: str = DEFAULT_USER) -> Iterator[FakeUploadPost]:
    """Serve the fake on a free 127.0.0.1 port; yields it (`api_url` ends in /api, like Upload-Post's base URL)."""
    with serve(FakeUploadPost(api_key, user), name="fake-upload-post") as fake:
        yield fake
