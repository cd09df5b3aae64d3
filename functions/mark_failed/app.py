"""Marks a job FAILED with a readable reason, or a production run whose execution died.

Invoked by the render state machine's Catch (`{"job_id", "error": {"Error", "Cause"}}`) and, as a backstop, by
the EventBridge rule for executions that died outside the Catch paths: a render job's (the job id is the
execution name) or a production run's (the run id is), whose run is then failed with what the execution says.
"""

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from pytoon.observability import logger, tracer
from pytoon.pipeline import mark_failed
from pytoon.runs.models import RunNotFoundError
from pytoon.runs.service import end_with_execution

EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"


class CatchPayload(BaseModel):
    job_id: str
    error: dict | None = None


class ExecutionStatusDetail(BaseModel):
    name: str
    status: str
    error: str | None = None
    cause: str | None = None


def _catch_payload(detail: ExecutionStatusDetail) -> CatchPayload:
    cause = detail.cause or f"render execution {detail.status.lower()}"
    return CatchPayload(job_id=detail.name, error={"Error": detail.error or detail.status, "Cause": cause})


def _ended_run(detail: ExecutionStatusDetail) -> dict | None:
    """The run the execution was, failed if it had not ended; None when the execution is not a run's."""
    said = ": ".join(part for part in (detail.error, detail.cause) if part) or None
    try:
        record = end_with_execution(detail.name, detail.status, said)
    except RunNotFoundError:
        return None
    return {"run_id": record.run_id, "status": record.status.value, "reason": record.error}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if event.get("detail-type") == EXECUTION_STATUS_CHANGE:
        detail = ExecutionStatusDetail.model_validate(event["detail"])
        ended_run = _ended_run(detail)
        if ended_run is not None:
            logger.append_keys(run_id=detail.name)
            return ended_run
        payload = _catch_payload(detail)
    else:
        payload = CatchPayload.model_validate(event)
    logger.append_keys(job_id=payload.job_id)
    return mark_failed(payload.job_id, payload.error).model_dump(mode="json")
