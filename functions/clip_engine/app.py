"""GenerateClips step (one Map iteration per generated scene): one short step of an external engine's
generation (begin, poll, or collect the finished clip); the state machine waits between steps."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from pytoon.observability import logger, tracer
from pytoon.pipeline import ClipStepRef, generate_clip


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = ClipStepRef.model_validate(event)
    logger.append_keys(job_id=request.job_id, segment=request.index, step=request.step.value)
    return generate_clip(request.job_id, request.index, request.step, request.task_token).model_dump(mode="json")
