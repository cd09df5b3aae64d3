"""A tenant's outgoing webhook: where run and job events are delivered, signed, and how deliveries went."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response
from pydantic import BaseModel, ConfigDict, Field

from pytoon.api.dependencies import Caller
from pytoon.api.errors import ResourceNotFoundError, error_responses
from pytoon.api.routing import api_router
from pytoon.api.schemas import ResponseBody

PREFIX = "/v1/notifications"
router = api_router(prefix=PREFIX, tags=["notifications"], responses=error_responses(401, 422, 429))


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="https URL that receives the events")
    events: list[str] | None = Field(default=None, max_length=10, description="Which events (all when omitted)")


class WebhookBody(ResponseBody):
    url: str
    events: list[str]
    created_at: str
    secret: str | None = Field(default=None, description="The whsec_ signing secret, shown only when registered")
    secret_hint: str


class DeliveriesBody(ResponseBody):
    deliveries: list[dict[str, Any]]


def _body(subscription: Any, *, with_secret: bool) -> WebhookBody:
    return WebhookBody(
        url=subscription.url,
        events=subscription.events,
        created_at=subscription.created_at,
        secret=subscription.secret if with_secret else None,
        secret_hint=subscription.secret[:10] + "…",
    )


@router.put("/webhook", response_model=WebhookBody, responses=error_responses(400))
def register(request: WebhookRequest, caller: Caller) -> WebhookBody:
    """Register (or replace) the webhook; the answer shows its signing secret, once."""
    from pytoon.notifications import subscribe

    return _body(subscribe(caller.tenant_id, request.url, request.events), with_secret=True)


@router.get("/webhook", response_model=WebhookBody, responses=error_responses(404))
def show(caller: Caller) -> WebhookBody:
    from pytoon.notifications import current_subscription

    found = current_subscription(caller.tenant_id)
    if found is None:
        raise ResourceNotFoundError("No webhook registered")
    return _body(found, with_secret=False)


@router.delete("/webhook", status_code=204, responses=error_responses(404))
def remove(caller: Caller) -> Response:
    from pytoon.aws.notifications import NotificationStore
    from pytoon.config import get_settings

    if not NotificationStore.from_settings(get_settings()).delete_subscription(caller.tenant_id):
        raise ResourceNotFoundError("No webhook registered")
    return Response(status_code=204)


@router.get("/deliveries", response_model=DeliveriesBody)
def deliveries(caller: Caller, limit: Annotated[int, Query(ge=1, le=100)] = 50) -> DeliveriesBody:
    """The latest delivery attempts, newest first: event id and type, attempt, status code or error."""
    from pytoon.aws.notifications import NotificationStore
    from pytoon.config import get_settings

    return DeliveriesBody(
        deliveries=NotificationStore.from_settings(get_settings()).deliveries(caller.tenant_id, limit=limit)
    )
