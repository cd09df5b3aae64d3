"""Resolving a Step Functions task that waits on a token: SendTaskSuccess and SendTaskFailure."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pytoon.aws import client
from pytoon.errors import TransientError

# The token belongs to no waiting task any more: it timed out, its execution ended, or it was already used.
_STALE_TOKEN_ERRORS = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
# SendTaskFailure's limits on its two fields.
MAX_ERROR_CHARS = 256
MAX_CAUSE_CHARS = 32768


def send_task_success(token: str, output: dict[str, Any], region: str) -> bool:
    """Resume the task with `output`; False when no task waits on the token any more."""
    return _send(lambda sfn: sfn.send_task_success(taskToken=token, output=json.dumps(output)), region)


def send_task_failure(token: str, error: str, cause: str, region: str) -> bool:
    """Fail the task with `error` (what its Catch matches) and `cause`; False when no task waits on the token."""
    return _send(
        lambda sfn: sfn.send_task_failure(
            taskToken=token, error=error[:MAX_ERROR_CHARS], cause=cause[:MAX_CAUSE_CHARS]
        ),
        region,
    )


def _send(call: Callable[[Any], object], region: str) -> bool:
    try:
        call(client("stepfunctions", region))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in _STALE_TOKEN_ERRORS:
            return False
        if code in ("ThrottlingException", "ServiceUnavailable"):
            raise TransientError(f"could not resume the task ({code})") from exc
        raise
    except BotoCoreError as exc:
        raise TransientError(f"could not reach Step Functions: {exc}") from exc
    return True
