"""Production runs: start one from a project and a brief, follow it, decide its approval gates."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from pytoon.api.dependencies import Caller, IdempotencyKey, Jobs, Store
from pytoon.api.errors import error_responses
from pytoon.api.routers.jobs import artifact_links
from pytoon.api.routing import api_router
from pytoon.api.schemas import (
    ApproveRequest,
    GateDecisionBody,
    RunArtifactsBody,
    RunBody,
    RunClipBody,
    RunCreated,
    RunListBody,
    RunPublishedBody,
    RunRenderBody,
    RunStartRequest,
)
from pytoon.aws.jobs import JobRepository
from pytoon.aws.storage import ArtifactStore
from pytoon.errors import JobNotFoundError
from pytoon.runs import service
from pytoon.runs.models import Gate, RunRecord, RunStatus

PREFIX = "/v1/runs"
MAX_LISTED = 100
# Run ids are 32 hex digits; anything far from that is refused before it reaches the table.
RunId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
router = api_router(prefix=PREFIX, tags=["production runs"], responses=error_responses(401, 422, 429))


def _render(record: RunRecord, jobs: JobRepository, store: ArtifactStore) -> RunRenderBody | None:
    render = record.artifacts.render
    if render is None:
        return None
    if render.renderer == "remotion":
        links = {"output_url": store.url(render.video_key)} if render.video_key else {}
    else:
        try:
            links = artifact_links(jobs.get(render.job_id), store)
        except JobNotFoundError:  # expired with its artifacts
            links = {}
    return RunRenderBody(
        job_id=render.job_id,
        status=render.status,
        renderer=render.renderer,
        fallback_reason=render.fallback_reason,
        output_url=links.get("output_url"),
        thumbnail_url=links.get("thumbnail_url"),
    )


def _published(record: RunRecord, store: ArtifactStore) -> RunPublishedBody | None:
    """Where the video was published. A bucket-published video's link is signed afresh on every read: one
    signed by the step that published it would die with that function's credentials."""
    from pytoon.runs.publishing import BUCKET_PUBLISHER, published_key

    published = record.artifacts.published
    if published is None:
        return None
    body = RunPublishedBody(**published.model_dump(include=set(RunPublishedBody.model_fields)))
    if published.publisher == BUCKET_PUBLISHER and published.state == "published":
        body.url = store.url(published_key(record.tenant_id, record.run_id))
    return body


def run_body(record: RunRecord, jobs: JobRepository, store: ArtifactStore) -> RunBody:
    artifacts = record.artifacts
    return RunBody(
        run_id=record.run_id,
        project=record.project,
        brief=record.brief,
        status=record.status.value,
        current_step=record.current_step,
        artifacts=RunArtifactsBody(
            ideas=artifacts.ideas,
            ideas_text=artifacts.ideas_text,
            clips=[
                RunClipBody(
                    **clip.model_dump(include={"index", "prompt", "caption", "seconds", "done", "engine"}),
                    fallback_reason=clip.fallback_reason,
                    url=store.url(clip.clip_key) if clip.clip_key else None,
                )
                for clip in artifacts.clips
            ],
            render=_render(record, jobs, store),
            published=_published(record, store),
            gates={
                name: GateDecisionBody(**decision.model_dump(include=set(GateDecisionBody.model_fields)))
                for name, decision in artifacts.gates.items()
            },
        ),
        error=record.error,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


@router.post("/start", status_code=202, response_model=RunCreated, responses=error_responses(400, 409, 503))
def start_run(request: RunStartRequest, caller: Caller, idempotency_key: IdempotencyKey = None) -> RunCreated:
    """Start a production run: ideas from the brief, then the ideation gate waits for a reviewer."""
    record = service.start_run(caller.tenant_id, request.project, request.brief, idempotency_key=idempotency_key)
    return RunCreated(run_id=record.run_id, status=record.status.value)


@router.get("", response_model=RunListBody)
def list_runs(
    caller: Caller,
    jobs: Jobs,
    store: Store,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 50,
) -> RunListBody:
    """This tenant's runs, newest first; `status=awaiting_ideation_approval` lists what waits for a reviewer."""
    runs = service.list_runs(caller.tenant_id, status, limit=limit)
    return RunListBody(runs=[run_body(record, jobs, store) for record in runs])


@router.get("/{run_id}", response_model=RunBody, responses=error_responses(404))
def get_run(run_id: RunId, caller: Caller, jobs: Jobs, store: Store) -> RunBody:
    return run_body(service.get_run(caller.tenant_id, run_id), jobs, store)


@router.post("/{run_id}/approve", response_model=RunBody, responses=error_responses(404, 409))
def approve(run_id: RunId, request: ApproveRequest, caller: Caller, jobs: Jobs, store: Store) -> RunBody:
    """Decide the gate the run waits at: approved resumes it, not approved ends it `rejected` with the comment.
    A gate the run is not waiting at is 409, naming the run's status."""
    record = service.approve_gate(
        caller.tenant_id,
        run_id,
        Gate(request.gate),
        request.approved,
        request.comment,
        decided_by=caller.key_id,
    )
    return run_body(record, jobs, store)
