"""Render jobs: submit, read status, read segments. A tenant sees only its own jobs."""

from __future__ import annotations

from pytoon.api.dependencies import Caller, IdempotencyKey, Jobs, Store
from pytoon.api.errors import error_responses
from pytoon.api.routing import api_router
from pytoon.api.schemas import JobBody, JobCreated, SegmentBody, SegmentsBody, VoiceoverBody
from pytoon.aws.jobs import JobRecord, JobRepository
from pytoon.aws.keys import voiceover_key
from pytoon.aws.storage import ArtifactStore
from pytoon.errors import JobNotFoundError
from pytoon.submission import JobRequest, submit_request

router = api_router(prefix="/api/v1/jobs", tags=["jobs"], responses=error_responses(401, 422, 429))


def tenant_job(jobs: JobRepository, job_id: str, tenant_id: str) -> JobRecord:
    record = jobs.get(job_id)
    # Another tenant's job is indistinguishable from a job that does not exist.
    if record.tenant_id != tenant_id:
        raise JobNotFoundError(f"Job not found: {job_id}")
    return record


def artifact_links(record: JobRecord, store: ArtifactStore) -> dict[str, str | None]:
    """`*_uri` (s3://) and fetchable `*_url` of each artifact a job has so far (None until it exists)."""
    links: dict[str, str | None] = {}
    for name in ("output", "thumbnail", "metadata", "captions"):
        key = getattr(record, f"{name}_key")
        links[f"{name}_uri"] = store.uri(key) if key else None
        links[f"{name}_url"] = store.url(key) if key else None
    return links


def voiceover_body(record: JobRecord, store: ArtifactStore) -> VoiceoverBody | None:
    """The spoken voice script, once spoken (None for a job without one, and until then)."""
    if record.voice_provider is None or record.voice_duration_ms is None:
        return None
    key = voiceover_key(record.job_id)
    return VoiceoverBody(
        provider=record.voice_provider,
        duration_seconds=record.voice_duration_ms / 1000,
        fallback_reason=record.voice_fallback_reason,
        video_follows_voice=record.duration_follows_voice,
        uri=store.uri(key),
        url=store.url(key),
    )


def _job_body(record: JobRecord, store: ArtifactStore) -> JobBody:
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
        **artifact_links(record, store),
        voiceover=voiceover_body(record, store),
    )


@router.post("", status_code=201, response_model=JobCreated, responses=error_responses(400, 408, 409, 413, 503))
def create_job(
    request: JobRequest,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JobCreated:
    record = submit_request(request, tenant_id=caller.tenant_id, idempotency_key=idempotency_key)
    return JobCreated(job_id=record.job_id, status=record.status.value, segments=record.segment_count)


@router.get("/{job_id}", response_model=JobBody, responses=error_responses(404))
def get_job(job_id: str, caller: Caller, jobs: Jobs, store: Store) -> JobBody:
    return _job_body(tenant_job(jobs, job_id, caller.tenant_id), store)


@router.get("/{job_id}/segments", response_model=SegmentsBody, responses=error_responses(404))
def get_segments(job_id: str, caller: Caller, jobs: Jobs, store: Store) -> SegmentsBody:
    tenant_job(jobs, job_id, caller.tenant_id)
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
            for s in jobs.segments(job_id)
        ],
    )
