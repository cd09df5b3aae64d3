"""A self-hosted Remotion render service as a run's renderer, in place of the run's own V2 render job.

It is used when `REMOTION_BASE_URL` names the service; its key (`REMOTION_API_KEY`, sent as a bearer token)
and the public base URL of our webhook route (`PYTOON_WEBHOOK_BASE_URL`; on AWS the stack's SSM parameter that
`PYTOON_WEBHOOK_BASE_URL_PARAMETER` names) must be set too, else the run renders itself and says why. The
callbacks are verified with `REMOTION_WEBHOOK_SECRET` (by the webhooks function); a render whose callback never
comes is still seen finished, by asking the service.

The service's API:
- `POST /api/render` `{run_id, template, clips, texts, duration_seconds, fps, width, height, callback_url}` →
  202 `{job_id, status: "queued"}`; 400 `{error}` for a request it refuses, 429 when its queue is full;
- `GET /api/render/{job_id}` → `{status: queued|rendering|done|error, progress, output_url, error}`;
- when the render ends, one POST to `callback_url` with `{job_id, run_id, status: done|error, output_url,
  error}`, signed `X-Remotion-Signature: sha512=<hex HMAC-SHA512 of the body>` (no retries: a missed callback
  is caught by asking the service, see the run's render steps).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, get_args

import httpx

from pytoon.video_engines.base import (
    REASON_CHARS,
    EngineAccess,
    EngineError,
    api_request,
    download_clip,
    http_client,
    json_object,
)

REMOTION = "Remotion"  # as reasons name it
ENV_PREFIX = "REMOTION"
KEY_VARIABLE = "REMOTION_API_KEY"
# The service's fixed-timeline templates are made for 30 fps, and a run is always a 1080×1920 short.
FPS = 30
FRAME_SIZE = (1080, 1920)

RenderState = Literal["queued", "rendering", "done", "error"]


@dataclass(frozen=True)
class RemotionRequest:
    run_id: str
    template: str
    clip_urls: list[str]
    texts: list[str]
    duration_seconds: float


@dataclass(frozen=True)
class RemotionStatus:
    state: RenderState
    progress: float
    output_url: str | None
    error: str | None


def missing_settings() -> str | None:
    """Why the service cannot render runs now (the variable that is not set), or None when it can. None is also
    the answer when no service is configured at all: see `configured`."""
    from pytoon.aws.secrets import secret, stack_value
    from pytoon.webhooks import WEBHOOK_BASE_VARIABLE

    if not secret(KEY_VARIABLE):
        return f"{KEY_VARIABLE} is not set"
    if not stack_value(WEBHOOK_BASE_VARIABLE):
        return f"{WEBHOOK_BASE_VARIABLE} is not set"
    return None


def configured() -> bool:
    """Whether runs are meant to render on the service (its base URL is set)."""
    return bool(os.environ.get(f"{ENV_PREFIX}_BASE_URL", "").strip())


def callback_url(run_id: str) -> str:
    """Where the service reports the run's render: our webhook route, which finds the run by `run_id`."""
    from pytoon.webhooks import WEBHOOK_BASE_VARIABLE, webhook_url

    try:
        url = webhook_url("remotion", run_id=run_id)
    except ValueError as exc:
        raise EngineError(str(exc)) from None
    if url is None:
        raise EngineError(f"{WEBHOOK_BASE_VARIABLE} is not set")
    return url


class RemotionService:
    """The adapter: every call to the service goes through here."""

    @cached_property
    def access(self) -> EngineAccess:
        return EngineAccess.from_environment(ENV_PREFIX, "")

    def submit(self, request: RemotionRequest) -> str:
        """Queue the render; the service's job id."""
        width, height = FRAME_SIZE
        body = {
            "run_id": request.run_id,
            "template": request.template,
            "clips": request.clip_urls,
            "texts": request.texts,
            "duration_seconds": request.duration_seconds,
            "fps": FPS,
            "width": width,
            "height": height,
            "callback_url": callback_url(request.run_id),
        }
        with http_client() as http:
            answer = self._json(http, "POST", "/api/render", json=body)
        job_id = answer.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise EngineError(f"{REMOTION}: the render answer has no job_id: {str(answer)[:REASON_CHARS]}")
        return job_id

    def status(self, job_id: str) -> RemotionStatus:
        with http_client() as http:
            answer = self._json(http, "GET", f"/api/render/{job_id}")
        state = answer.get("status")
        if state not in get_args(RenderState):
            raise EngineError(f"{REMOTION}: job {job_id} has an unknown status {state!r}")
        progress = answer.get("progress")
        output_url = answer.get("output_url")
        error = answer.get("error")
        return RemotionStatus(
            state=state,
            progress=float(progress) if isinstance(progress, int | float) else 0.0,
            output_url=output_url if isinstance(output_url, str) and output_url else None,
            error=str(error)[:REASON_CHARS] if error else None,
        )

    def download(self, output_url: str, path: Path) -> Path:
        """The finished video, size-limited and over https (plain http on loopback only). The key goes with the
        request only to the service itself, never to a storage host its URL may point at."""
        access = self.access
        same_host = httpx.URL(output_url).netloc == httpx.URL(access.base_url).netloc
        key = access.api_key if same_host else None
        with http_client() as http:
            return download_clip(http, output_url, path, headers=_auth(key) if key else {}, engine=REMOTION)

    def _json(self, http: httpx.Client, method: str, endpoint: str, **content: Any) -> dict[str, Any]:
        response = api_request(
            http, self.access, method, endpoint, engine=REMOTION, key_variable=KEY_VARIABLE, headers=_auth, **content
        )
        return json_object(response, REMOTION)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
