"""Starting and inspecting executions: a RenderJob's is named after its job, a ProductionRun's after its run."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pytoon.aws import client
from pytoon.errors import TransientError


def start_render_execution(state_machine_arn: str, job_id: str, region: str, *, speak: bool = False) -> str:
    """Start the job's execution (`speak`: it has a voice script, spoken first); a repeated start for the same
    job is a no-op, not a second render."""
    return start_named_execution(state_machine_arn, job_id, {"job_id": job_id, "speak": speak}, region)


def start_named_execution(state_machine_arn: str, name: str, document: dict[str, Any], region: str) -> str:
    """Start the execution called `name` with `document` as its input; starting it again with the same input
    is a no-op (the execution already running or finished is the answer)."""
    sfn: Any = client("stepfunctions", region)
    # Sorted, compact input: a repeated start sends byte-identical input, which AWS treats as idempotent.
    payload = json.dumps(document, sort_keys=True, separators=(",", ":"))
    try:
        return sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=payload)["executionArn"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "ExecutionAlreadyExists":
            return execution_arn(state_machine_arn, name)
        if code in ("ThrottlingException", "ServiceUnavailable"):
            raise TransientError(f"could not start the execution ({code})") from exc
        raise
    except BotoCoreError as exc:
        raise TransientError(f"could not reach Step Functions: {exc}") from exc


def execution_status(state_machine_arn: str, name: str, region: str) -> tuple[str, str | None]:
    """The named execution's status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED) and its error, if any."""
    sfn: Any = client("stepfunctions", region)
    described = sfn.describe_execution(executionArn=execution_arn(state_machine_arn, name))
    error = " ".join(part for part in (described.get("error"), described.get("cause")) if part)
    return described["status"], error or None


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
