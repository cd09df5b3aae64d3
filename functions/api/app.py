"""API Gateway → FastAPI through Mangum. The app (and its configuration) is built at cold start."""

import gc

# What the cold start builds (modules, models, routes, the app) lives as long as the function, so the cyclic
# collector would find next to nothing to free in it: it is paused meanwhile, and what was built is then set
# aside (gc.freeze) so that collections during requests do not rescan it either.
_collecting = gc.isenabled()  # an importer that paused the collector itself keeps it paused
gc.disable()
try:
    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mangum import Mangum
    from pydantic import BaseModel

    # FastAPI defines the ~40 models of the OpenAPI document (fastapi.openapi.models) at its import and builds
    # each one's validator, ~0.06 s of CPU, though only /openapi.json uses them. Models defined while FastAPI is
    # imported inherit defer_build from BaseModel's config, so they are built on first use (apart from the three
    # FastAPI rebuilds itself); models defined afterwards keep pydantic's default.
    BaseModel.model_config["defer_build"] = True
    try:
        import fastapi  # noqa: F401
    finally:
        del BaseModel.model_config["defer_build"]

    from pytoon.api.app import create_app
    from pytoon.observability import logger, tracer

    asgi_handler = Mangum(create_app(), lifespan="off")
finally:
    gc.freeze()
    if _collecting:
        gc.enable()


# A plain function around Mangum: Tracer needs a __name__, which a Mangum instance lacks (mangum#222).
# clear_state: keys a request appended to the logger must not appear on the next invocation's lines.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return asgi_handler(event, context)
