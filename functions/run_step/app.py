"""ProductionRun steps (ideate, gates, clip plan, render job, publish, the run's end): one short step each."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from pytoon.observability import logger, tracer
from pytoon.runs.steps import RunStepRequest, run_step


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = RunStepRequest.model_validate(event)
    logger.append_keys(run_id=request.run_id, action=request.action)
    return run_step(request)
