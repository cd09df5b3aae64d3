"""Turning a job request (V1, or V2 from pytoon.v2_jobs) into a stored JobSpec, a job record and a started
RenderJob execution.

`submit_request` is the one way in, for the API, the CLI and the benchmark alike.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pytoon.aws import keys
from pytoon.aws.executions import start_render_execution
from pytoon.aws.idempotency import IdempotencyStore
from pytoon.aws.jobs import JobRecord, JobRepository
from pytoon.aws.storage import ArtifactStore
from pytoon.config import Settings, get_settings
from pytoon.errors import PytoonError
from pytoon.limits import (
    MAX_DURATION_SECONDS,
    MAX_IMAGES_PER_JOB,
    MAX_PROMPT_CHARS,
    MAX_VOICE_SCRIPT_CHARS,
    MIN_DURATION_SECONDS,
)
from pytoon.models import FPS, Archetype, AssetCategory, Captions, EnginePolicy, JobSpec, JobStatus, displayable
from pytoon.presets import get_preset

if TYPE_CHECKING:
    from pytoon.v2_jobs import V2JobRequest


class JobRequest(BaseModel):
    """The V1 `POST /api/v1/jobs` body."""

    model_config = ConfigDict(extra="forbid")

    preset_id: str
    prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    target_duration_seconds: int = Field(default=15, ge=MIN_DURATION_SECONDS, le=MAX_DURATION_SECONDS)
    brand_safe: bool | None = None
    engine_policy: EnginePolicy | None = None
    archetype: Archetype | None = None
    image_uris: list[str] = Field(default_factory=list, max_length=MAX_IMAGES_PER_JOB)
    mask_uri: str | None = None
    music_uri: str | None = None
    voice_uri: str | None = None
    # Spoken by text-to-speech; its sentences become the captions.
    voice_script: str | None = Field(default=None, max_length=MAX_VOICE_SCRIPT_CHARS)
    captions: Captions | None = None

    # The prompt is shown (its sentences become the captions when none are given, or it fills a card).
    _prompt_is_displayable = field_validator("prompt")(displayable)

    @model_validator(mode="after")
    def _captions_can_all_be_shown(self) -> JobRequest:
        # Imported here: caption shaping loads Pillow and the planner, which importing the API does not need.
        from pytoon.caption_rules import caption_problem

        if self.voice_script and self.voice_script.strip():
            given = [name for name in ("voice_uri", "captions") if getattr(self, name) is not None]
            if given:
                raise ValueError(
                    f"voice_script cannot be combined with {' or '.join(given)}: the voiceover is spoken from the "
                    "script and the captions are its sentences"
                )
            return self  # its sentences are checked as captions when the job is built
        problem = caption_problem(self.captions, self.prompt, self.target_duration_seconds, self.preset_id)
        if problem:
            raise ValueError(problem)
        return self


class SubmitError(PytoonError):
    pass


def resolve_spec(request: JobRequest, *, job_id: str, tenant_id: str, asset_keys: dict[str, str]) -> JobSpec:
    """Apply preset defaults; request values win. `asset_keys` maps each given URI to its stored key."""
    from pytoon.voice_track import voice_script_to_speak

    preset = get_preset(request.preset_id)

    def key(uri: str | None) -> str | None:
        return asset_keys[uri] if uri else None

    return JobSpec(
        job_id=job_id,
        tenant_id=tenant_id,
        preset=preset,
        archetype=request.archetype or preset.archetype,
        brand_safe=preset.brand_safe if request.brand_safe is None else request.brand_safe,
        engine_policy=request.engine_policy or preset.engine_policy,
        prompt=request.prompt,
        target_duration_seconds=request.target_duration_seconds,
        image_keys=[asset_keys[u] for u in request.image_uris],
        mask_key=key(request.mask_uri),
        music_key=key(request.music_uri),
        voice_key=key(request.voice_uri),
        voice_script=voice_script_to_speak(request.voice_script, preset),
        captions=request.captions,
    )


def new_job_id() -> str:
    return uuid.uuid4().hex


def asset_references(request: JobRequest) -> dict[str, AssetCategory]:
    """Each asset URI the request names, with the category its place in the request demands."""
    references = {uri: AssetCategory.IMAGE for uri in request.image_uris}
    references |= {uri: AssetCategory.AUDIO for uri in (request.music_uri, request.voice_uri) if uri}
    if request.mask_uri:
        references[request.mask_uri] = AssetCategory.MASK
    return references


def request_hash(request: BaseModel) -> str:
    """The same body (after defaults) always hashes the same, however its JSON was written."""
    return hashlib.sha256(json.dumps(request.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def build_spec(request: JobRequest | V2JobRequest, *, tenant_id: str, settings: Settings) -> tuple[JobSpec, int]:
    """The resolved spec of a request and how many segments (scenes) it will have."""
    # Imported here: asset validation (Pillow) and planning are not needed to import the API.
    from pytoon.assets import resolve_asset_keys
    from pytoon.planner import segment_frame_counts
    from pytoon.v2_jobs import check_captions, resolve_v2_spec

    if isinstance(request, JobRequest):
        asset_keys = resolve_asset_keys(tenant_id, asset_references(request), settings)
        spec = resolve_spec(request, job_id=new_job_id(), tenant_id=tenant_id, asset_keys=asset_keys)
        return spec, len(segment_frame_counts(spec.target_duration_seconds * FPS, len(spec.image_keys)))
    spec = resolve_v2_spec(request, job_id=new_job_id(), tenant_id=tenant_id, settings=settings)
    return spec, check_captions(spec)


def submit_request(
    request: JobRequest | V2JobRequest,
    *,
    tenant_id: str,
    idempotency_key: str | None = None,
    settings: Settings | None = None,
    start: bool = True,
) -> JobRecord:
    """Resolve the request's assets and spec, record the job (QUEUED) and start its execution. With
    `start=False` the execution is left to the caller, who starts it under the job's id (a production run
    starts it as a nested execution and waits for it).

    With an `idempotency_key`, the first request with that key (per tenant, for a day) creates the job and
    every later one with the same body gets that same job; another body raises IdempotencyConflictError.
    The job record is written before the key is claimed, so a claim anyone can see always has its job: two
    simultaneous requests get one job between them, never a "not found". A render that cannot start releases
    the claim (SubmitError), so the same request may be retried.
    """
    settings = settings or get_settings()
    if start and not settings.state_machine_arn:
        raise SubmitError("PYTOON_STATE_MACHINE_ARN is not configured")
    spec, segments = build_spec(request, tenant_id=tenant_id, settings=settings)
    jobs = JobRepository.from_settings(settings)
    record = jobs.create(spec, segment_count=segments)
    claims = IdempotencyStore.from_settings(settings)
    if idempotency_key:
        try:
            held = claims.claim(
                tenant_id=tenant_id, key=idempotency_key, request_hash=request_hash(request), job_id=spec.job_id
            )
        except Exception:
            jobs.discard(spec.job_id)
            raise
        if held is not None:
            jobs.discard(spec.job_id)
            return jobs.get(held)
    try:
        _start(spec, jobs, settings, start=start)
    except SubmitError:
        if idempotency_key:
            claims.release(tenant_id=tenant_id, key=idempotency_key, job_id=spec.job_id)
        raise
    return record


def _start(spec: JobSpec, jobs: JobRepository, settings: Settings, *, start: bool) -> None:
    """Store the spec and start the execution named after the job; a failure is recorded on the job."""
    from pytoon.aws.metrics import MetricsStore  # prometheus_client: not needed to import the API

    metrics = MetricsStore.from_settings(settings)
    metrics.increment("pytoon_render_jobs_total", archetype=spec.archetype.value, preset=spec.preset.id)
    if spec.api_version == 2:
        metrics.increment("pytoon_v2_jobs_total", preset=spec.preset.id)
    try:
        ArtifactStore.from_settings(settings).put_json(keys.spec_key(spec.job_id), spec.model_dump(mode="json"))
        if start:
            assert settings.state_machine_arn
            start_render_execution(
                settings.state_machine_arn, spec.job_id, settings.region, speak=spec.voice_script is not None
            )
    except Exception as exc:
        jobs.transition(spec.job_id, JobStatus.FAILED, error=f"could not start render: {exc}")
        metrics.increment("pytoon_render_failure_total", archetype=spec.archetype.value, reason="StartFailed")
        raise SubmitError(f"could not start render: {exc}") from exc
