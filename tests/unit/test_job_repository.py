"""Job records: conditional status transitions, monotonic progress, segment state, in moto's DynamoDB
with the table built from template.yaml's own key schema."""

from __future__ import annotations

import pytest

from pytoon.aws.jobs import JobRepository
from pytoon.chain import plan_documents
from pytoon.errors import InvalidTransitionError, JobNotFoundError
from pytoon.models import JobStatus, SegmentStatus
from tests.factories import make_spec


@pytest.fixture
def repo(moto_table: str) -> JobRepository:
    return JobRepository(moto_table, "us-east-1")


def _spec(job_id: str = "job1"):
    return make_spec(job_id=job_id, tenant_id="acme", prompt="A. B.", target_duration_seconds=6)


def test_create_and_read_back(repo: JobRepository) -> None:
    record = repo.create(_spec(), segment_count=2)
    assert record.status is JobStatus.QUEUED
    assert record.created_at.endswith("Z")
    assert repo.get("job1") == record


def test_unknown_job(repo: JobRepository) -> None:
    with pytest.raises(JobNotFoundError):
        repo.get("nope")


def test_status_moves_forward_only(repo: JobRepository) -> None:
    repo.create(_spec(), segment_count=2)
    repo.transition("job1", JobStatus.PLANNING)
    repo.transition("job1", JobStatus.PLANNING)  # a retried planner re-enters its own status
    repo.transition("job1", JobStatus.RENDERING_SEGMENTS)
    with pytest.raises(InvalidTransitionError):
        repo.transition("job1", JobStatus.PLANNING)
    with pytest.raises(InvalidTransitionError):
        repo.transition("job1", JobStatus.DONE)  # must assemble first
    repo.transition("job1", JobStatus.FAILED, error="boom")
    with pytest.raises(InvalidTransitionError):
        repo.transition("job1", JobStatus.ASSEMBLING)
    record = repo.get("job1")
    assert (record.status, record.error) == (JobStatus.FAILED, "boom")


def test_a_done_job_cannot_be_failed(repo: JobRepository) -> None:
    repo.create(_spec(), segment_count=1)
    for status in (JobStatus.PLANNING, JobStatus.RENDERING_SEGMENTS, JobStatus.ASSEMBLING, JobStatus.DONE):
        repo.transition("job1", status)
    with pytest.raises(InvalidTransitionError):
        repo.transition("job1", JobStatus.FAILED, error="late failure")
    assert repo.get("job1").status is JobStatus.DONE


def test_progress_never_goes_backwards(repo: JobRepository) -> None:
    repo.create(_spec(), segment_count=1)
    repo.raise_progress("job1", 40.0)
    repo.raise_progress("job1", 20.0)
    assert repo.get("job1").progress_pct == 40.0
    repo.raise_progress("job1", 55.5)
    assert repo.get("job1").progress_pct == 55.5


def test_segments_are_recorded_and_done_is_final(repo: JobRepository) -> None:
    planned = plan_documents(_spec())
    plan = planned.plan
    repo.create(plan.spec, segment_count=len(plan.segments))
    repo.put_segments("job1", plan.segments, planned.scene_graph.scenes)
    assert [s.status for s in repo.segments("job1")] == [SegmentStatus.PENDING] * len(plan.segments)
    repo.update_segment("job1", 0, SegmentStatus.RUNNING)
    repo.update_segment("job1", 0, SegmentStatus.DONE, artifact_key="k", render_seconds=1.25)
    with pytest.raises(InvalidTransitionError):
        repo.update_segment("job1", 0, SegmentStatus.FAILED, error="late")
    first = repo.segments("job1")[0]
    assert (first.status, first.artifact_key, first.render_seconds, first.attempts) == (
        SegmentStatus.DONE,
        "k",
        1.25,
        1,
    )
    # Re-planning the same spec keeps finished work.
    repo.put_segments("job1", plan.segments, planned.scene_graph.scenes)
    assert repo.segments("job1")[0].status is SegmentStatus.DONE
