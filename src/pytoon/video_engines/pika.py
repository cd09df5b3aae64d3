"""Pika 2.2 through fal.ai's queue API (queue.fal.run), Pika's official API partner.

Pika publishes no API of its own: its developer page sends developers to fal.ai, which hosts the Pika models as
endpoints. A scene without a picture is `POST /fal-ai/pika/v2.2/text-to-video` (prompt, `aspect_ratio` 9:16,
`resolution`, `duration` of 5 or 10); a scene with one is `POST /fal-ai/pika/v2.2/image-to-video` with the
picture's URL as `image_url`, its first frame (that endpoint takes no ratio: the clip has the picture's). The key
goes in `Authorization: Key <key>`. Submitting answers `request_id` at once, IN_QUEUE.

Status and result live under the app, not the endpoint: `GET /fal-ai/pika/requests/{id}/status` answers IN_QUEUE
or IN_PROGRESS (HTTP 202), then COMPLETED (200), and `GET /fal-ai/pika/requests/{id}` gives the model's answer as
the model gave it: 200 with `video.url` (a fal CDN URL that needs no key), or the model's error status and body.
A model error's `detail` is a list of `{loc, msg, type}` (`content_policy_violation` is a content refusal, sent
as 422); an infrastructure error's is a string, with an `error_type`. fal can call a `fal_webhook` URL when a
request completes, but those calls are signed with fal's own keys, which nothing here verifies, so the job polls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from pytoon.video_engines.base import (
    ASPECT_RATIO,
    REASON_CHARS,
    ClipRequest,
    EngineAccess,
    EngineError,
    ModerationRefused,
    TaskState,
    TaskStatus,
    api_request,
    checked,
    download_clip,
    is_moderation,
    json_object,
)

NAME = "pika"
ENV_PREFIX = "PIKA"
DEFAULT_BASE_URL = "https://queue.fal.run"
# fal's app; requests are submitted to one of its endpoints, and read back under the app alone.
APP = "/fal-ai/pika"
TEXT_TO_VIDEO = f"{APP}/v2.2/text-to-video"
IMAGE_TO_VIDEO = f"{APP}/v2.2/image-to-video"
# Pika 2.2 makes clips of 5 or 10 seconds, nothing in between.
DURATIONS = (5, 10)
# 720p in 9:16 is 720x1280: enough for the renderer's cover fit to 1080x1920, at under half of 1080p's price.
RESOLUTION = "720p"
QUEUED_OR_RUNNING = frozenset({"IN_QUEUE", "IN_PROGRESS"})
MODERATION_TYPE = "content_policy_violation"
# Answers about the request rather than the model's: raised (rate limit, key, unknown request), not a failed task.
NOT_THE_MODELS_ANSWER = frozenset({401, 403, 404, 429})


@dataclass(frozen=True)
class PikaEngine:
    name: str = NAME
    durations: tuple[int, ...] = DURATIONS
    supports_image: bool = True
    calls_back: bool = False

    def access(self) -> EngineAccess:
        return EngineAccess.from_environment(ENV_PREFIX, DEFAULT_BASE_URL)

    def submit(self, http: httpx.Client, access: EngineAccess, request: ClipRequest) -> str:
        body: dict[str, Any] = {"prompt": request.prompt, "resolution": RESOLUTION, "duration": request.seconds}
        if request.image is None:
            endpoint = TEXT_TO_VIDEO
            body["aspect_ratio"] = ASPECT_RATIO
        else:
            endpoint = IMAGE_TO_VIDEO
            # fal's runner downloads the picture from this URL, which must need no auth header: a presigned one.
            body["image_url"] = request.image.url
        response = _request(http, access, "POST", endpoint, body)
        refusal = _error_status(response)
        if refusal is not None and refusal.moderated:
            raise ModerationRefused(f"{NAME}: refused by content moderation: {refusal.reason}")
        if refusal is not None:
            raise EngineError(f"{NAME}: {refusal.reason}")
        request_id = json_object(response, NAME).get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise EngineError(f"{NAME}: the request was queued without a request_id")
        return request_id

    def status(self, http: httpx.Client, access: EngineAccess, task_id: str) -> TaskStatus:
        # fal's own client reads a request back from its id this way: the app's path, never the endpoint's.
        request_path = f"{APP}/requests/{quote(task_id, safe='')}"
        queued = json_object(_request(http, access, "GET", f"{request_path}/status"), NAME)
        state = queued.get("status")
        if state in QUEUED_OR_RUNNING:
            return TaskStatus(TaskState.RUNNING)
        if state != "COMPLETED":
            raise EngineError(f"{NAME}: request {task_id} has an unknown status {state!r}")
        result = _request(http, access, "GET", request_path)
        failure = _error_status(result)
        if failure is not None:
            return failure
        video = json_object(result, NAME).get("video")
        url = video.get("url") if isinstance(video, dict) else None
        if isinstance(url, str) and url:
            return TaskStatus(TaskState.SUCCEEDED, video_url=url)
        return TaskStatus(TaskState.FAILED, reason="Pika completed the request but gave no video URL")

    def download(self, http: httpx.Client, access: EngineAccess, status: TaskStatus, path: Path) -> Path:
        if status.state is not TaskState.SUCCEEDED or not status.video_url:
            raise EngineError(f"{NAME}: there is no finished clip to download")
        # The video is on fal's CDN: the API key is not sent to where it points.
        return download_clip(http, status.video_url, path, engine=NAME)


def _error_status(response: httpx.Response) -> TaskStatus | None:
    """The FAILED status an error answer means, in fal's words (a content refusal marked `moderated`); None for a
    success. Answers about the request rather than the model's work (429, a bad key, an unknown request) raise."""
    if response.status_code < 400:
        return None
    if response.status_code in NOT_THE_MODELS_ANSWER:
        checked(response, NAME)
    try:
        document = response.json()
    except ValueError:
        document = None
    detail = document.get("detail") if isinstance(document, dict) else None
    if isinstance(detail, list):
        errors = [error for error in detail if isinstance(error, dict)]
        reason = "; ".join(f"{error.get('msg') or 'no message'} ({error.get('type')})" for error in errors)
        moderated = any(error.get("type") == MODERATION_TYPE for error in errors)
    elif isinstance(detail, str):
        kind = document.get("error_type") or response.headers.get("X-Fal-Error-Type")
        reason, moderated = (f"{detail} ({kind})" if kind else detail), False
    else:
        reason, moderated = " ".join(response.text.split()), False
    reason = f"HTTP {response.status_code}: {reason or 'no reason given'}"[:REASON_CHARS]
    return TaskStatus(TaskState.FAILED, reason=reason, moderated=moderated or is_moderation(reason))


def _request(
    http: httpx.Client, access: EngineAccess, method: str, endpoint: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    def headers(key: str) -> dict[str, str]:
        return {"Authorization": f"Key {key}", "Accept": "application/json"}

    key_variable = f"{ENV_PREFIX}_API_KEY"
    return api_request(
        http, access, method, endpoint, engine=NAME, key_variable=key_variable, headers=headers, json=body
    )


ENGINE = PikaEngine()
