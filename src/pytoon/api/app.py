"""The FastAPI application: routers, error handlers and the body guard assembled in one place.

A new resource (another API version, runs, chat) is a new module under `pytoon.api.routers` built with
`api_router()`, added to ROUTERS; routes raise domain errors and `pytoon.api.errors` answers them.
"""

from __future__ import annotations

from fastapi import FastAPI

from pytoon import __version__
from pytoon.api.body import BodyGuard, BodyLimit
from pytoon.api.errors import install_error_handlers
from pytoon.api.routers import admin, assets, chat, jobs, jobs_v2, music, notifications, presets, runs, service
from pytoon.api.routing import StrictJsonRoute
from pytoon.config import ApiSettings, get_api_settings
from pytoon.limits import MAX_INLINE_BODY_BYTES, MAX_V2_JOB_BODY_BYTES

ROUTERS = (
    service.router,
    presets.router,
    assets.router,
    jobs.router,
    jobs_v2.router,
    music.router,
    runs.router,
    chat.router,
    notifications.router,
    admin.router,
)

# Bodies bigger than a small JSON document, by path; every other route gets BodyGuard's default.
BODY_LIMITS = {
    assets.UPLOAD_PATH: BodyLimit(
        MAX_INLINE_BODY_BYTES,
        advice=f"upload large files directly to storage with POST {assets.PRESIGNED_UPLOADS_PATH}",
    ),
    jobs_v2.PREFIX: BodyLimit(MAX_V2_JOB_BODY_BYTES, advice="a scene graph has at most 60 scenes"),
}


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the API. The configuration is validated here: a malformed API_KEYS fails the start (ConfigError)."""
    settings = settings or get_api_settings()
    app = FastAPI(
        title="Pytoon Render API",
        version=__version__,
        description="Prompt plus media to finished 1080×1920 short videos. Authenticate with `X-API-Key`.",
    )
    app.state.api_settings = settings
    loose = [r.path for router in ROUTERS for r in router.routes if not isinstance(r, StrictJsonRoute)]
    if loose:
        raise TypeError(f"routes not built with pytoon.api.routing.api_router (lax JSON parsing): {loose}")
    for router in ROUTERS:
        app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(BodyGuard, read_timeout_seconds=settings.body_read_timeout_seconds, by_path=BODY_LIMITS)
    return app
