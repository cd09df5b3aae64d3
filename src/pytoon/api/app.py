"""FastAPI application: parsing, auth and HTTP mapping only; the work happens in the domain package."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from functools import cache
from typing import Annotated

from fastapi import (
    Depends,
    FastAPI,
    File,
    Form,
    Header,
    HTTPException,
    Request,
    Response,
    Security,
    UploadFile,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pytoon import __version__
from pytoon.api.schemas import (
    ApiKeyBody,
    AssetBody,
    CreatedKeyBody,
    CreateKeyRequest,
    ErrorBody,
    HealthBody,
    JobBody,
    JobCreated,
    PresignedUploadBody,
    PresignedUploadRequest,
    RateLimitBody,
    SegmentBody,
    SegmentsBody,
    UploadBody,
)
from pytoon.assets import (
    MAX_UPLOAD_BYTES,
    AssetCategory,
    AssetReferenceError,
    AssetRejectedError,
    create_presigned_upload,
    get_asset,
    resolve_asset_keys,
    store_upload,
)
from pytoon.aws.apikeys import DEFAULT_RATE_LIMIT_PER_MINUTE, ApiKeyRecord, ApiKeyRepository, RateLimited
from pytoon.aws.assets import AssetRecord
from pytoon.aws.idempotency import IdempotencyConflictError, IdempotencyStore
from pytoon.aws.jobs import JobRecord, JobRepository
from pytoon.aws.metrics import MetricsStore
from pytoon.aws.secrets import secret
from pytoon.aws.storage import ArtifactStore
from pytoon.config import get_settings
from pytoon.errors import JobNotFoundError
from pytoon.observability import logger
from pytoon.presets import UnknownPresetError, all_presets
from pytoon.submission import JobRequest, SubmitError, new_job_id, resolve_spec, submit_job

# API Gateway + Lambda carry at most 6 MB per synchronous request; bigger files go straight to S3.
PLATFORM_BODY_LIMIT = 6 * 1024 * 1024
UPLOAD_PATH = "/api/v1/assets/upload"
ERRORS: dict[int | str, dict] = {
    400: {"model": ErrorBody, "description": "Bad request"},
    401: {"model": ErrorBody, "description": "Invalid or revoked API key"},
    404: {"model": ErrorBody, "description": "Not found (or another tenant's)"},
    429: {"model": RateLimitBody, "description": "Rate limit exceeded"},
}

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Your API key")


class RateLimitExceeded(Exception):
    def __init__(self, retry_after_seconds: int, limit: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        self.limit = limit


@cache
def _seed_keys(table_name: str, seeds: tuple[tuple[str, str, int], ...]) -> None:
    """Store the keys named in the environment (once per process; the write itself is idempotent)."""
    repo = ApiKeyRepository.from_settings(get_settings())
    for tenant, key, limit in seeds:
        repo.store(key, tenant, limit)


def _env_key_seeds() -> tuple[tuple[str, str, int], ...]:
    """`API_KEY` (tenant "default") and `API_KEYS` = "tenant:key[:requests_per_minute],…"."""
    seeds = []
    if os.environ.get("API_KEY"):
        seeds.append(("default", os.environ["API_KEY"], DEFAULT_RATE_LIMIT_PER_MINUTE))
    for entry in filter(None, (p.strip() for p in os.environ.get("API_KEYS", "").split(","))):
        tenant, key, *limit = entry.split(":")
        if tenant and key:
            seeds.append((tenant, key, int(limit[0]) if limit else DEFAULT_RATE_LIMIT_PER_MINUTE))
    return tuple(seeds)


def authenticate(api_key: Annotated[str | None, Security(api_key_header)]) -> ApiKeyRecord:
    """X-API-Key → the caller's key record: missing → 422, unknown or revoked → 401, over the limit → 429."""
    if api_key is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("header", "X-API-Key"), "msg": "Field required", "input": None}]
        )
    settings = get_settings()
    _seed_keys(settings.table_name, _env_key_seeds())
    repo = ApiKeyRepository.from_settings(settings)
    record = repo.lookup(api_key)
    if record is None:
        raise HTTPException(status_code=401, detail="Invalid API key")
    try:
        repo.admit(record)
    except RateLimited as exc:
        raise RateLimitExceeded(exc.retry_after_seconds, record.rate_limit_per_minute) from exc
    return record


Caller = Annotated[ApiKeyRecord, Depends(authenticate)]


def require_admin(x_admin_key: Annotated[str | None, Header()] = None) -> None:
    expected = secret("ADMIN_API_KEY")
    if not expected:
        raise HTTPException(status_code=404, detail="Not Found")
    if x_admin_key is None or not hmac.compare_digest(x_admin_key, expected):
        raise HTTPException(status_code=401, detail="Invalid admin key")


def _store() -> ArtifactStore:
    return ArtifactStore.from_settings(get_settings())


def _job_body(record: JobRecord, store: ArtifactStore) -> JobBody:
    def uri(key: str | None) -> str | None:
        return store.uri(key) if key else None

    def url(key: str | None) -> str | None:
        return store.url(key) if key else None

    return JobBody(
        **record.model_dump(
            include={
                "job_id",
                "archetype",
                "preset_id",
                "target_duration_seconds",
                "progress_pct",
                "fallback_used",
                "fallback_reason",
                "error",
                "created_at",
                "updated_at",
            }
        ),
        status=record.status.value,
        output_uri=uri(record.output_key),
        thumbnail_uri=uri(record.thumbnail_key),
        metadata_uri=uri(record.metadata_key),
        captions_uri=uri(record.captions_key),
        output_url=url(record.output_key),
        thumbnail_url=url(record.thumbnail_key),
        metadata_url=url(record.metadata_key),
        captions_url=url(record.captions_key),
    )


def _asset_body(record: AssetRecord, store: ArtifactStore) -> AssetBody:
    return AssetBody(
        **record.model_dump(
            include={"asset_id", "status", "category", "key", "size", "reason", "created_at", "updated_at"}
        ),
        uri=store.uri(record.key),
        url=store.url(record.key) if record.status == "READY" else None,
        media=record.media.model_dump(exclude_none=True) if record.media else None,
    )


def _tenant_job(job_id: str, tenant: str) -> JobRecord:
    try:
        record = JobRepository.from_settings(get_settings()).get(job_id)
    except JobNotFoundError:
        record = None
    # Another tenant's job is indistinguishable from a job that does not exist.
    if record is None or record.tenant_id != tenant:
        raise HTTPException(status_code=404, detail="Job not found")
    return record


def _request_hash(request: JobRequest) -> str:
    return hashlib.sha256(json.dumps(request.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def create_app() -> FastAPI:
    app = FastAPI(
        title="Pytoon Render API",
        version=__version__,
        description="Prompt plus media to finished 1080×1920 short videos.",
    )

    @app.exception_handler(RateLimitExceeded)
    async def rate_limited(request: Request, exc: RateLimitExceeded) -> JSONResponse:
        return JSONResponse(
            status_code=429,
            content={
                "detail": f"Rate limit exceeded: {exc.limit} requests per minute",
                "retry_after_seconds": exc.retry_after_seconds,
            },
            headers={"Retry-After": str(exc.retry_after_seconds)},
        )

    @app.exception_handler(SubmitError)
    async def not_started(request: Request, exc: SubmitError) -> JSONResponse:
        # The job is recorded as FAILED with this reason; the request itself may simply be retried.
        return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def unhandled(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse(status_code=500, content={"detail": "Internal server error"})

    @app.middleware("http")
    async def platform_body_limit(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if request.url.path == UPLOAD_PATH and length and length.isdigit() and int(length) > PLATFORM_BODY_LIMIT:
            return JSONResponse(
                status_code=413,
                content={
                    "detail": f"Request body over {PLATFORM_BODY_LIMIT // (1024 * 1024)} MB, the platform limit; "
                    "upload large files directly to storage with POST /api/v1/assets/uploads"
                },
            )
        return await call_next(request)

    @app.get("/health", response_model=HealthBody, tags=["service"])
    def health() -> HealthBody:
        return HealthBody(status="ok", version=__version__)

    @app.get("/metrics", tags=["service"], response_class=Response)
    def metrics() -> Response:
        registry = CollectorRegistry()
        registry.register(MetricsStore.from_settings(get_settings()))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/presets", tags=["presets"], responses=ERRORS)
    def presets(caller: Caller) -> dict:
        return {"presets": [p.model_dump(mode="json", exclude_none=True) for p in all_presets()]}

    @app.post("/api/v1/assets/upload", status_code=201, response_model=UploadBody, tags=["assets"], responses=ERRORS)
    async def upload_asset(
        caller: Caller,
        file: Annotated[UploadFile, File(description="PNG/JPEG/WebP image, PNG mask with alpha, MP3/WAV audio")],
        category: Annotated[AssetCategory, Form()] = AssetCategory.IMAGE,
    ) -> UploadBody:
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        try:
            if len(data) > MAX_UPLOAD_BYTES:
                raise AssetRejectedError(f"File exceeds {MAX_UPLOAD_BYTES // (1024 * 1024)}MB limit")
            record = store_upload(
                tenant_id=caller.tenant_id, category=category, filename=file.filename or "file", data=data
            )
        except AssetRejectedError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        store = _store()
        return UploadBody(
            asset_id=record.asset_id,
            uri=store.uri(record.key),
            key=record.key,
            url=store.url(record.key),
            size=record.size or len(data),
            category=record.category,
            media=record.media.model_dump(exclude_none=True) if record.media else {},
        )

    @app.post(
        "/api/v1/assets/uploads",
        status_code=201,
        response_model=PresignedUploadBody,
        tags=["assets"],
        responses=ERRORS,
    )
    def presign_upload(body: PresignedUploadRequest, caller: Caller) -> PresignedUploadBody:
        """Large files: POST the returned form straight to storage; the asset becomes READY or REJECTED."""
        try:
            record, form = create_presigned_upload(
                tenant_id=caller.tenant_id,
                category=body.category,
                filename=body.filename,
                content_type=body.content_type,
            )
        except AssetRejectedError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        return PresignedUploadBody(
            asset_id=record.asset_id,
            key=record.key,
            uri=_store().uri(record.key),
            status=record.status,
            upload_url=form["url"],
            upload_fields=form["fields"],
            max_bytes=MAX_UPLOAD_BYTES,
            status_url=f"/api/v1/assets/{record.asset_id}",
        )

    @app.get("/api/v1/assets/{asset_id}", response_model=AssetBody, tags=["assets"], responses=ERRORS)
    def asset_status(asset_id: str, caller: Caller) -> AssetBody:
        record = get_asset(caller.tenant_id, asset_id)
        if record is None:
            raise HTTPException(status_code=404, detail="Asset not found")
        return _asset_body(record, _store())

    @app.post("/api/v1/jobs", status_code=201, response_model=JobCreated, tags=["jobs"], responses=ERRORS)
    def create_job(
        request: JobRequest,
        caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    ) -> JobCreated:
        references = {u: AssetCategory.IMAGE for u in request.image_uris}
        references |= {u: AssetCategory.AUDIO for u in (request.music_uri, request.voice_uri) if u}
        if request.mask_uri:
            references[request.mask_uri] = AssetCategory.MASK
        job_id = new_job_id()
        try:
            asset_keys = resolve_asset_keys(caller.tenant_id, references)
            spec = resolve_spec(request, job_id=job_id, tenant_id=caller.tenant_id, asset_keys=asset_keys)
        except (UnknownPresetError, AssetReferenceError) as exc:
            raise HTTPException(status_code=400, detail=str(exc.args[0])) from exc
        idempotency = IdempotencyStore.from_settings(get_settings())
        if idempotency_key:
            try:
                held = idempotency.claim(
                    tenant_id=caller.tenant_id,
                    key=idempotency_key,
                    request_hash=_request_hash(request),
                    job_id=job_id,
                )
            except IdempotencyConflictError as exc:
                raise HTTPException(status_code=409, detail=str(exc)) from exc
            if held is not None:
                record = _tenant_job(held, caller.tenant_id)
                return JobCreated(job_id=record.job_id, status=record.status.value, segments=record.segment_count)
        try:
            record = submit_job(spec)
        except Exception:
            if idempotency_key:
                idempotency.release(tenant_id=caller.tenant_id, key=idempotency_key, job_id=job_id)
            raise
        return JobCreated(job_id=record.job_id, status=record.status.value, segments=record.segment_count)

    @app.get("/api/v1/jobs/{job_id}", response_model=JobBody, tags=["jobs"], responses=ERRORS)
    def get_job(job_id: str, caller: Caller) -> JobBody:
        return _job_body(_tenant_job(job_id, caller.tenant_id), _store())

    @app.get("/api/v1/jobs/{job_id}/segments", response_model=SegmentsBody, tags=["jobs"], responses=ERRORS)
    def get_segments(job_id: str, caller: Caller) -> SegmentsBody:
        _tenant_job(job_id, caller.tenant_id)
        store = _store()
        segments = JobRepository.from_settings(get_settings()).segments(job_id)
        return SegmentsBody(
            job_id=job_id,
            segments=[
                SegmentBody(
                    index=s.index,
                    status=s.status.value,
                    duration_seconds=s.duration_seconds,
                    engine_used=s.engine_used,
                    artifact_uri=store.uri(s.artifact_key) if s.artifact_key else None,
                    error=s.error,
                )
                for s in segments
            ],
        )

    admin = [Depends(require_admin)]

    @app.post("/admin/keys", status_code=201, response_model=CreatedKeyBody, tags=["admin"], dependencies=admin)
    def create_key(body: CreateKeyRequest) -> CreatedKeyBody:
        issued = ApiKeyRepository.from_settings(get_settings()).create(body.tenant_id, body.rate_limit_per_minute)
        return CreatedKeyBody(api_key=issued.api_key, **issued.record.model_dump())

    @app.get("/admin/keys", response_model=list[ApiKeyBody], tags=["admin"], dependencies=admin)
    def list_keys() -> list[ApiKeyBody]:
        return [ApiKeyBody(**r.model_dump()) for r in ApiKeyRepository.from_settings(get_settings()).list()]

    @app.post("/admin/keys/{key_id}/revoke", response_model=ApiKeyBody, tags=["admin"], dependencies=admin)
    def revoke_key(key_id: str) -> ApiKeyBody:
        record = ApiKeyRepository.from_settings(get_settings()).revoke(key_id)
        if record is None:
            raise HTTPException(status_code=404, detail="Key not found")
        return ApiKeyBody(**record.model_dump())

    return app
