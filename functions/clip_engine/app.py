"""One short step of an external engine's generation (begin, poll, collect the finished clip, or await the
provider's webhook), for a render job's generated scene or a production run's clip; the state machine
waits between steps."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from pytoon.observability import logger, tracer
from pytoon.pipeline import ClipStepRef, generate_clip
from pytoon.runs.steps import RunClipStepRef, generate_run_clip


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if "run_id" in event:
        clip = RunClipStepRef.model_validate(event)
        logger.append_keys(run_id=clip.run_id, clip=clip.index, step=clip.step.value)
        return generate_run_clip(clip.run_id, clip.index, clip.step, clip.task_token).model_dump(mode="json")
    request = ClipStepRef.model_validate(event)
    logger.append_keys(job_id=request.job_id, segment=request.index, step=request.step.value)
    return generate_clip(request.job_id, request.index, request.step, request.task_token).model_dump(mode="json")
