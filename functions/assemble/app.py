"""Assemble step: joins the segments by stream copy, builds the audio once, writes every artifact."""

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from pytoon.observability import logger, tracer
from pytoon.pipeline import assemble_job


class AssembleRequest(BaseModel):
    job_id: str


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = AssembleRequest.model_validate(event)
    logger.append_keys(job_id=request.job_id)
    return assemble_job(request.job_id).model_dump(mode="json")
