"""Service routes, open to anyone: liveness and Prometheus metrics."""

from __future__ import annotations

from fastapi import Response

from pytoon import __version__
from pytoon.api.routing import api_router
from pytoon.api.schemas import HealthBody
from pytoon.config import get_settings

router = api_router(tags=["service"])


class PrometheusText(Response):
    media_type = "text/plain"


@router.get("/health", response_model=HealthBody)
def health() -> HealthBody:
    return HealthBody(status="ok", version=__version__)


@router.get(
    "/metrics",
    response_class=PrometheusText,
    responses={200: {"description": "Prometheus text exposition format", "content": {"text/plain": {}}}},
)
def metrics() -> Response:
    """Counters from DynamoDB, so every instance reports the same figures."""
    # Imported here: prometheus_client is only needed when someone scrapes.
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    from pytoon.aws.metrics import MetricsStore

    registry = CollectorRegistry()
    registry.register(MetricsStore.from_settings(get_settings()))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
