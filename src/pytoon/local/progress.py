"""Following a job on embedded AWS without polling on a timer.

Every job status change is written by a Lambda handler, so the job record is re-read each time the local
Lambda runtime reports a finished invocation: a finished job is seen as soon as the handler that finished it
returns. If nothing finishes for FALLBACK_SECONDS, the execution itself is checked, so an execution that
ends without a handler recording it (a States.Runtime error, a stop) is reported instead of waited on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from pytoon.aws import client
from pytoon.aws.executions import execution_arn
from pytoon.aws.jobs import JobRecord, JobRepository
from pytoon.config import get_settings

FALLBACK_SECONDS = 1.0


class InvocationSignal(Protocol):
    finished_invocations: int

    def wait_for_invocations(self, seen: int, timeout: float) -> int: ...


class JobNotFinishedError(RuntimeError):
    """The job's execution ended without the job reaching DONE or FAILED, or the deadline passed."""


def watch_job(
    job_id: str,
    signal: InvocationSignal,
    *,
    timeout_seconds: float,
    on_update: Callable[[JobRecord], None] | None = None,
) -> JobRecord:
    """Wait until the job is DONE or FAILED and return its record; `on_update` sees every re-read record."""
    settings = get_settings()
    jobs = JobRepository.from_settings(settings)
    deadline = time.monotonic() + timeout_seconds
    seen = signal.finished_invocations
    record = jobs.get(job_id)
    while True:
        if on_update is not None:
            on_update(record)
        if record.status.terminal:
            return record
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise JobNotFinishedError(f"timed out after {timeout_seconds:.0f}s in {record.status.value}")
        finished = signal.wait_for_invocations(seen, min(FALLBACK_SECONDS, remaining))
        if finished == seen:
            _require_running(settings.state_machine_arn, job_id, settings.region, jobs)
        seen = finished
        record = jobs.get(job_id)


def _require_running(state_machine_arn: str | None, job_id: str, region: str, jobs: JobRepository) -> None:
    if not state_machine_arn:
        return
    execution = client("stepfunctions", region).describe_execution(
        executionArn=execution_arn(state_machine_arn, job_id)
    )
    if execution["status"] == "RUNNING" or jobs.get(job_id).status.terminal:
        return
    detail = ": ".join(part for part in (execution.get("error"), execution.get("cause")) if part)
    raise JobNotFinishedError(f"the render execution ended {execution['status']}" + (f" ({detail})" if detail else ""))
