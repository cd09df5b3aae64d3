"""Runway's video generation API (api.dev.runwayml.com, API version 2024-11-06).

A scene with a picture is a `POST /v1/image_to_video` task (Gen-4 Turbo, which needs an image), a scene without
one a `POST /v1/text_to_video` task (Gen-4.5); both answer `{"id"}` at once. `GET /v1/tasks/{id}` reports the
task: PENDING or THROTTLED (queued), RUNNING, then SUCCEEDED with `output` (signed clip URLs that need no key),
FAILED with `failure` and a dotted `failureCode` (`SAFETY.*` for content moderation), or CANCELLED. Runway does
not call back, so the job polls.

`RUNWAY_MODEL`, when set, is the model for every task (for example `gen4.5` for image scenes too); it must take
the same 2-10 s durations and the 720:1280 ratio.
"""

from __future__ import annotations

import base64
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from pytoon.video_engines.base import (
    ClipRequest,
    EngineAccess,
    EngineError,
    ImageInput,
    TaskState,
    TaskStatus,
    api_request,
    download_clip,
    is_moderation,
    json_object,
)

NAME = "runway"
ENV_PREFIX = "RUNWAY"
DEFAULT_BASE_URL = "https://api.dev.runwayml.com/v1"
API_VERSION = "2024-11-06"
IMAGE_MODEL = "gen4_turbo"
# Gen-4 Turbo refuses a task without an image; Gen-4.5 is Runway's text-to-video model of the same family.
TEXT_MODEL = "gen4.5"
# Runway names output sizes, not aspect ratios: 720:1280 is the 9:16 portrait size both models offer.
PORTRAIT_RATIO = "720:1280"
# Both models take any whole number of seconds from 2 to 10.
DURATIONS = tuple(range(2, 11))
# Runway takes an image as a data URI of up to 5 MB. A URL it first checks with a HEAD request, which an S3
# presigned GET link refuses (the signature covers the method), so the file itself is sent whenever it fits.
MAX_DATA_URI_CHARS = 5_000_000
QUEUED_OR_RUNNING = frozenset({"PENDING", "THROTTLED", "RUNNING"})
MODERATION_CODE = "SAFETY"


@dataclass(frozen=True)
class RunwayEngine:
    name: str = NAME
    durations: tuple[int, ...] = DURATIONS
    supports_image: bool = True
    calls_back: bool = False

    def access(self) -> EngineAccess:
        return EngineAccess.from_environment(ENV_PREFIX, DEFAULT_BASE_URL)

    def submit(self, http: httpx.Client, access: EngineAccess, request: ClipRequest) -> str:
        model = os.environ.get(f"{ENV_PREFIX}_MODEL", "").strip()
        body: dict[str, Any] = {"promptText": request.prompt, "ratio": PORTRAIT_RATIO, "duration": request.seconds}
        if request.image is None:
            endpoint = "/text_to_video"
            body["model"] = model or TEXT_MODEL
        else:
            endpoint = "/image_to_video"
            body["model"] = model or IMAGE_MODEL
            body["promptImage"] = _prompt_image(request.image)
        task_id = _request_json(http, access, "POST", endpoint, body).get("id")
        if not isinstance(task_id, str) or not task_id:
            raise EngineError(f"{NAME}: the task was accepted without an id")
        return task_id

    def status(self, http: httpx.Client, access: EngineAccess, task_id: str) -> TaskStatus:
        task = _request_json(http, access, "GET", f"/tasks/{quote(task_id, safe='')}")
        state = task.get("status")
        if state in QUEUED_OR_RUNNING:
            return TaskStatus(TaskState.RUNNING)
        if state == "SUCCEEDED":
            output = task.get("output")
            if isinstance(output, list) and output and isinstance(output[0], str) and output[0]:
                return TaskStatus(TaskState.SUCCEEDED, video_url=output[0])
            return TaskStatus(TaskState.FAILED, reason="Runway reported the task succeeded but gave no output URL")
        if state == "FAILED":
            failure = str(task.get("failure") or "no reason given")
            code = str(task.get("failureCode") or "")
            moderated = code.split(".", 1)[0] == MODERATION_CODE or is_moderation(failure)
            return TaskStatus(TaskState.FAILED, reason=f"{failure} ({code})" if code else failure, moderated=moderated)
        if state == "CANCELLED":
            return TaskStatus(TaskState.FAILED, reason="the task was cancelled")
        raise EngineError(f"{NAME}: task {task_id} has an unknown status {state!r}")

    def download(self, http: httpx.Client, access: EngineAccess, status: TaskStatus, path: Path) -> Path:
        if status.state is not TaskState.SUCCEEDED or not status.video_url:
            raise EngineError(f"{NAME}: there is no finished clip to download")
        # The output URL is signed by Runway: the API key is not sent to where it points.
        return download_clip(http, status.video_url, path, engine=NAME)


def _prompt_image(image: ImageInput) -> str:
    """The scene's picture as Runway takes it: a data URI when it fits, else its URL."""
    prefix = f"data:{image.content_type};base64,"
    if len(prefix) + 4 * math.ceil(image.path.stat().st_size / 3) > MAX_DATA_URI_CHARS:
        return image.url
    return prefix + base64.b64encode(image.path.read_bytes()).decode("ascii")


def _request_json(
    http: httpx.Client, access: EngineAccess, method: str, endpoint: str, body: dict[str, Any] | None = None
) -> dict:
    def headers(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}", "X-Runway-Version": API_VERSION}

    key_variable = f"{ENV_PREFIX}_API_KEY"
    response = api_request(
        http, access, method, endpoint, engine=NAME, key_variable=key_variable, headers=headers, json=body
    )
    return json_object(response, NAME)


ENGINE = RunwayEngine()
