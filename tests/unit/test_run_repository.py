"""Run records in moto's DynamoDB (the table built from template.yaml's key schema): a finished run never
changes, a write that expects a status happens only at it, artifacts and single clips are set in place, and a
tenant lists only its own runs, newest first."""

from __future__ import annotations

import pytest

from pytoon.aws.runs import RunChangedError, RunRepository
from pytoon.runs.models import ClipArtifact, RunNotFoundError, RunStatus


@pytest.fixture
def runs(moto_table: str) -> RunRepository:
    return RunRepository(moto_table, "us-east-1")


def _clip(index: int) -> dict:
    return ClipArtifact(index=index, prompt=f"shot {index}", caption=f"Caption {index}.", seconds=5.0).model_dump()


def test_a_run_is_created_pending_and_read_back(runs: RunRepository) -> None:
    created = runs.create(run_id="r1", tenant_id="acme", project="aismr", brief="Rain")
    assert created.status is RunStatus.PENDING and runs.get("r1") == created
    with pytest.raises(RunNotFoundError):
        runs.get("missing")


def test_artifacts_and_one_clip_are_set_without_touching_the_rest(runs: RunRepository) -> None:
    runs.create(run_id="r1", tenant_id="acme", project="aismr", brief="Rain")
    runs.update("r1", status=RunStatus.AWAITING_VIDEO_GENERATION, artifacts={"clips": [_clip(0), _clip(1)]})
    done = {**_clip(1), "done": True, "engine": "luma", "seconds": 4.5}
    runs.update("r1", clip=(1, done), current_step="clips")
    record = runs.get("r1")
    assert [c.done for c in record.artifacts.clips] == [False, True]
    assert record.artifacts.clips[1].engine == "luma" and record.artifacts.clips[1].seconds == 4.5
    assert record.current_step == "clips" and record.status is RunStatus.AWAITING_VIDEO_GENERATION


def test_a_finished_run_never_changes_and_expect_guards_a_status(runs: RunRepository) -> None:
    runs.create(run_id="r1", tenant_id="acme", project="aismr", brief="Rain")
    runs.update("r1", status=RunStatus.AWAITING_IDEATION_APPROVAL)
    with pytest.raises(RunChangedError) as moved:
        runs.update("r1", expect=RunStatus.AWAITING_PUBLISH_APPROVAL, status=RunStatus.RUNNING)
    assert moved.value.status is RunStatus.AWAITING_IDEATION_APPROVAL
    runs.update("r1", expect=RunStatus.AWAITING_IDEATION_APPROVAL, status=RunStatus.RUNNING)
    runs.update("r1", status=RunStatus.REJECTED, error="rejected at the ideation gate: no")
    with pytest.raises(RunChangedError):
        runs.update("r1", status=RunStatus.RUNNING)
    assert runs.get("r1").status is RunStatus.REJECTED


def test_a_tenant_lists_its_own_runs_newest_first_filtered_by_status(runs: RunRepository) -> None:
    for number in range(3):
        runs.create(run_id=f"a{number}", tenant_id="acme", project="aismr", brief=f"Brief {number}")
    runs.create(run_id="b0", tenant_id="other", project="aismr", brief="Theirs")
    runs.update("a1", status=RunStatus.AWAITING_IDEATION_APPROVAL)
    assert [r.run_id for r in runs.list_for_tenant("acme")] == ["a2", "a1", "a0"]
    assert [r.run_id for r in runs.list_for_tenant("acme", status=RunStatus.AWAITING_IDEATION_APPROVAL)] == ["a1"]
    assert [r.run_id for r in runs.list_for_tenant("acme", limit=2)] == ["a2", "a1"]
    assert [r.run_id for r in runs.list_for_tenant("other")] == ["b0"]
