"""What callers do with production runs (the API, the CLI, the supervisor chat): start one, look at one or
all of a tenant's, and decide a gate. The run's own steps are in `pytoon.runs.steps`.

A run's record follows its execution, which is the source of truth: a run whose execution has ended without
the run saying so (aborted, timed out, failed outside any step) is failed with what the execution says, as
soon as the execution's end is reported (on AWS, by the execution-status rule) or when the run is read.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from pytoon.aws.executions import execution_status, start_named_execution
from pytoon.aws.idempotency import IdempotencyStore
from pytoon.aws.runs import RunChangedError, RunRepository
from pytoon.aws.tasks import TaskKey
from pytoon.clock import utc_now_iso
from pytoon.config import Settings, get_run_settings, get_settings
from pytoon.content_rules import check_prompt
from pytoon.errors import PytoonError
from pytoon.resume import ResumeStatus, TaskResult, resume_task
from pytoon.runs.models import Gate, GateDecision, GateNotWaitingError, RunNotFoundError, RunRecord, RunStatus

# Idempotency keys are per tenant; runs keep theirs apart from render jobs' under this prefix.
_IDEMPOTENCY_PREFIX = "run:"
# The error a rejected gate fails its waiting task with: the state machine's Catch ends the run `rejected`.
REJECTED_ERROR = "Run.Rejected"


class RunStartError(PytoonError):
    """The run's execution could not be started; the run is failed and the same request may be retried."""


def gate_task(run_id: str, gate: Gate) -> TaskKey:
    """Where a run's gate keeps the task token its execution waits with."""
    return TaskKey("gate", f"{run_id}#{gate.value}")


def start_run(
    tenant_id: str,
    project: str,
    brief: str,
    *,
    idempotency_key: str | None = None,
    settings: Settings | None = None,
) -> RunRecord:
    """Check the project and the brief, record the run (pending) and start its execution. With an
    `idempotency_key`, the same key and body give the same run for a day (as for render jobs)."""
    from pytoon.runs.projects import get_project

    settings = settings or get_settings()
    if not settings.production_run_state_machine_arn:
        raise RunStartError("PYTOON_PRODUCTION_RUN_STATE_MACHINE_ARN is not configured")
    get_project(project)
    check_prompt(brief, "brief")
    limits = get_run_settings()
    runs = RunRepository.from_settings(settings)
    record = runs.create(run_id=uuid.uuid4().hex, tenant_id=tenant_id, project=project, brief=brief)
    claims = IdempotencyStore.from_settings(settings)
    claim_key = _IDEMPOTENCY_PREFIX + idempotency_key if idempotency_key else None
    if claim_key:
        body_hash = hashlib.sha256(f"{project}\n{brief}".encode()).hexdigest()
        try:
            held = claims.claim(tenant_id=tenant_id, key=claim_key, request_hash=body_hash, job_id=record.run_id)
        except Exception:
            runs.discard(record.run_id)
            raise
        if held is not None:
            runs.discard(record.run_id)
            return runs.get(held)
    from pytoon.aws.metrics import MetricsStore  # prometheus_client: not needed to import the API

    MetricsStore.from_settings(settings).increment("pytoon_runs_total", project=project)
    document = {"run_id": record.run_id, "timeouts": limits.model_dump()}
    try:
        start_named_execution(settings.production_run_state_machine_arn, record.run_id, document, settings.region)
    except Exception as exc:
        runs.update(record.run_id, status=RunStatus.FAILED, error=f"could not start the run: {exc}")
        if claim_key:
            claims.release(tenant_id=tenant_id, key=claim_key, job_id=record.run_id)
        raise RunStartError(f"could not start the run: {exc}") from exc
    return record


def get_run(tenant_id: str, run_id: str, *, settings: Settings | None = None) -> RunRecord:
    """The tenant's run (RunNotFoundError for another tenant's, as for none), brought in line with its execution."""
    settings = settings or get_settings()
    runs = RunRepository.from_settings(settings)
    record = _tenant_run(runs, tenant_id, run_id)
    if record.status.terminal or record.status is RunStatus.PENDING or not settings.production_run_state_machine_arn:
        return record
    status, error = execution_status(settings.production_run_state_machine_arn, run_id, settings.region)
    if status == "RUNNING":
        return record
    # A read does not deliver the run's notification (attempts and their waits would hold the request): the
    # execution-status rule does, on AWS.
    return end_with_execution(run_id, status, error, settings=settings, announced=False)


def end_with_execution(
    run_id: str, status: str, error: str | None, *, settings: Settings | None = None, announced: bool = True
) -> RunRecord:
    """Fail a run whose execution ended (`status` FAILED, TIMED_OUT or ABORTED) without the run's own steps
    finishing it, with what the execution says, counted and (when `announced`) told to the tenant; a run they
    finished is left as it is. RunNotFoundError when no run has this id."""
    settings = settings or get_settings()
    runs = RunRepository.from_settings(settings)
    try:
        reason = f"the run's execution ended {status}" + (f": {error}" if error else "")
        runs.update(run_id, status=RunStatus.FAILED, error=reason)
    except RunChangedError:  # its last step finished it
        return runs.get(run_id)
    record = runs.get(run_id)
    if announced:
        announce_end(record, "run.failed", settings)
    return record


def announce_end(record: RunRecord, event: str, settings: Settings, **extra: Any) -> None:
    """Count the run's outcome and tell the tenant."""
    from pytoon.aws.metrics import MetricsStore  # prometheus_client: not needed to import the API

    outcome, step = record.status.value, record.current_step or "-"
    MetricsStore.from_settings(settings).increment(
        "pytoon_run_outcomes_total", project=record.project, outcome=outcome, step=step
    )
    announce(record, event, **extra)


def announce(record: RunRecord, event: str, **extra: Any) -> None:
    """Send the run's event to the tenant's notification webhook."""
    from pytoon.notifications import notify

    data = {
        "run_id": record.run_id,
        "status": record.status.value,
        "current_step": record.current_step,
        "error": record.error,
        **extra,
    }
    notify(record.tenant_id, event, data)


def list_runs(
    tenant_id: str, status: RunStatus | None = None, *, limit: int = 50, settings: Settings | None = None
) -> list[RunRecord]:
    return RunRepository.from_settings(settings or get_settings()).list_for_tenant(
        tenant_id, status=status, limit=limit
    )


def approve_gate(
    tenant_id: str,
    run_id: str,
    gate: Gate,
    approved: bool,
    comment: str | None,
    *,
    decided_by: str | None = None,
    settings: Settings | None = None,
) -> RunRecord:
    """Decide the gate the run waits at: approval resumes the run, rejection ends it `rejected` with the
    comment. The decision is written only while the run is still at the gate, so of two reviewers deciding
    at once one wins and the other is told the run has moved on (GateNotWaitingError)."""
    settings = settings or get_settings()
    runs = RunRepository.from_settings(settings)
    record = _tenant_run(runs, tenant_id, run_id)
    if record.status is not gate.waiting_status:
        raise GateNotWaitingError(f"run {run_id} is {record.status.value}, not waiting at the {gate.value} gate")
    decision = GateDecision(approved=approved, comment=comment, decided_by=decided_by, decided_at=utc_now_iso())
    try:
        runs.update(
            run_id,
            expect=gate.waiting_status,
            status=RunStatus.RUNNING,
            artifacts={"gates": {**_decisions(record), gate.value: decision.model_dump(mode="json")}},
        )
    except RunChangedError as exc:
        raise GateNotWaitingError(f"run {run_id} is {exc.status.value}, not waiting at the {gate.value} gate") from None
    result = TaskResult(approved, decision.model_dump(mode="json"), error=REJECTED_ERROR)
    outcome = resume_task(gate_task(run_id, gate), result, claimed_by=f"{gate.value}:{approved}", settings=settings)
    if outcome is not ResumeStatus.RESUMED:
        # The gate's wait ended first (its timeout): the execution fails the run, and says so.
        raise GateNotWaitingError(f"run {run_id} is no longer waiting at the {gate.value} gate ({outcome.value})")
    return runs.get(run_id)


def _decisions(record: RunRecord) -> dict[str, dict]:
    return {name: decision.model_dump(mode="json") for name, decision in record.artifacts.gates.items()}


def _tenant_run(runs: RunRepository, tenant_id: str, run_id: str) -> RunRecord:
    record = runs.get(run_id)
    if record.tenant_id != tenant_id:
        raise RunNotFoundError(f"Run not found: {run_id}")
    return record


@dataclass(frozen=True)
class CallerOperations:
    """These operations on behalf of one API caller, as the supervisor chat uses them: its decisions are
    recorded as the caller's key."""

    decided_by: str | None = None

    def start_run(self, tenant_id: str, project: str, brief: str) -> RunRecord:
        return start_run(tenant_id, project, brief)

    def list_runs(self, tenant_id: str, status: RunStatus | None = None) -> list[RunRecord]:
        return list_runs(tenant_id, status)

    def get_run(self, tenant_id: str, run_id: str) -> RunRecord:
        return get_run(tenant_id, run_id)

    def approve_gate(self, tenant_id: str, run_id: str, gate: Gate, approved: bool, comment: str | None) -> RunRecord:
        return approve_gate(tenant_id, run_id, gate, approved, comment, decided_by=self.decided_by)

    def project_names(self) -> list[str]:
        from pytoon.runs.projects import project_names

        return project_names()
