"""Speak step (jobs with a voice script, before planning): the script spoken sentence by sentence, stored with
each sentence's timing."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from pytoon.observability import logger, tracer
from pytoon.pipeline import JobRef, speak_job


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = JobRef.model_validate(event)
    logger.append_keys(job_id=request.job_id)
    return speak_job(request.job_id).model_dump(mode="json")
