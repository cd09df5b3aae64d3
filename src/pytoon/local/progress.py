"""Following a job on embedded AWS without polling on a timer.

Embedded AWS counts every event that may have changed a job (a DynamoDB write handled by its endpoint, a
finished Lambda invocation) in a ChangeSignal; the job record is re-read after each, so a finished job is
seen as soon as its final status is stored. If nothing happens for FALLBACK_SECONDS, the execution itself is
checked, so an execution that ends without a handler recording it (a States.Runtime error, a stop) is
reported instead of waited on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pytoon.aws import client
from pytoon.aws.executions import execution_arn
from pytoon.aws.jobs import JobRecord, JobRepository
from pytoon.config import get_settings

FALLBACK_SECONDS = 1.0


class ChangeSignal:
    """A count of events, with a wait for the next one."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.count = 0

    def notify(self) -> None:
        with self._condition:
            self.count += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the count passes `seen` or `timeout` seconds pass; returns the count."""
        with self._condition:
            self._condition.wait_for(lambda: self.count > seen, timeout=timeout)
            return self.count


class JobNotFinishedError(RuntimeError):
    """The job's execution ended without the job reaching DONE or FAILED, or the deadline passed."""


def watch_job(
    job_id: str,
    changes: ChangeSignal,
    *,
    timeout_seconds: float,
    on_update: Callable[[JobRecord], None] | None = None,
) -> JobRecord:
    """Wait until the job is DONE or FAILED and return its record; `on_update` sees every re-read record."""
    settings = get_settings()
    jobs = JobRepository.from_settings(settings)
    deadline = time.monotonic() + timeout_seconds
    seen = changes.count
    record = jobs.get(job_id)
    while True:
        if on_update is not None:
            on_update(record)
        if record.status.terminal:
            return record
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise JobNotFinishedError(f"timed out after {timeout_seconds:.0f}s in {record.status.value}")
        count = changes.wait(seen, min(FALLBACK_SECONDS, remaining))
        if count == seen:
            _require_running(settings.state_machine_arn, job_id, settings.region, jobs)
        seen = count
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
