"""Environment configuration, validated once per process (a Lambda cold start or a CLI run).

`get_settings()` holds what every function needs (table, bucket, region…), parsed on first use and cached.
`get_api_settings()` holds what only the API reads (the API keys to seed, the request body read timeout);
`create_app()` parses it once and keeps it, so a malformed value fails the API's start, naming the variable,
instead of failing every request.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigError(RuntimeError):
    pass


# The template's ArtifactRetentionDays default, for local mode and tests.
DEFAULT_ARTIFACT_RETENTION_DAYS = 30


class Settings(BaseModel):
    table_name: str = Field(min_length=3)
    bucket_name: str = Field(min_length=3)
    # Only the API starts executions; other functions run without it.
    state_machine_arn: str | None = None
    # The ProductionRun machine, which renders through nested RenderJob executions; None where none is deployed.
    production_run_state_machine_arn: str | None = None
    region: str = "us-east-1"
    work_dir: Path = Path("/tmp/pytoon")
    presign_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # Days job records live (DynamoDB TTL), the span after which S3's lifecycle expires the job's artifacts.
    artifact_retention_days: int = Field(default=DEFAULT_ARTIFACT_RETENTION_DAYS, ge=1, le=3650)


_ENV = {
    "table_name": "PYTOON_TABLE_NAME",
    "bucket_name": "PYTOON_BUCKET_NAME",
    "state_machine_arn": "PYTOON_STATE_MACHINE_ARN",
    "production_run_state_machine_arn": "PYTOON_PRODUCTION_RUN_STATE_MACHINE_ARN",
    "work_dir": "PYTOON_WORK_DIR",
    "presign_ttl_seconds": "PYTOON_PRESIGN_TTL_SECONDS",
    "artifact_retention_days": "PYTOON_ARTIFACT_RETENTION_DAYS",
}


@cache
def get_settings() -> Settings:
    values: dict[str, object] = {k: os.environ[v] for k, v in _ENV.items() if os.environ.get(v)}
    values["region"] = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        missing = ", ".join(_ENV.get(str(e["loc"][0]), str(e["loc"][0])) for e in exc.errors())
        raise ConfigError(f"Invalid or missing configuration: {missing}") from exc


# --- API ---------------------------------------------------------------------------------------------------

# The same rules as a tenant created through the admin routes.
_TENANT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_KEY = re.compile(r"\S{8,256}")
MAX_SEED_RATE_LIMIT = 100_000
DEFAULT_BODY_READ_TIMEOUT_SECONDS = 15.0


class SeedKey(BaseModel):
    """An API key named in the environment, stored (as its hash) for its tenant when the API first needs it."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    api_key: str = Field(repr=False)
    # None: the key repository's default limit.
    rate_limit_per_minute: int | None = None


class ApiSettings(BaseModel):
    seed_keys: tuple[SeedKey, ...] = ()
    # Longest wait for the next piece of a request body before the request is answered 408.
    body_read_timeout_seconds: float = Field(default=DEFAULT_BODY_READ_TIMEOUT_SECONDS, gt=0, le=300)


def _masked(entry: str) -> str:
    """An API_KEYS entry fit for an error message: the key itself never appears."""
    parts = entry.split(":")
    if len(parts) >= 2:
        parts[1] = "****"
    return ":".join(parts)


def parse_api_keys(value: str) -> tuple[SeedKey, ...]:
    """`tenant:key[:requests_per_minute],…` → seed keys; raise ConfigError naming API_KEYS and the bad entry."""
    seeds: list[SeedKey] = []
    for position, entry in enumerate((p.strip() for p in value.split(",")), start=1):
        if not entry:
            continue
        parts = entry.split(":")
        problem = None
        if len(parts) not in (2, 3):
            problem = "expected tenant:key or tenant:key:requests_per_minute"
        elif not _TENANT.fullmatch(parts[0]):
            problem = "the tenant must be 1-64 of A-Z a-z 0-9 _ . -"
        elif not _KEY.fullmatch(parts[1]):
            problem = "the key must be 8-256 characters without spaces"
        elif len(parts) == 3 and not (parts[2].isdigit() and 1 <= int(parts[2]) <= MAX_SEED_RATE_LIMIT):
            problem = f"requests_per_minute must be a whole number from 1 to {MAX_SEED_RATE_LIMIT}"
        if problem:
            raise ConfigError(f"API_KEYS entry {position} ({_masked(entry)!r}) is malformed: {problem}")
        seeds.append(SeedKey(tenant_id=parts[0], api_key=parts[1], rate_limit_per_minute=_limit(parts)))
    return tuple(seeds)


def _limit(parts: list[str]) -> int | None:
    return int(parts[2]) if len(parts) == 3 else None


def get_api_settings() -> ApiSettings:
    """Parse the API's variables now (not cached: each `create_app` is a start and reads them afresh)."""
    seeds = list(parse_api_keys(os.environ.get("API_KEYS", "")))
    single = os.environ.get("API_KEY", "").strip()
    if single:
        if not _KEY.fullmatch(single):
            raise ConfigError("API_KEY is malformed: the key must be 8-256 characters without spaces")
        seeds.insert(0, SeedKey(tenant_id="default", api_key=single))
    tenants: dict[str, str] = {}
    for seed in seeds:
        if tenants.setdefault(seed.api_key, seed.tenant_id) != seed.tenant_id:
            raise ConfigError(
                f"API_KEY/API_KEYS name one key for two tenants ({tenants[seed.api_key]!r} and {seed.tenant_id!r})"
            )
    timeout = os.environ.get("PYTOON_BODY_READ_TIMEOUT_SECONDS")
    try:
        return ApiSettings(
            seed_keys=tuple(seeds),
            **({"body_read_timeout_seconds": timeout} if timeout else {}),
        )
    except ValidationError as exc:
        raise ConfigError(
            f"PYTOON_BODY_READ_TIMEOUT_SECONDS is invalid ({timeout!r}): a number of seconds above 0, at most 300"
        ) from exc
