"""Provider webhooks (`POST /webhooks/{provider}`): verify on the raw body, resume the waiting task."""

import base64

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from pytoon.observability import logger, tracer
from pytoon.webhooks import WebhookRejectedError, handle_webhook

PROVIDERS = ("sora", "remotion")


def _response(status: int, body: str) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": body}


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_source(data_class=APIGatewayProxyEvent)
def lambda_handler(event: APIGatewayProxyEvent, context: LambdaContext) -> dict:
    provider = (event.path_parameters or {}).get("provider", "")
    if provider not in PROVIDERS:
        return _response(404, '{"detail": "Unknown webhook provider"}')
    raw = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    try:
        outcome = handle_webhook(provider, dict(event.headers or {}), raw)
    except WebhookRejectedError as exc:
        logger.warning("webhook rejected", extra={"provider": provider, "reason": str(exc)})
        return _response(401, '{"detail": "Webhook signature or payload rejected"}')
    logger.info("webhook handled", extra={"provider": provider, "status": outcome.status, "task": outcome.task_id})
    return _response(200, f'{{"status": "{outcome.status}"}}')
