"""Job and segment records in the single DynamoDB table (PK=JOB#id, SK=META | SEG#000).

Status changes are conditional writes: a job never moves backwards and a finished job never changes.
Progress is derived from stored segment facts and only ever increases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from pytoon.aws import RetainedRepository, condition_failed, dynamo_number, plain_numbers, update_expression
from pytoon.clock import utc_now_iso
from pytoon.errors import InvalidTransitionError, JobNotFoundError
from pytoon.models import Archetype, JobSpec, JobStatus, SegmentPlan, SegmentStatus

if TYPE_CHECKING:
    from pytoon.scenes import Scene

# Which statuses a job may be in when it enters each status (re-entering the same one makes retries idempotent).
_ALLOWED_FROM: dict[JobStatus, tuple[JobStatus, ...]] = {
    JobStatus.PLANNING: (JobStatus.QUEUED, JobStatus.PLANNING),
    JobStatus.RENDERING_SEGMENTS: (JobStatus.PLANNING, JobStatus.RENDERING_SEGMENTS),
    JobStatus.ASSEMBLING: (JobStatus.RENDERING_SEGMENTS, JobStatus.ASSEMBLING),
    JobStatus.DONE: (JobStatus.ASSEMBLING,),
    JobStatus.FAILED: (
        JobStatus.QUEUED,
        JobStatus.PLANNING,
        JobStatus.RENDERING_SEGMENTS,
        JobStatus.ASSEMBLING,
    ),
}

# progress_pct at each stage; segment rendering fills the span between PLANNED and RENDERED.
PROGRESS_PLANNED = 5.0
PROGRESS_RENDERED = 90.0
PROGRESS_DONE = 100.0


class JobRecord(BaseModel):
    job_id: str
    tenant_id: str
    api_version: int = 1
    status: JobStatus
    archetype: Archetype
    preset_id: str
    target_duration_seconds: int
    progress_pct: float = 0.0
    segment_count: int = 0
    output_key: str | None = None
    thumbnail_key: str | None = None
    metadata_key: str | None = None
    captions_key: str | None = None
    fallback_used: bool = False
    fallback_reason: str | None = None
    # How the scene graph was made: v1_rules, rules, supplied (or by an LLM), once planned.
    planner: str | None = None
    planner_fallback_reason: str | None = None
    # A voice script as spoken: by which provider, how long, why earlier providers were passed over, and why
    # the video is longer than requested when the voice made it so.
    voice_provider: str | None = None
    voice_duration_ms: int | None = None
    voice_fallback_reason: str | None = None
    duration_follows_voice: str | None = None
    error: str | None = None
    created_at: str
    updated_at: str


class SegmentRecord(BaseModel):
    index: int
    status: SegmentStatus
    duration_seconds: float
    frame_count: int
    engine_used: str | None = None
    artifact_key: str | None = None
    error: str | None = None
    spec_hash: str
    render_seconds: float | None = None
    attempts: int = 0
    # The scene this segment renders (every segment is one scene).
    description: str | None = None
    media_type: str | None = None
    planned_engine: str | None = None
    fallback_reason: str | None = None
    updated_at: str


def _job_pk(job_id: str) -> str:
    return f"JOB#{job_id}"


def _seg_sk(index: int) -> str:
    return f"SEG#{index:03d}"


@dataclass(frozen=True)
class JobRepository(RetainedRepository):
    """A job's META and SEG items expire with the job's artifacts."""

    def create(self, spec: JobSpec, segment_count: int) -> JobRecord:
        now = utc_now_iso()
        record = JobRecord(
            job_id=spec.job_id,
            tenant_id=spec.tenant_id,
            api_version=spec.api_version,
            status=JobStatus.QUEUED,
            archetype=spec.archetype,
            preset_id=spec.preset.id,
            target_duration_seconds=spec.target_duration_seconds,
            segment_count=segment_count,
            created_at=now,
            updated_at=now,
        )
        item = {
            "PK": _job_pk(spec.job_id),
            "SK": "META",
            "GSI1PK": f"TENANT#{spec.tenant_id}",
            "GSI1SK": f"JOB#{now}#{spec.job_id}",
            **record.model_dump(mode="json", exclude_none=True),
            "progress_pct": 0,
            "expires_at": self._expires_at(now),
        }
        self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(PK)")
        return record

    def discard(self, job_id: str) -> None:
        """Delete a job record that was never started and never handed out (it lost an Idempotency-Key claim)."""
        self._table.delete_item(Key={"PK": _job_pk(job_id), "SK": "META"})

    def get(self, job_id: str) -> JobRecord:
        item = self._table.get_item(Key={"PK": _job_pk(job_id), "SK": "META"}, ConsistentRead=True).get("Item")
        if item is None:
            raise JobNotFoundError(f"Job not found: {job_id}")
        return JobRecord.model_validate(plain_numbers(item))

    def transition(self, job_id: str, status: JobStatus, **fields: Any) -> None:
        """Move a job to `status` if its current status allows it; set `fields` in the same write."""
        allowed = _ALLOWED_FROM[status]
        values: dict[str, Any] = {":status": status.value, ":now": utc_now_iso()}
        names = {"#status": "status"}
        placeholders = []
        for i, prior in enumerate(allowed):
            values[f":from{i}"] = prior.value
            placeholders.append(f":from{i}")
        expression = update_expression(fields, names, values, ["#status = :status", "updated_at = :now"])
        try:
            self._table.update_item(
                Key={"PK": _job_pk(job_id), "SK": "META"},
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(PK) AND #status IN ({', '.join(placeholders)})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if condition_failed(exc):
                current = self.get(job_id).status
                raise InvalidTransitionError(
                    f"job {job_id} cannot move from {current.value} to {status.value}"
                ) from exc
            raise

    def raise_progress(self, job_id: str, pct: float) -> None:
        """Set progress_pct to `pct` unless it is already higher or the job has finished."""
        try:
            self._table.update_item(
                Key={"PK": _job_pk(job_id), "SK": "META"},
                UpdateExpression="SET progress_pct = :p, updated_at = :now",
                ConditionExpression="attribute_exists(PK) AND progress_pct < :p AND NOT #status IN (:done, :failed)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":p": dynamo_number(round(pct, 1)),
                    ":now": utc_now_iso(),
                    ":done": JobStatus.DONE.value,
                    ":failed": JobStatus.FAILED.value,
                },
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise

    def put_segments(self, job_id: str, plans: list[SegmentPlan], scenes: list[Scene]) -> None:
        """Record planned segments (scene i is segment i); a re-planned job keeps segments whose spec is
        unchanged and DONE."""
        existing = {s.index: s for s in self.segments(job_id)}
        now = utc_now_iso()
        # Segments expire with their job (its META's expires_at; from now, should the META be gone).
        job = self._table.get_item(Key={"PK": _job_pk(job_id), "SK": "META"}, ConsistentRead=True).get("Item", {})
        expires_at = int(job["expires_at"]) if "expires_at" in job else self._expires_at(now)
        with self._table.batch_writer() as batch:
            for plan, scene in zip(plans, scenes, strict=True):
                prior = existing.get(plan.index)
                if prior and prior.spec_hash == plan.spec_hash:
                    continue
                record = SegmentRecord(
                    index=plan.index,
                    status=SegmentStatus.PENDING,
                    duration_seconds=plan.duration_seconds,
                    frame_count=plan.frame_count,
                    spec_hash=plan.spec_hash,
                    description=scene.description,
                    media_type=scene.media.type,
                    planned_engine=plan.engine,
                    fallback_reason=plan.fallback_reason,
                    updated_at=now,
                )
                item = record.model_dump(mode="json", exclude_none=True)
                item["duration_seconds"] = dynamo_number(plan.duration_seconds)
                batch.put_item(
                    Item={"PK": _job_pk(job_id), "SK": _seg_sk(plan.index), **item, "expires_at": expires_at}
                )

    def segments(self, job_id: str) -> list[SegmentRecord]:
        from boto3.dynamodb.conditions import Key  # boto3 loads with the first table, not with the API

        items = self._query_all(
            KeyConditionExpression=Key("PK").eq(_job_pk(job_id)) & Key("SK").begins_with("SEG#"), ConsistentRead=True
        )
        return sorted((SegmentRecord.model_validate(i) for i in items), key=lambda s: s.index)

    def update_segment(self, job_id: str, index: int, status: SegmentStatus, **fields: Any) -> None:
        """Write a segment's status. A DONE segment only changes by being re-planned."""
        values: dict[str, Any] = {":status": status.value, ":now": utc_now_iso(), ":done": "DONE"}
        names = {"#status": "status"}
        sets = ["#status = :status", "updated_at = :now"]
        if status is SegmentStatus.RUNNING:
            sets.append("attempts = if_not_exists(attempts, :zero) + :one")
            values.update({":zero": 0, ":one": 1})
        expression = update_expression(fields, names, values, sets)
        try:
            self._table.update_item(
                Key={"PK": _job_pk(job_id), "SK": _seg_sk(index)},
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(PK) AND #status <> :done",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if condition_failed(exc):
                raise InvalidTransitionError(f"segment {index} of job {job_id} is already DONE") from exc
            raise
