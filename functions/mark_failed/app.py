"""Marks a job FAILED with a readable reason.

Invoked by the state machine's Catch (`{"job_id", "error": {"Error", "Cause"}}`) and, as a backstop, by
the EventBridge rule for executions that died outside the Catch paths (the job id is the execution name).
"""

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from pytoon.observability import logger, tracer
from pytoon.pipeline import mark_failed


class CatchPayload(BaseModel):
    job_id: str
    error: dict | None = None


class ExecutionStatusDetail(BaseModel):
    name: str
    status: str
    error: str | None = None
    cause: str | None = None


def _parse(event: dict) -> CatchPayload:
    if event.get("detail-type") == "Step Functions Execution Status Change":
        detail = ExecutionStatusDetail.model_validate(event["detail"])
        cause = detail.cause or f"render execution {detail.status.lower()}"
        return CatchPayload(job_id=detail.name, error={"Error": detail.error or detail.status, "Cause": cause})
    return CatchPayload.model_validate(event)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    payload = _parse(event)
    logger.append_keys(job_id=payload.job_id)
    return mark_failed(payload.job_id, payload.error).model_dump(mode="json")
