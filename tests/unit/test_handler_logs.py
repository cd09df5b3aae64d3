"""Handlers share one Powertools logger per process (every function, locally): an invocation starts with a clean
log state, so its lines never carry keys a previous invocation appended (a job id, a segment index)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from functions.mark_failed.app import lambda_handler as mark_failed_handler
from functions.webhooks.app import lambda_handler as webhooks_handler
from pytoon.local.lambda_runtime import LocalContext
from pytoon.observability import logger


def _context(name: str) -> LocalContext:
    return LocalContext(name, 256, 10, f"arn:aws:lambda:us-east-1:123456789012:function:{name}")


@pytest.fixture
def log(moto_settings: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What the shared logger writes while the test runs."""
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        yield stream
    finally:
        logger.registered_handler.setStream(previous)


def _lines(log: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in log.getvalue().splitlines()]


def test_an_invocation_does_not_log_the_previous_invocations_job_id(log: io.StringIO) -> None:
    # A job with no record: MarkFailed says so in a warning that carries the job id it appended.
    mark_failed_handler({"job_id": "job-first", "error": {"Error": "X", "Cause": "y"}}, _context("MarkFailedFunction"))
    first = _lines(log)
    assert [line["job_id"] for line in first] == ["job-first"]

    # The next invocation in the same process (another function here, as locally) logs without it.
    event = {"pathParameters": {"provider": "nobody"}, "headers": {}, "body": "{}", "isBase64Encoded": False}
    assert webhooks_handler(event, _context("WebhooksFunction"))["statusCode"] == 404
    second = _lines(log)[len(first) :]
    assert second and all("job_id" not in line for line in second)
    assert {line["function_name"] for line in second} == {"WebhooksFunction"}
