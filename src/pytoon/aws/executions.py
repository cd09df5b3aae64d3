"""Starting and inspecting RenderJob executions (execution name = job id)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pytoon.aws import client
from pytoon.errors import TransientError


def start_render_execution(state_machine_arn: str, job_id: str, region: str, *, speak: bool = False) -> str:
    """Start the job's execution (`speak`: it has a voice script, spoken first); a repeated start for the same
    job is a no-op, not a second render."""
    sfn: Any = client("stepfunctions", region)
    # Sorted, compact input: a repeated start sends byte-identical input, which AWS treats as idempotent.
    payload = json.dumps({"job_id": job_id, "speak": speak}, sort_keys=True, separators=(",", ":"))
    try:
        return sfn.start_execution(stateMachineArn=state_machine_arn, name=job_id, input=payload)["executionArn"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "ExecutionAlreadyExists":
            return execution_arn(state_machine_arn, job_id)
        if code in ("ThrottlingException", "ServiceUnavailable"):
            raise TransientError(f"could not start render ({code})") from exc
        raise
    except BotoCoreError as exc:
        raise TransientError(f"could not reach Step Functions: {exc}") from exc


def execution_arn(state_machine_arn: str, job_id: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{job_id}"
