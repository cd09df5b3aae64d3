"""API Gateway → FastAPI through Mangum."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from pytoon.api.app import create_app
from pytoon.observability import logger, tracer

asgi_handler = Mangum(create_app(), lifespan="off")


# A plain function around Mangum: Tracer needs a __name__, which a Mangum instance lacks (mangum#222).
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return asgi_handler(event, context)
