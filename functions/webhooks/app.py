"""Provider webhooks (`POST /webhooks/{provider}`, with the query the callback URL carries): verify on the raw
body, resume the waiting task."""

import base64
import json

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from pytoon.errors import TransientError
from pytoon.observability import logger, tracer
from pytoon.webhooks import (
    UnknownProviderError,
    WebhookError,
    WebhookPayloadError,
    WebhookSignatureError,
    handle_webhook,
)

# Every refusal is a 4xx: the provider shows it and, for its own reasons, may retry. 2xx means handled.
_REFUSAL_STATUS = {UnknownProviderError: 404, WebhookSignatureError: 401, WebhookPayloadError: 400}


def _response(status: int, body: dict, headers: dict | None = None) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body),
    }


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@event_source(data_class=APIGatewayProxyEvent)
def lambda_handler(event: APIGatewayProxyEvent, context: LambdaContext) -> dict:
    provider = (event.path_parameters or {}).get("provider", "")
    raw = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    try:
        outcome = handle_webhook(provider, dict(event.headers or {}), raw, dict(event.query_string_parameters or {}))
    except WebhookError as exc:
        status = _REFUSAL_STATUS[type(exc)]
        logger.warning("webhook refused", extra={"provider": provider, "status": status, "reason": str(exc)})
        return _response(status, {"detail": str(exc)})
    except TransientError as exc:
        # Nothing was recorded as handled, so the provider's retry is processed in full.
        logger.warning("webhook not handled yet", extra={"provider": provider, "reason": str(exc)})
        return _response(503, {"detail": str(exc)}, {"Retry-After": "5"})
    logger.info("webhook handled", extra={"provider": provider, "status": outcome.status, "task": outcome.task_id})
    return _response(200, {"status": outcome.status})
