"""Environment configuration, validated once per process (a Lambda cold start or a CLI run).

`get_settings()` holds what every function needs (table, bucket, region…), parsed on first use and cached.
`get_api_settings()` holds what only the API reads (the API keys to seed, the request body read timeout);
`create_app()` parses it once and keeps it, so a malformed value fails the API's start, naming the variable,
instead of failing every request. `get_tts_settings()` is read per job: it carries provider keys, which rotate.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


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


# --- text-to-speech ----------------------------------------------------------------------------------------

TTS_PROVIDER_NAMES = ("openai", "elevenlabs", "espeak")
DEFAULT_TTS_TIMEOUT_SECONDS = 20.0
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# ElevenLabs answers in these self-describing containers only, so an answer that is not audio fails to decode
# (raw PCM, ulaw and alaw would play any bytes as noise).
_ELEVENLABS_FORMAT = r"^(mp3_\d{4,6}_\d{2,3}|wav_\d{4,6})$"
# A voice id becomes a URL path segment. (Field patterns are searched, not matched: anchored.)
_VOICE_ID = r"^[A-Za-z0-9_-]{1,64}$"
_NAME = r"^[A-Za-z0-9_.:+-]{1,100}$"


def listed_names(variable: str) -> tuple[str, ...] | None:
    """A comma-separated list of names in an environment variable, in order, lower-cased and without blanks;
    None when the variable is not set at all (set but empty is the empty list)."""
    value = os.environ.get(variable)
    if value is None:
        return None
    return tuple(name.strip().lower() for name in value.split(",") if name.strip())


def api_base_url(value: str) -> str:
    """`value` without a trailing slash when it is fit to receive an API key: https, or plain http only on
    loopback (tests, a local proxy), without a query, a fragment or credentials; ValueError otherwise."""
    try:
        url = urlsplit(value)
        host = url.hostname
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc})") from None
    if not (host and (url.scheme == "https" or (url.scheme == "http" and host in _LOOPBACK_HOSTS))):
        raise ValueError("must be an https URL (plain http only for 127.0.0.1 or localhost)")
    if url.query or url.fragment or url.username or url.password:
        raise ValueError("must not carry a query, a fragment or credentials")
    return value.rstrip("/")


class TtsSettings(BaseModel):
    """How a voice script is spoken: the providers in the order they are tried, and each one's voice."""

    model_config = ConfigDict(frozen=True)

    providers: tuple[Literal["openai", "elevenlabs", "espeak"], ...] = Field(default=TTS_PROVIDER_NAMES, min_length=1)
    # Each HTTP request to a provider (connect, wait, read), one sentence.
    timeout_seconds: float = Field(default=DEFAULT_TTS_TIMEOUT_SECONDS, ge=1, le=60, allow_inf_nan=False)
    openai_api_key: str | None = Field(default=None, min_length=1, repr=False)
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = Field(default="gpt-4o-mini-tts", pattern=_NAME)
    openai_voice: str = Field(default="alloy", pattern=_NAME)
    openai_speed: float = Field(default=1.0, ge=0.25, le=4.0, allow_inf_nan=False)
    elevenlabs_api_key: str | None = Field(default=None, min_length=1, repr=False)
    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    elevenlabs_model: str = Field(default="eleven_multilingual_v2", pattern=_NAME)
    elevenlabs_voice_id: str = Field(default="21m00Tcm4TlvDq8ikWAM", pattern=_VOICE_ID)
    elevenlabs_output_format: str = Field(default="mp3_44100_128", pattern=_ELEVENLABS_FORMAT)
    espeak_voice: str = Field(default="en-us", pattern=_NAME)
    espeak_rate_wpm: int = Field(default=165, ge=80, le=450)

    @field_validator("providers")
    @classmethod
    def _each_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a provider is named twice")
        return value

    @field_validator("openai_base_url", "elevenlabs_base_url")
    @classmethod
    def _api_base(cls, value: str) -> str:
        return api_base_url(value)


_TTS_ENV = {
    "providers": "PYTOON_TTS_PROVIDERS",
    "timeout_seconds": "PYTOON_TTS_TIMEOUT_SECONDS",
    "openai_base_url": "OPENAI_BASE_URL",
    "openai_model": "PYTOON_TTS_OPENAI_MODEL",
    "openai_voice": "PYTOON_TTS_OPENAI_VOICE",
    "openai_speed": "PYTOON_TTS_OPENAI_SPEED",
    "elevenlabs_base_url": "ELEVENLABS_BASE_URL",
    "elevenlabs_model": "PYTOON_TTS_ELEVENLABS_MODEL",
    "elevenlabs_voice_id": "PYTOON_TTS_ELEVENLABS_VOICE_ID",
    "elevenlabs_output_format": "PYTOON_TTS_ELEVENLABS_OUTPUT_FORMAT",
    "espeak_voice": "PYTOON_TTS_ESPEAK_VOICE",
    "espeak_rate_wpm": "PYTOON_TTS_ESPEAK_RATE_WPM",
}
_TTS_KEYS = {"openai_api_key": "OPENAI_API_KEY", "elevenlabs_api_key": "ELEVENLABS_API_KEY"}


def get_tts_settings() -> TtsSettings:
    """The text-to-speech settings from the environment; ConfigError naming the variable when one is malformed.

    Keys are read with `secret()` (the variable, or the Secrets Manager secret its `_SECRET_ARN` names, cached a
    few minutes), so call this per job rather than keeping the result: a rotated key is then picked up.
    """
    from pytoon.aws.secrets import secret  # pytoon.aws imports this module

    values: dict[str, object] = {k: v.strip() for k, name in _TTS_ENV.items() if (v := os.environ.get(name, ""))}
    if "providers" in values:
        values["providers"] = listed_names(_TTS_ENV["providers"])
    values |= {field: key for field, name in _TTS_KEYS.items() if (key := secret(name))}
    try:
        return TtsSettings.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0])
        name = _TTS_ENV.get(field) or _TTS_KEYS[field]
        shown = "****" if field in _TTS_KEYS else repr(os.environ.get(name))
        raise ConfigError(f"{name} is invalid ({shown}): {error['msg']}") from None


# --- production runs ---------------------------------------------------------------------------------------

_DAY = 24 * 3600


class RunSettings(BaseModel):
    """How long a production run waits at each step before it fails, naming the step. They travel in the
    run's execution input, so a run keeps the limits it started with."""

    model_config = ConfigDict(frozen=True)

    ideation_approval_timeout_seconds: int = Field(default=7 * _DAY, ge=1, le=365 * _DAY)
    publish_approval_timeout_seconds: int = Field(default=7 * _DAY, ge=1, le=365 * _DAY)
    render_timeout_seconds: int = Field(default=3600, ge=1, le=_DAY)
    publish_timeout_seconds: int = Field(default=900, ge=1, le=_DAY)
    # Between two status checks of a publisher that publishes asynchronously.
    publish_poll_seconds: int = Field(default=10, ge=1, le=3600)
    # How long a render on the Remotion service waits for its callback before asking the service itself (a
    # missed callback costs at most this).
    render_check_seconds: int = Field(default=60, ge=1, le=3600)


_RUN_ENV = {
    "ideation_approval_timeout_seconds": "PYTOON_RUN_IDEATION_APPROVAL_TIMEOUT_SECONDS",
    "publish_approval_timeout_seconds": "PYTOON_RUN_PUBLISH_APPROVAL_TIMEOUT_SECONDS",
    "render_timeout_seconds": "PYTOON_RUN_RENDER_TIMEOUT_SECONDS",
    "publish_timeout_seconds": "PYTOON_RUN_PUBLISH_TIMEOUT_SECONDS",
    "publish_poll_seconds": "PYTOON_RUN_PUBLISH_POLL_SECONDS",
    "render_check_seconds": "PYTOON_RUN_RENDER_CHECK_SECONDS",
}


def get_run_settings() -> RunSettings:
    """The run limits from the environment; ConfigError naming the variable when one is malformed."""
    values = {field: value.strip() for field, name in _RUN_ENV.items() if (value := os.environ.get(name, ""))}
    try:
        return RunSettings.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = _RUN_ENV[str(error["loc"][0])]
        raise ConfigError(f"{name} is invalid ({os.environ.get(name)!r}): {error['msg']}") from None
