"""Luma's Dream Machine API (api.lumalabs.ai/dream-machine/v1).

A scene is a `POST /generations/video` with a Ray model, the 9:16 ratio, a `duration` of "5s" or "9s" and a
resolution; a scene with a picture sends it as the first keyframe, `keyframes.frame0 = {type: image, url}`,
which Luma fetches itself (it takes no uploads). The answer is the generation object, `id` and `state`.
`GET /generations/{id}` reports it: `queued`, `dreaming`, then `completed` with `assets.video` (a CDN URL
that needs no key) or `failed` with `failure_reason`; Luma's content refusals are reasons such as "Advanced
prompt moderation failed", "Frame moderation failed" or "Contains blacklisted words".

Luma calls back: with a `callback_url` it POSTs the same generation object there whenever the generation is
dreaming, completed or failed (`generation_status` reads either). It signs nothing, so the URL itself must
be unguessable.

`LUMA_MODEL`, when set, is the model for every generation (`ray-flash-2`, say); it must take the same
durations, ratio and resolution.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from pytoon.video_engines.base import (
    ASPECT_RATIO,
    ClipRequest,
    EngineAccess,
    EngineError,
    TaskState,
    TaskStatus,
    api_request,
    download_clip,
    is_moderation,
    json_object,
)

NAME = "luma"
ENV_PREFIX = "LUMA"
DEFAULT_BASE_URL = "https://api.lumalabs.ai/dream-machine/v1"
MODEL = "ray-2"
# Ray 2 makes clips of 5 or 9 seconds, nothing in between.
DURATIONS = (5, 9)
# 720p in 9:16 is 720x1280: enough for the renderer's cover fit to 1080x1920, at a fraction of 1080p's price.
RESOLUTION = "720p"
QUEUED_OR_RUNNING = frozenset({"queued", "dreaming"})
# Luma's prompt blocklist refusal does not use any of the words `is_moderation` looks for.
BLOCKLIST_REFUSAL = "blacklisted words"


@dataclass(frozen=True)
class LumaEngine:
    name: str = NAME
    durations: tuple[int, ...] = DURATIONS
    supports_image: bool = True
    calls_back: bool = True

    def access(self) -> EngineAccess:
        return EngineAccess.from_environment(ENV_PREFIX, DEFAULT_BASE_URL)

    def submit(self, http: httpx.Client, access: EngineAccess, request: ClipRequest) -> str:
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "model": os.environ.get(f"{ENV_PREFIX}_MODEL", "").strip() or MODEL,
            "aspect_ratio": ASPECT_RATIO,
            "duration": f"{request.seconds}s",
            "resolution": RESOLUTION,
        }
        if request.image is not None:
            body["keyframes"] = {"frame0": {"type": "image", "url": request.image.url}}
        if request.callback_url is not None:
            body["callback_url"] = request.callback_url
        generation_id = _request_json(http, access, "POST", "/generations/video", body).get("id")
        if not isinstance(generation_id, str) or not generation_id:
            raise EngineError(f"{NAME}: the generation was accepted without an id")
        return generation_id

    def status(self, http: httpx.Client, access: EngineAccess, task_id: str) -> TaskStatus:
        return generation_status(_request_json(http, access, "GET", f"/generations/{quote(task_id, safe='')}"))

    def download(self, http: httpx.Client, access: EngineAccess, status: TaskStatus, path: Path) -> Path:
        if status.state is not TaskState.SUCCEEDED or not status.video_url:
            raise EngineError(f"{NAME}: there is no finished clip to download")
        # The video is on Luma's CDN: the API key is not sent to where it points.
        return download_clip(http, status.video_url, path, engine=NAME)


def generation_status(generation: dict[str, Any]) -> TaskStatus:
    """A Luma generation object (a status answer, or the body of its callback) as a task status."""
    state = generation.get("state")
    if state in QUEUED_OR_RUNNING:
        return TaskStatus(TaskState.RUNNING)
    if state == "completed":
        assets = generation.get("assets")
        video = assets.get("video") if isinstance(assets, dict) else None
        if isinstance(video, str) and video:
            return TaskStatus(TaskState.SUCCEEDED, video_url=video)
        return TaskStatus(TaskState.FAILED, reason="Luma reported the generation completed but gave no video URL")
    if state == "failed":
        reason = str(generation.get("failure_reason") or "no reason given")
        moderated = is_moderation(reason) or BLOCKLIST_REFUSAL in reason.lower()
        return TaskStatus(TaskState.FAILED, reason=reason, moderated=moderated)
    raise EngineError(f"{NAME}: generation {generation.get('id')} has an unknown state {state!r}")


def _request_json(
    http: httpx.Client, access: EngineAccess, method: str, endpoint: str, body: dict[str, Any] | None = None
) -> dict:
    def headers(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}", "Accept": "application/json"}

    key_variable = f"{ENV_PREFIX}_API_KEY"
    response = api_request(
        http, access, method, endpoint, engine=NAME, key_variable=key_variable, headers=headers, json=body
    )
    return json_object(response, NAME)


ENGINE = LumaEngine()
