"""Resuming a Step Functions task that waits on a task token: provider callbacks now, approval gates later.

The waiting side registers its token under a namespaced key (`register_waiting_task`); whoever learns the
result calls `resume_task` with the same key. The token is used once: a second result for the same task is
reported as `already_resumed`, and a token whose task has timed out as `expired`, never sent twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pytoon.aws.callbacks import send_task_failure, send_task_success
from pytoon.aws.tasks import DEFAULT_TOKEN_TTL_SECONDS, ClaimState, TaskKey, TaskTokenStore
from pytoon.config import Settings, get_settings


class ResumeStatus(StrEnum):
    RESUMED = "resumed"
    UNKNOWN_TASK = "unknown_task"
    ALREADY_RESUMED = "already_resumed"
    EXPIRED = "expired"


_REFUSED = {
    ClaimState.UNKNOWN: ResumeStatus.UNKNOWN_TASK,
    ClaimState.USED: ResumeStatus.ALREADY_RESUMED,
    ClaimState.EXPIRED: ResumeStatus.EXPIRED,
}


@dataclass(frozen=True)
class TaskResult:
    """What the waiting task receives: `detail` as its output, or as the cause of the failure named `error`
    (the name its Catch or Retry matches)."""

    succeeded: bool
    detail: dict[str, Any]
    error: str = "TaskFailed"


def register_waiting_task(
    key: TaskKey, token: str, *, ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS, settings: Settings | None = None
) -> None:
    TaskTokenStore.from_settings(settings or get_settings()).register(key, token, ttl_seconds=ttl_seconds)


def resume_task(key: TaskKey, result: TaskResult, *, claimed_by: str, settings: Settings | None = None) -> ResumeStatus:
    """Send `result` to the task waiting under `key`. `claimed_by` names this result (a delivery id, a decision):
    a retry with the same name may send it again after a failure half-way, any other is refused."""
    settings = settings or get_settings()
    claim = TaskTokenStore.from_settings(settings).claim(key, claimed_by=claimed_by)
    if claim.token is None:
        return _REFUSED[claim.state]
    if result.succeeded:
        delivered = send_task_success(claim.token, result.detail, settings.region)
    else:
        delivered = send_task_failure(claim.token, result.error, json.dumps(result.detail), settings.region)
    return ResumeStatus.RESUMED if delivered else ResumeStatus.EXPIRED
