"""Engine health in moto's DynamoDB: recent outcomes per engine, and when an engine is skipped."""

from __future__ import annotations

import pytest

from pytoon.aws.engine_health import EngineHealth

RULES = {"window_seconds": 300, "min_attempts": 3, "failure_threshold": 0.5}
NOW = 1_800_000_000.0


@pytest.fixture
def health(moto_table: str) -> EngineHealth:
    return EngineHealth(moto_table, "us-east-1")


def test_an_engine_failing_most_of_its_recent_generations_is_skipped(health: EngineHealth) -> None:
    for failed in (True, True, False):
        health.record("runway", failed=failed, now=NOW)
    assert health.skip_reason("runway", now=NOW + 10, **RULES) == (
        "runway failed 2 of its 3 generations in the last 300 s"
    )
    assert health.skip_reason("luma", now=NOW + 10, **RULES) is None  # engines are counted apart


def test_too_few_attempts_or_a_low_failure_rate_is_not_skipped(health: EngineHealth) -> None:
    health.record("runway", failed=True, now=NOW)
    health.record("runway", failed=True, now=NOW)
    assert health.skip_reason("runway", now=NOW, **RULES) is None
    for _ in range(3):
        health.record("runway", failed=False, now=NOW)
    assert health.skip_reason("runway", now=NOW, **RULES) is None  # 2 of 5


def test_failures_older_than_the_window_no_longer_count(health: EngineHealth) -> None:
    for _ in range(3):
        health.record("runway", failed=True, now=NOW)
    assert health.skip_reason("runway", now=NOW + 200, **RULES) is not None
    assert health.skip_reason("runway", now=NOW + 400, **RULES) is None
