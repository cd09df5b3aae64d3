"""Uploads: small files through the API (validated by content), large ones straight to storage."""

from __future__ import annotations

from typing import Annotated

from fastapi import File, Form, UploadFile

from pytoon.api.dependencies import Caller, Store
from pytoon.api.errors import ResourceNotFoundError, error_responses
from pytoon.api.routing import api_router
from pytoon.api.schemas import AssetBody, PresignedUploadBody, PresignedUploadRequest, UploadBody
from pytoon.assets import create_presigned_upload, get_asset, max_upload_bytes, store_upload
from pytoon.models import AssetCategory

router = api_router(prefix="/api/v1/assets", tags=["assets"], responses=error_responses(401, 422, 429))

UPLOAD_PATH = "/api/v1/assets/upload"
PRESIGNED_UPLOADS_PATH = "/api/v1/assets/uploads"


@router.post("/upload", status_code=201, response_model=UploadBody, responses=error_responses(400, 408, 413))
def upload_asset(
    caller: Caller,
    store: Store,
    file: Annotated[UploadFile, File(description="PNG/JPEG/WebP image, PNG mask with alpha, MP3/WAV audio")],
    category: Annotated[AssetCategory, Form()] = AssetCategory.IMAGE,
) -> UploadBody:
    """A plain function on purpose: FastAPI runs it in its threadpool, so decoding and storing one upload
    never holds up other requests."""
    data = file.file.read()
    record = store_upload(tenant_id=caller.tenant_id, category=category, filename=file.filename or "file", data=data)
    return UploadBody(
        asset_id=record.asset_id,
        uri=store.uri(record.key),
        key=record.key,
        url=store.url(record.key),
        size=record.size or len(data),
        category=record.category,
        media=record.media.model_dump(exclude_none=True) if record.media else {},
    )


@router.post("/uploads", status_code=201, response_model=PresignedUploadBody, responses=error_responses(400, 408, 413))
def presign_upload(body: PresignedUploadRequest, caller: Caller, store: Store) -> PresignedUploadBody:
    """Large files: POST the returned form straight to storage; the asset becomes READY or REJECTED."""
    record, form = create_presigned_upload(
        tenant_id=caller.tenant_id, category=body.category, filename=body.filename, content_type=body.content_type
    )
    return PresignedUploadBody(
        asset_id=record.asset_id,
        key=record.key,
        uri=store.uri(record.key),
        status=record.status,
        upload_url=form["url"],
        upload_fields=form["fields"],
        max_bytes=max_upload_bytes(body.category),
        status_url=f"/api/v1/assets/{record.asset_id}",
    )


@router.get("/{asset_id}", response_model=AssetBody, responses=error_responses(404))
def asset_status(asset_id: str, caller: Caller, store: Store) -> AssetBody:
    record = get_asset(caller.tenant_id, asset_id)
    if record is None:
        raise ResourceNotFoundError("Asset not found")
    return AssetBody(
        **record.model_dump(
            include={"asset_id", "status", "category", "key", "size", "reason", "created_at", "updated_at"}
        ),
        uri=store.uri(record.key),
        url=store.url(record.key) if record.status == "READY" else None,
        media=record.media.model_dump(exclude_none=True) if record.media else None,
    )
