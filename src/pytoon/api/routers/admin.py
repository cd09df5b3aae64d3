"""API key management, guarded by X-Admin-Key (the routes answer 404 while ADMIN_API_KEY is unset)."""

from __future__ import annotations

from fastapi import Depends

from pytoon.api.dependencies import Keys, require_admin
from pytoon.api.errors import ResourceNotFoundError, error_responses
from pytoon.api.routing import api_router
from pytoon.api.schemas import ApiKeyBody, CreatedKeyBody, CreateKeyRequest

router = api_router(
    prefix="/admin/keys", tags=["admin"], dependencies=[Depends(require_admin)], responses=error_responses(401, 404)
)


@router.post("", status_code=201, response_model=CreatedKeyBody, responses=error_responses(408, 413, 422))
def create_key(body: CreateKeyRequest, keys: Keys) -> CreatedKeyBody:
    issued = keys.create(body.tenant_id, body.rate_limit_per_minute)
    return CreatedKeyBody(api_key=issued.api_key, **issued.record.model_dump())


@router.get("", response_model=list[ApiKeyBody])
def list_keys(keys: Keys) -> list[ApiKeyBody]:
    return [ApiKeyBody(**r.model_dump()) for r in keys.list()]


@router.post("/{key_id}/revoke", response_model=ApiKeyBody, responses=error_responses(422))
def revoke_key(key_id: str, keys: Keys) -> ApiKeyBody:
    record = keys.revoke(key_id)
    if record is None:
        raise ResourceNotFoundError("Key not found")
    return ApiKeyBody(**record.model_dump())
