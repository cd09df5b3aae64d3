"""Turning a V1 job request into a stored JobSpec, a job record and a started RenderJob execution."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from pytoon.aws import keys
from pytoon.aws.executions import start_render_execution
from pytoon.aws.jobs import JobRecord, JobRepository
from pytoon.aws.metrics import MetricsStore
from pytoon.aws.storage import ArtifactStore
from pytoon.config import Settings, get_settings
from pytoon.errors import PytoonError
from pytoon.limits import MAX_DURATION_SECONDS, MAX_IMAGES_PER_JOB, MAX_PROMPT_CHARS, MIN_DURATION_SECONDS
from pytoon.models import FPS, Archetype, Captions, EnginePolicy, JobSpec, JobStatus
from pytoon.planner import segment_frame_counts
from pytoon.presets import get_preset


class JobRequest(BaseModel):
    """The V1 `POST /api/v1/jobs` body (seed 000)."""

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
    captions: Captions | None = None


class SubmitError(PytoonError):
    pass


def resolve_spec(request: JobRequest, *, job_id: str, tenant_id: str, asset_keys: dict[str, str]) -> JobSpec:
    """Apply preset defaults; request values win. `asset_keys` maps each given URI to its stored key."""
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
        captions=request.captions,
    )


def new_job_id() -> str:
    return uuid.uuid4().hex


def submit_job(spec: JobSpec, settings: Settings | None = None) -> JobRecord:
    """Store the spec, create the QUEUED record, start the execution named after the job."""
    settings = settings or get_settings()
    if not settings.state_machine_arn:
        raise SubmitError("PYTOON_STATE_MACHINE_ARN is not configured")
    store = ArtifactStore.from_settings(settings)
    jobs = JobRepository.from_settings(settings)
    store.put_json(keys.spec_key(spec.job_id), spec.model_dump(mode="json"))
    segments = len(segment_frame_counts(spec.target_duration_seconds * FPS, len(spec.image_keys)))
    record = jobs.create(spec, segment_count=segments)
    metrics = MetricsStore.from_settings(settings)
    metrics.increment("pytoon_render_jobs_total", archetype=spec.archetype.value, preset=spec.preset.id)
    try:
        start_render_execution(settings.state_machine_arn, spec.job_id, settings.region)
    except Exception as exc:
        jobs.transition(spec.job_id, JobStatus.FAILED, error=f"could not start render: {exc}")
        metrics.increment("pytoon_render_failure_total", archetype=spec.archetype.value, reason="StartFailed")
        raise SubmitError(f"could not start render: {exc}") from exc
    return record
