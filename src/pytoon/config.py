"""Environment configuration, validated once per process (a Lambda cold start or a CLI run)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError


class ConfigError(RuntimeError):
    pass


class Settings(BaseModel):
    table_name: str = Field(min_length=3)
    bucket_name: str = Field(min_length=3)
    # Only the API starts executions; other functions run without it.
    state_machine_arn: str | None = None
    region: str = "us-east-1"
    work_dir: Path = Path("/tmp/pytoon")
    presign_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)


_ENV = {
    "table_name": "PYTOON_TABLE_NAME",
    "bucket_name": "PYTOON_BUCKET_NAME",
    "state_machine_arn": "PYTOON_STATE_MACHINE_ARN",
    "work_dir": "PYTOON_WORK_DIR",
    "presign_ttl_seconds": "PYTOON_PRESIGN_TTL_SECONDS",
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
