"""What routes share: the authenticated caller (key → tenant, rate limited), the admin guard, the stores."""

from __future__ import annotations

import hmac
from functools import cache
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader

from pytoon.api.errors import AuthenticationError, ResourceNotFoundError
from pytoon.aws.apikeys import ApiKeyRecord, ApiKeyRepository
from pytoon.aws.jobs import JobRepository
from pytoon.aws.secrets import secret
from pytoon.aws.storage import ArtifactStore
from pytoon.config import ApiSettings, SeedKey, get_settings

api_key_header = APIKeyHeader(
    name="X-API-Key", scheme_name="APIKeyHeader", auto_error=False, description="Your API key"
)
admin_key_header = APIKeyHeader(
    name="X-Admin-Key",
    scheme_name="AdminKeyHeader",
    auto_error=False,
    description="The ADMIN_API_KEY value; the admin routes answer 404 while it is unset",
)


def api_settings(request: Request) -> ApiSettings:
    """The settings `create_app` validated at start."""
    return request.app.state.api_settings


@cache
def _seed_keys(table_name: str, seeds: tuple[SeedKey, ...]) -> None:
    """Store the keys named in the environment, once per process and table (each write is idempotent)."""
    repo = ApiKeyRepository.from_settings(get_settings())
    for seed in seeds:
        if seed.rate_limit_per_minute is None:
            repo.store(seed.api_key, seed.tenant_id)
        else:
            repo.store(seed.api_key, seed.tenant_id, seed.rate_limit_per_minute)


def authenticate(
    request: Request,
    config: Annotated[ApiSettings, Depends(api_settings)],
    api_key: Annotated[str | None, Security(api_key_header)],
) -> ApiKeyRecord:
    """X-API-Key → the caller's key record: missing → 422, unknown or revoked → 401, over its limit → 429.

    Failed authentications count against the caller's address, so guessing keys is rate limited too (429).
    """
    if api_key is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("header", "X-API-Key"), "msg": "Field required", "input": None}]
        )
    settings = get_settings()
    _seed_keys(settings.table_name, config.seed_keys)
    repo = ApiKeyRepository.from_settings(settings)
    record = repo.lookup(api_key)
    if record is None:
        repo.admit_unauthenticated(request.client.host if request.client else "unknown")
        raise AuthenticationError("Invalid API key")
    repo.admit(record)
    return record


Caller = Annotated[ApiKeyRecord, Depends(authenticate)]
IdempotencyKey = Annotated[
    str | None, Header(max_length=255, description="Repeat a request safely: the same key returns the same job")
]


def require_admin(admin_key: Annotated[str | None, Security(admin_key_header)]) -> None:
    expected = secret("ADMIN_API_KEY")
    if not expected:
        # Admin routes do not exist while no admin key is configured.
        raise ResourceNotFoundError("Not Found")
    if admin_key is None or not hmac.compare_digest(admin_key.encode(), expected.encode()):
        raise AuthenticationError("Invalid admin key")


def artifact_store() -> ArtifactStore:
    return ArtifactStore.from_settings(get_settings())


def job_repository() -> JobRepository:
    return JobRepository.from_settings(get_settings())


def key_repository() -> ApiKeyRepository:
    return ApiKeyRepository.from_settings(get_settings())


Store = Annotated[ArtifactStore, Depends(artifact_store)]
Jobs = Annotated[JobRepository, Depends(job_repository)]
Keys = Annotated[ApiKeyRepository, Depends(key_repository)]
