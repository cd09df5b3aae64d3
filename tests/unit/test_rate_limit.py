"""The shared per-minute limit, in moto's DynamoDB with a clock the test moves: never more than `limit`
admissions in any rolling 60 seconds (across a minute boundary too, and from racing instances), an honest
Retry-After, and a separate limit on failed authentications per source address."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from moto.dynamodb.models.table import Table

from pytoon.aws.apikeys import ApiKeyRecord, ApiKeyRepository, RateLimited
from pytoon.aws.ratelimit import WINDOW_SECONDS
from pytoon.limits import FAILED_AUTH_LIMIT_PER_MINUTE
from tests.conftest import REGION

MINUTE = 1_700_000_040  # a calendar-minute boundary (divisible by 60)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(MINUTE - 30)


@pytest.fixture
def repo(moto_table: str, clock: Clock) -> ApiKeyRepository:
    return ApiKeyRepository(moto_table, REGION, clock=clock)


def _key(key_id: str = "key_a", limit: int = 60) -> ApiKeyRecord:
    return ApiKeyRecord(key_id=key_id, tenant_id="t", rate_limit_per_minute=limit, created_at="2026-01-01T00:00:00Z")


def _admitted(repo: ApiKeyRepository, record: ApiKeyRecord) -> bool:
    try:
        repo.admit(record)
    except RateLimited:
        return False
    return True


def test_a_burst_before_a_minute_boundary_is_not_doubled_after_it(repo: ApiKeyRepository, clock: Clock) -> None:
    record = _key(limit=60)
    admitted = []
    for i in range(60):  # 60 requests at 0:59
        clock.now = MINUTE - 1 + i * 0.01
        admitted.append(_admitted(repo, record))
    assert all(admitted)
    for i in range(60):  # a fixed calendar-minute window would admit all 60 again at 1:00
        clock.now = MINUTE + i * 0.01
        assert not _admitted(repo, record)


def test_never_more_than_limit_in_any_rolling_minute_under_steady_load(
    repo: ApiKeyRepository, clock: Clock, moto_table: str
) -> None:
    record = _key(limit=10)
    start = clock.now
    admissions = []
    for step in range(3 * 120):  # one request every half second for three minutes
        clock.now = start + step * 0.5
        if _admitted(repo, record):
            admissions.append(clock.now)
    per_rolling_minute = [sum(t <= u < t + WINDOW_SECONDS for u in admissions) for t in admissions]
    assert max(per_rolling_minute) == 10  # the limit is reached and never passed
    assert len(admissions) >= 10 * 3  # and it is not stricter than asked: 10 in every minute of the three
    item = (
        boto3.resource("dynamodb", region_name=REGION)
        .Table(moto_table)
        .get_item(Key={"PK": "RATE#key#key_a", "SK": "WINDOW"})["Item"]
    )
    assert len(item["buckets"]) <= WINDOW_SECONDS + 1
    assert item["expires_at"] > clock.now


def test_retry_after_is_when_the_next_request_is_admitted(repo: ApiKeyRepository, clock: Clock) -> None:
    record = _key(limit=5)
    for offset in (0.0, 0.3, 12.7, 30.2, 41.9):
        clock.now = MINUTE + offset
        assert _admitted(repo, record)
    clock.now = MINUTE + 50.5
    with pytest.raises(RateLimited) as refused:
        repo.admit(record)
    wait = refused.value.retry_after_seconds
    # The oldest second's last admission (0.3) stops counting at 60.3: 9.8 s from 50.5, rounded up.
    assert wait == 10
    clock.now = MINUTE + 50.5 + wait - 1
    with pytest.raises(RateLimited) as still:
        repo.admit(record)
    assert still.value.retry_after_seconds == 1
    clock.now = MINUTE + 50.5 + wait
    # That second held two admissions (0.0 and 0.3): two places are free now, and no third.
    assert [_admitted(repo, record) for _ in range(3)] == [True, True, False]


def test_each_key_has_its_own_window(repo: ApiKeyRepository) -> None:
    busy, calm = _key("key_busy", limit=3), _key("key_calm", limit=3)
    assert [_admitted(repo, busy) for _ in range(4)] == [True, True, True, False]
    assert _admitted(repo, calm)


@pytest.fixture
def atomic_moto_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB evaluates a write's condition and applies it as one step; moto's in-process backend does not
    lock between the two, so racing threads get a lock around each write, as the real service behaves."""
    lock = threading.Lock()
    put_item = Table.put_item

    def locked(self: Table, *args: object, **kwargs: object) -> object:
        with lock:
            return put_item(self, *args, **kwargs)

    monkeypatch.setattr(Table, "put_item", locked)


@pytest.mark.usefixtures("atomic_moto_writes")
def test_racing_instances_never_admit_past_the_limit(moto_table: str, clock: Clock) -> None:
    record = _key(limit=15)
    start = threading.Barrier(12)

    def instance(_: int) -> Iterator[bool]:
        own = ApiKeyRepository(moto_table, REGION, clock=clock)  # one repository per API instance
        start.wait()
        return [_admitted(own, record) for _ in range(4)]

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = [ok for batch in pool.map(instance, range(12)) for ok in batch]
    assert sum(outcomes) == 15


def test_failed_authentications_are_limited_per_source(repo: ApiKeyRepository, clock: Clock) -> None:
    for _ in range(FAILED_AUTH_LIMIT_PER_MINUTE):
        repo.admit_unauthenticated("203.0.113.7")
    with pytest.raises(RateLimited) as refused:
        repo.admit_unauthenticated("203.0.113.7")
    assert 1 <= refused.value.retry_after_seconds <= WINDOW_SECONDS
    repo.admit_unauthenticated("2001:db8::1")  # another source has its own allowance
    assert _admitted(repo, _key())  # and keys are counted apart from failed authentications
