"""V2 render jobs: a prompt plus media, or a whole scene graph; status per scene; the stored scene graph and
timeline. Same authentication, tenants, rate limit and error bodies as V1."""

from __future__ import annotations

from typing import Any

from pytoon.api.dependencies import Caller, IdempotencyKey, Jobs, Store
from pytoon.api.errors import ResourceNotFoundError, error_responses
from pytoon.api.routers.jobs import artifact_links, tenant_job, voiceover_body
from pytoon.api.routing import api_router
from pytoon.api.schemas import V2JobBody, V2JobCreated, V2SceneBody
from pytoon.aws import keys
from pytoon.aws.jobs import JobRecord, SegmentRecord
from pytoon.aws.storage import ArtifactStore, ObjectNotFoundError
from pytoon.models import JobStatus
from pytoon.submission import submit_request
from pytoon.v2_jobs import V2JobRequest

PREFIX = "/api/v2/jobs"
router = api_router(prefix=PREFIX, tags=["v2 jobs"], responses=error_responses(401, 422, 429))


def _scene(segment: SegmentRecord) -> V2SceneBody:
    return V2SceneBody(
        scene_id=segment.index + 1,
        status=segment.status.value,
        description=segment.description,
        media_type=segment.media_type,
        engine_used=segment.engine_used or segment.planned_engine,
        fallback_used=segment.fallback_reason is not None,
        fallback_reason=segment.fallback_reason,
        render_duration_ms=round(segment.render_seconds * 1000) if segment.render_seconds is not None else None,
    )


def _body(record: JobRecord, segments: list[SegmentRecord], store: ArtifactStore) -> V2JobBody:
    return V2JobBody(
        job_id=record.job_id,
        version=record.api_version,
        status=record.status.v2,
        preset_id=record.preset_id,
        progress_pct=record.progress_pct,
        scene_count=record.segment_count,
        scenes=[_scene(s) for s in segments],
        **artifact_links(record, store),
        planner=record.planner,
        planner_fallback_reason=record.planner_fallback_reason,
        fallback_used=record.fallback_used,
        fallback_reason=record.fallback_reason,
        voiceover=voiceover_body(record, store),
        error=record.error,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


@router.post("", status_code=202, response_model=V2JobCreated, responses=error_responses(400, 408, 409, 413, 503))
def create_job(
    request: V2JobRequest,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> V2JobCreated:
    record = submit_request(request, tenant_id=caller.tenant_id, idempotency_key=idempotency_key)
    return V2JobCreated(job_id=record.job_id, status=record.status.v2, scene_count=record.segment_count)


@router.get("/{job_id}", response_model=V2JobBody, responses=error_responses(404))
def get_job(job_id: str, caller: Caller, jobs: Jobs, store: Store) -> V2JobBody:
    record = tenant_job(jobs, job_id, caller.tenant_id)
    return _body(record, jobs.segments(job_id), store)


def _document(record: JobRecord, store: ArtifactStore, key: str, name: str) -> dict[str, Any]:
    try:
        return store.get_json(key)
    except ObjectNotFoundError:
        if record.status is JobStatus.FAILED:
            raise ResourceNotFoundError(f"No {name}: the job failed before it was made ({record.error})") from None
        raise ResourceNotFoundError(f"No {name} yet: the job is {record.status.v2}") from None


@router.get("/{job_id}/scene-graph", responses=error_responses(404))
def get_scene_graph(job_id: str, caller: Caller, jobs: Jobs, store: Store) -> dict[str, Any]:
    """The job's scene graph (scene_graph_v2 schema), as soon as it is planned."""
    return _document(tenant_job(jobs, job_id, caller.tenant_id), store, keys.scene_graph_key(job_id), "scene graph")


@router.get("/{job_id}/timeline", responses=error_responses(404))
def get_timeline(job_id: str, caller: Caller, jobs: Jobs, store: Store) -> dict[str, Any]:
    """The job's timeline (timeline_v2 schema), once it is built."""
    return _document(tenant_job(jobs, job_id, caller.tenant_id), store, keys.timeline_key(job_id), "timeline")
