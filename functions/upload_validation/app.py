"""Validates objects uploaded straight to S3 (presigned POST): READY, or REJECTED and deleted."""

from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from pytoon.assets import validate_uploaded_object
from pytoon.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict:
    decided = []
    for record in event.records:
        # S3 URL-encodes keys with '+' for spaces: unquote_plus, not unquote.
        key = unquote_plus(record.s3.get_object.key)
        asset = validate_uploaded_object(key)
        decided.append({"key": key, "status": asset.status if asset else "DELETED"})
    return {"assets": decided}
