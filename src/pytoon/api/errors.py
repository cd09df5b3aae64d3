"""Every error the API answers, mapped once: domain exceptions → HTTP status, body and headers.

Routes raise domain errors and never catch them to translate; `install_error_handlers` registers the handler
that answers every row of ERROR_TABLE, plus the handlers for HTTP-level errors (404/405 from routing, 408/413
from the body guard), validation errors (422, never echoing the input) and anything unexpected (500, logged,
never shown). `error_responses(...)` documents the same statuses in OpenAPI with the same body models.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from pytoon.api.schemas import ErrorBody, RateLimitBody, ValidationErrorBody
from pytoon.aws.ratelimit import RateLimited
from pytoon.errors import JobNotFoundError, PytoonError, public_message
from pytoon.presets import UnknownPresetError

# Seconds a client should wait before retrying a render that could not start.
SUBMIT_RETRY_AFTER_SECONDS = 5
# A validation message or context value longer than this is cut: errors never carry large input back.
MAX_ERROR_TEXT = 200


class AuthenticationError(Exception):
    """A key that is unknown, revoked or wrong."""


class ResourceNotFoundError(LookupError):
    """An asset or key id the caller may not see (another tenant's is indistinguishable from none)."""


@dataclass(frozen=True)
class ErrorMapping:
    status: int
    # A fixed public message; None means the exception's own message (domain messages are written for users).
    detail: str | None = None
    headers: Callable[[Exception], dict[str, str]] = field(default=lambda exc: {})
    extra: Callable[[Exception], dict[str, Any]] = field(default=lambda exc: {})


def _retry_after(exc: Exception) -> dict[str, str]:
    seconds = getattr(exc, "retry_after_seconds", SUBMIT_RETRY_AFTER_SECONDS)
    return {"Retry-After": str(seconds)}


def class_path(exc_type: type) -> str:
    return f"{exc_type.__module__}.{exc_type.__qualname__}"


class ErrorTable(dict[str, ErrorMapping]):
    """Rows keyed by the exception class's import path; indexing by the class itself works too.

    Classes of modules that only some requests load (scene planning with its JSON Schema validator, media
    fetching, submission) are named, not imported, which keeps those modules out of the API's cold start: an
    exception whose module was never imported cannot have been raised, so nothing is lost by not loading it."""

    def __missing__(self, key: object) -> ErrorMapping:
        if isinstance(key, type):
            return self[class_path(key)]
        raise KeyError(key)

    def mapping_for(self, exc_type: type[BaseException]) -> ErrorMapping | None:
        """The row of the class, else of its nearest ancestor that has one (as Starlette picks handlers)."""
        return next((self[path] for cls in exc_type.__mro__ if (path := class_path(cls)) in self), None)


ERROR_TABLE = ErrorTable(
    {
        class_path(UnknownPresetError): ErrorMapping(400),
        "pytoon.v2_jobs.V2RequestError": ErrorMapping(400),
        "pytoon.scene_planner.ScenePlanningError": ErrorMapping(400),
        "pytoon.scenes.SceneGraphError": ErrorMapping(400),
        "pytoon.content_rules.ContentRefusedError": ErrorMapping(400),
        "pytoon.assets.AssetReferenceError": ErrorMapping(400),
        "pytoon.assets.AssetRejectedError": ErrorMapping(400),
        "pytoon.media_fetch.MediaUrlError": ErrorMapping(400),
        "pytoon.voice_track.VoiceScriptError": ErrorMapping(400),
        "pytoon.runs.models.UnknownProjectError": ErrorMapping(400),
        "pytoon.notifications.WebhookUrlError": ErrorMapping(400),
        class_path(AuthenticationError): ErrorMapping(401),
        class_path(ResourceNotFoundError): ErrorMapping(404),
        # Its message names the id; the answer is the same whether the job is missing or another tenant's.
        class_path(JobNotFoundError): ErrorMapping(404, detail="Job not found"),
        "pytoon.runs.models.RunNotFoundError": ErrorMapping(404, detail="Run not found"),
        "pytoon.aws.idempotency.IdempotencyConflictError": ErrorMapping(409),
        # The message names the run's status, so the reviewer sees where it is instead.
        "pytoon.runs.models.GateNotWaitingError": ErrorMapping(409),
        # Other messages to the same chat session kept winning the write: the message may be sent again.
        "pytoon.aws.chat_sessions.SessionContendedError": ErrorMapping(409),
        class_path(RateLimited): ErrorMapping(
            429,
            headers=_retry_after,
            extra=lambda exc: {"retry_after_seconds": exc.retry_after_seconds},  # type: ignore[attr-defined]
        ),
        # The job is recorded as FAILED with the reason; the request itself may simply be retried.
        "pytoon.submission.SubmitError": ErrorMapping(503, headers=_retry_after),
        # The run is recorded as failed with the reason; the request may be retried.
        "pytoon.runs.service.RunStartError": ErrorMapping(503, headers=_retry_after),
    }
)
# Every class in ERROR_TABLE derives from one of these; the domain handler is registered on each.
ERROR_BASES: tuple[type[Exception], ...] = (
    PytoonError,
    UnknownPresetError,
    RateLimited,
    AuthenticationError,
    ResourceNotFoundError,
)

# OpenAPI: what each status means and the body it carries.
_RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}
STATUS_DOCS: dict[int, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The request names something unusable (preset, asset, media)"},
    401: {"model": ErrorBody, "description": "Invalid or revoked key"},
    404: {"model": ErrorBody, "description": "Not found (or another tenant's)"},
    408: {"model": ErrorBody, "description": "The request body stalled"},
    409: {"model": ErrorBody, "description": "Idempotency-Key used with another body, or a gate the run is not at"},
    413: {"model": ErrorBody, "description": "Request body over the route's limit"},
    422: {"model": ValidationErrorBody, "description": "Invalid request values"},
    429: {"model": RateLimitBody, "description": "Rate limit exceeded", "headers": _RETRY_AFTER_HEADER},
    503: {
        "model": ErrorBody,
        "description": "The render or run could not start; retry",
        "headers": _RETRY_AFTER_HEADER,
    },
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route or router that can answer these error statuses."""
    return {status: STATUS_DOCS[status] for status in statuses}


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    mapping = ERROR_TABLE.mapping_for(type(exc))
    if mapping is None:
        raise exc  # a domain error no row answers is unexpected: the 500 handler logs and answers it
    detail = mapping.detail or public_message(str(exc.args[0]) if exc.args else type(exc).__name__)
    return JSONResponse(
        status_code=mapping.status,
        content={"detail": detail, **mapping.extra(exc)},
        headers=mapping.headers(exc),
    )


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    scope = {"type": "http", "path": request.scope["path"], "root_path": request.scope.get("root_path", "")}
    for route in iter_route_contexts(request.app.router.routes):
        match, _ = route.matches(scope | {"method": ""})
        if match is not Match.NONE and route.methods:
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail}, headers=headers)


def _short(value: Any) -> Any:
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    text = str(value)
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + "…"


def validation_issues(errors: Any) -> list[dict[str, Any]]:
    """Pydantic's errors without `input` (it can be megabytes, or not JSON at all) and with bounded text."""
    issues = []
    for error in errors:
        issue: dict[str, Any] = {
            "type": error["type"],
            "loc": [part if isinstance(part, int) else _short(part) for part in error["loc"]],
            "msg": _short(error["msg"]),
        }
        if error.get("ctx"):
            issue["ctx"] = {str(k): _short(v) for k, v in error["ctx"].items()}
        issues.append(issue)
    return issues


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": validation_issues(exc.errors())})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    from pytoon.observability import logger

    logger.exception("unhandled error", extra={"path": request.url.path})
    return JSONResponse(status_code=500, content={"detail": "Internal server error"})


def install_error_handlers(app: FastAPI) -> None:
    for base in ERROR_BASES:
        app.add_exception_handler(base, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
