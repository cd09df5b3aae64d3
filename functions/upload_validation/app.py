"""Validates objects uploaded straight to S3 (presigned POST): READY, or REJECTED and deleted."""

from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.typing import LambdaContext

from pytoon.assets import validate_uploaded_object
from pytoon.observability import logger, tracer


# The S3 notification is read as the dict it is: Powertools' S3Event would load every one of its event classes
# (about 12 ms of each cold start). S3's configuration test event has no Records, and nothing to validate.
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    decided = []
    for record in event.get("Records", []):
        # S3 URL-encodes keys with '+' for spaces: unquote_plus, not unquote.
        key = unquote_plus(record["s3"]["object"]["key"])
        asset = validate_uploaded_object(key)
        decided.append({"key": key, "status": asset.status if asset else "DELETED"})
    return {"assets": decided}
