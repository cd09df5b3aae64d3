"""OpenAI's Videos API (Sora 2): `POST /v1/videos`, `GET /v1/videos/{id}`, `GET /v1/videos/{id}/content`.

A clip is created by a multipart form (as OpenAI's curl examples send it): `model`, `prompt`, `seconds` as a
string ("4", "8" or "12"), `size` ("720x1280", the portrait size both models offer) and, for a scene with a
picture, `input_reference`: the image file, which must be exactly `size` in pixels (OpenAI answers 400
otherwise), so the scene's picture is fitted to 720x1280 first. The answer is a video object at once, `queued`;
`GET /v1/videos/{id}` reports `queued`, `in_progress`, `completed` or `failed` with `error: {code, message}`
(a `moderation_blocked` code, or a message that says moderation, is a content refusal). A completed clip is the
MP4 at `/videos/{id}/content`, fetched with the API key.

OpenAI reports a finished video by webhook (`video.completed` / `video.failed`, Standard Webhooks-signed, sent
to the endpoint configured in the OpenAI project, not per request; see pytoon.webhooks), so `calls_back`; the
job may still poll `status`. `PYTOON_SORA_MODEL` chooses the model (`sora-2` unless set, or `sora-2-pro`).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
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

NAME = "sora"
# OPENAI_API_KEY and OPENAI_BASE_URL: the same OpenAI project as the voiceover's text-to-speech.
ENV_PREFIX = "OPENAI"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
MODEL_VARIABLE = "PYTOON_SORA_MODEL"
DEFAULT_MODEL = "sora-2"
PORTRAIT_SIZE = (720, 1280)
# The Videos API takes these lengths only, as strings.
DURATIONS = (4, 8, 12)
QUEUED_OR_RUNNING = frozenset({"queued", "in_progress"})
MODERATION_CODE = "moderation_blocked"
# A transparent cut-out is centred on white (a margin around the product) rather than cropped to fill the frame.
CUTOUT_BACKGROUND = (255, 255, 255)
REFERENCE_JPEG_QUALITY = 92


@dataclass(frozen=True)
class SoraEngine:
    name: str = NAME
    durations: tuple[int, ...] = DURATIONS
    supports_image: bool = True
    calls_back: bool = True

    def access(self) -> EngineAccess:
        return EngineAccess.from_environment(ENV_PREFIX, DEFAULT_BASE_URL)

    def submit(self, http: httpx.Client, access: EngineAccess, request: ClipRequest) -> str:
        # Every part is a form field; `input_reference` alone is a file. (The webhook endpoint is the
        # project's, so `request.callback_url` is not sent: OpenAI takes no per-request URL.)
        form: dict[str, tuple] = {
            "model": (None, os.environ.get(MODEL_VARIABLE, "").strip() or DEFAULT_MODEL),
            "prompt": (None, request.prompt),
            "seconds": (None, str(request.seconds)),
            "size": (None, "x".join(map(str, PORTRAIT_SIZE))),
        }
        if request.image is not None:
            form["input_reference"] = ("reference.jpg", reference_image(request.image), "image/jpeg")
        video_id = _request_json(http, access, "POST", "/videos", files=form).get("id")
        if not isinstance(video_id, str) or not video_id:
            raise EngineError(f"{NAME}: the video was accepted without an id")
        return video_id

    def status(self, http: httpx.Client, access: EngineAccess, task_id: str) -> TaskStatus:
        path = f"/videos/{quote(task_id, safe='')}"
        video = _request_json(http, access, "GET", path)
        state = video.get("status")
        if state in QUEUED_OR_RUNNING:
            return TaskStatus(TaskState.RUNNING)
        if state == "completed":
            return TaskStatus(TaskState.SUCCEEDED, video_url=f"{access.base_url}{path}/content")
        if state == "failed":
            error = video.get("error") if isinstance(video.get("error"), dict) else {}
            message = str(error.get("message") or "no reason given")
            code = str(error.get("code") or "")
            moderated = code == MODERATION_CODE or is_moderation(message)
            return TaskStatus(TaskState.FAILED, reason=f"{message} ({code})" if code else message, moderated=moderated)
        raise EngineError(f"{NAME}: video {task_id} has an unknown status {state!r}")

    def download(self, http: httpx.Client, access: EngineAccess, status: TaskStatus, path: Path) -> Path:
        if status.state is not TaskState.SUCCEEDED or not status.video_url:
            raise EngineError(f"{NAME}: there is no finished clip to download")
        if access.api_key is None:
            raise EngineError(f"{NAME}: no API key configured ({ENV_PREFIX}_API_KEY)")
        # The content endpoint wants the key: it is sent only to the API it belongs to.
        if not status.video_url.startswith(f"{access.base_url}/videos/"):
            raise EngineError(f"{NAME}: the clip URL is not on {access.base_url}: {status.video_url!r}")
        headers = {"Authorization": f"Bearer {access.api_key}"}
        return download_clip(http, status.video_url, path, headers=headers, engine=NAME)


def reference_image(image: ImageInput) -> bytes:
    """The scene's picture as a 720x1280 JPEG, the exact size Sora requires of `input_reference`: a photo
    cover-fitted and centre-cropped, a transparent cut-out contained and centred on white."""
    # Imported here: Pillow and numpy only for a scene with a picture (about 0.1 s of every adapter import).
    from PIL import Image

    from pytoon.render.frames import contain_size, cover_size, flatten, load_image, scale_to

    try:
        picture = load_image(image.path)
    except (OSError, ValueError) as exc:
        raise EngineError(f"{NAME}: the scene picture cannot be read: {exc}") from exc
    if picture.mode == "RGBA":  # a cut-out, trimmed to its product
        product = scale_to(picture, contain_size(picture.size, PORTRAIT_SIZE))
        canvas = Image.new("RGBA", PORTRAIT_SIZE, (0, 0, 0, 0))
        canvas.paste(product, ((PORTRAIT_SIZE[0] - product.width) // 2, (PORTRAIT_SIZE[1] - product.height) // 2))
        fitted = flatten(canvas, CUTOUT_BACKGROUND)
    else:
        scaled = scale_to(picture, cover_size(picture.size, PORTRAIT_SIZE))
        left, top = (scaled.width - PORTRAIT_SIZE[0]) // 2, (scaled.height - PORTRAIT_SIZE[1]) // 2
        fitted = scaled.crop((left, top, left + PORTRAIT_SIZE[0], top + PORTRAIT_SIZE[1]))
    out = io.BytesIO()
    fitted.save(out, "JPEG", quality=REFERENCE_JPEG_QUALITY)
    return out.getvalue()


def _request_json(
    http: httpx.Client,
    access: EngineAccess,
    method: str,
    endpoint: str,
    files: dict[str, tuple] | None = None,
) -> dict:
    def headers(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    key_variable = f"{ENV_PREFIX}_API_KEY"
    response = api_request(
        http, access, method, endpoint, engine=NAME, key_variable=key_variable, headers=headers, files=files
    )
    return json_object(response, NAME)


ENGINE = SoraEngine()
