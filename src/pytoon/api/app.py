"""FastAPI application: parsing, auth and HTTP mapping only; the work happens in the domain package."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse

from pytoon import __version__
from pytoon.api.schemas import (
    ErrorBody,
    HealthBody,
    JobBody,
    JobCreated,
    SegmentBody,
    SegmentsBody,
    UploadBody,
)
from pytoon.assets import (
    MAX_UPLOAD_BYTES,
    AssetCategory,
    AssetReferenceError,
    AssetRejectedError,
    resolve_asset_keys,
    store_upload,
)
from pytoon.aws.jobs import JobRecord, JobRepository
from pytoon.aws.storage import ArtifactStore
from pytoon.config import get_settings
from pytoon.errors import JobNotFoundError
from pytoon.observability import logger
from pytoon.presets import UnknownPresetError, all_presets
from pytoon.submission import JobRequest, new_job_id, resolve_spec, submit_job

DEFAULT_DEV_KEY = "dev-key-change-me"
ERRORS = {
    400: {"model": ErrorBody},
    401: {"model": ErrorBody},
    404: {"model": ErrorBody},
}


def tenant_for_key(x_api_key: Annotated[str, Header(description="Your API key")]) -> str:
    """Resolve the caller's tenant from X-API-Key (missing header → 422 by FastAPI, unknown key → 401)."""
    if x_api_key != os.environ.get("API_KEY", DEFAULT_DEV_KEY):
        raise HTTPException(status_code=401, detail="Invalid API key")
    return "default"


Tenant = Annotated[str, Depends(tenant_for_key)]


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


def _tenant_job(job_id: str, tenant: str) -> JobRecord:
    try:
        record = JobRepository.from_settings(get_settings()).get(job_id)
    except JobNotFoundError:
        record = None
    # Another tenant's job is indistinguishable from a job that does not exist.
    if record is None or record.tenant_id != tenant:
        raise HTTPException(status_code=404, detail="Job not found")
    return record


def create_app() -> FastAPI:
    app = FastAPI(
        title="Pytoon Render API",
        version=__version__,
        description="Prompt plus media to finished 1080×1920 short videos.",
    )

    @app.exception_handler(Exception)
    async def unhandled(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse(status_code=500, content={"detail": "Internal server error"})

    @app.get("/health", response_model=HealthBody, tags=["service"])
    def health() -> HealthBody:
        return HealthBody(status="ok", version=__version__)

    @app.get("/api/v1/presets", tags=["presets"], responses=ERRORS)
    def presets(tenant: Tenant) -> dict:
        return {"presets": [p.model_dump(mode="json", exclude_none=True) for p in all_presets()]}

    @app.post("/api/v1/assets/upload", status_code=201, response_model=UploadBody, tags=["assets"], responses=ERRORS)
    async def upload_asset(
        tenant: Tenant,
        file: Annotated[UploadFile, File(description="PNG/JPEG/WebP image, PNG mask with alpha, MP3/WAV audio")],
        category: Annotated[AssetCategory, Form()] = AssetCategory.IMAGE,
    ) -> UploadBody:
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(status_code=400, detail=f"File exceeds {MAX_UPLOAD_BYTES // (1024 * 1024)}MB limit")
        try:
            record = store_upload(tenant_id=tenant, category=category, filename=file.filename or "file", data=data)
        except AssetRejectedError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        store = ArtifactStore.from_settings(get_settings())
        return UploadBody(
            asset_id=record.asset_id,
            uri=store.uri(record.key),
            key=record.key,
            url=store.url(record.key),
            size=record.size or len(data),
            category=record.category,
            media=record.media.model_dump(exclude_none=True) if record.media else {},
        )

    @app.post("/api/v1/jobs", status_code=201, response_model=JobCreated, tags=["jobs"], responses=ERRORS)
    def create_job(request: JobRequest, tenant: Tenant) -> JobCreated:
        references = {u: AssetCategory.IMAGE for u in request.image_uris}
        references |= {u: AssetCategory.AUDIO for u in (request.music_uri, request.voice_uri) if u}
        if request.mask_uri:
            references[request.mask_uri] = AssetCategory.MASK
        try:
            asset_keys = resolve_asset_keys(tenant, references)
            spec = resolve_spec(request, job_id=new_job_id(), tenant_id=tenant, asset_keys=asset_keys)
        except (UnknownPresetError, AssetReferenceError) as exc:
            raise HTTPException(status_code=400, detail=str(exc.args[0])) from exc
        record = submit_job(spec)
        return JobCreated(job_id=record.job_id, status=record.status.value, segments=record.segment_count)

    @app.get("/api/v1/jobs/{job_id}", response_model=JobBody, tags=["jobs"], responses=ERRORS)
    def get_job(job_id: str, tenant: Tenant) -> JobBody:
        record = _tenant_job(job_id, tenant)
        return _job_body(record, ArtifactStore.from_settings(get_settings()))

    @app.get("/api/v1/jobs/{job_id}/segments", response_model=SegmentsBody, tags=["jobs"], responses=ERRORS)
    def get_segments(job_id: str, tenant: Tenant) -> SegmentsBody:
        _tenant_job(job_id, tenant)
        settings = get_settings()
        store = ArtifactStore.from_settings(settings)
        segments = JobRepository.from_settings(settings).segments(job_id)
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

    return app
