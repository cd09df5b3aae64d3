"""API Gateway → FastAPI through Mangum. The app (and its configuration) is built at cold start."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from pytoon.api.app import create_app
from pytoon.observability import logger, tracer

asgi_handler = Mangum(create_app(), lifespan="off")


# A plain function around Mangum: Tracer needs a __name__, which a Mangum instance lacks (mangum#222).
# clear_state: keys a request appended to the logger must not appear on the next invocation's lines.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return asgi_handler(event, context)
