"""The HTTP API (FastAPI): the same app under `pytoon serve` and behind API Gateway via Mangum."""
