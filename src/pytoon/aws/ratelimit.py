"""A per-minute request limit shared by every API instance, exact over any rolling 60 seconds.

One item per limited subject (an API key, or a source address that keeps failing authentication):
`RATE#{subject}`/`WINDOW` holds `buckets`, a map from a whole epoch second to `[admitted, last_ms]` (how many
requests were admitted in that second and when the last of them was, in epoch milliseconds), a `version`
bumped by every admission, and `expires_at` (TTL) a little past the newest bucket's expiry.

A bucket counts against the limit until its last admission is 60 seconds old, so every admitted request is
counted for at least 60 seconds: no 60-second window [t, t + 60), across a minute boundary or not, ever holds
more than `limit` admissions, and a refused request never waits more than 60 seconds. At most 61 buckets
are kept, whatever the limit.

An admission reads the item and writes it back on the condition that `version` is still the one it read.
Two instances racing for the last free place cannot both win: the loser sees the condition fail, reads the
winner's item and decides again. Requests that are refused write nothing, so a flood of refused requests
does not slow down the admitted ones.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from pytoon.aws import TableRepository, condition_failed, plain_numbers

WINDOW_SECONDS = 60
_WINDOW_MS = WINDOW_SECONDS * 1000
# Each lost race means another request was admitted meanwhile; this many in a row means the subject is
# sending far more concurrent requests than it may, and the request is refused as over the limit.
MAX_ATTEMPTS = 25


class RateLimited(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"rate limit exceeded; retry in {retry_after_seconds}s")
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class SlidingWindowLimiter(TableRepository):
    clock: Callable[[], float] = field(default=time.time)

    def admit(self, subject: str, limit: int) -> None:
        """Admit one request for `subject` or raise RateLimited with the seconds until one would be admitted."""
        key = {"PK": f"RATE#{subject}", "SK": "WINDOW"}
        for attempt in range(MAX_ATTEMPTS):
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
            window = plain_numbers(item) if item else {}
            now_ms = int(self.clock() * 1000)
            buckets = _live_buckets(window.get("buckets", {}), now_ms)
            admitted = sum(count for count, _ in buckets.values())
            if admitted >= limit:
                raise RateLimited(_retry_after_seconds(buckets, admitted - limit + 1, now_ms))
            second = now_ms // 1000
            count, last_ms = buckets.get(second, (0, now_ms))
            buckets[second] = (count + 1, max(last_ms, now_ms))
            # The first admission creates the item; every later one must find the version it read.
            guard = (
                {"ConditionExpression": "version = :read", "ExpressionAttributeValues": {":read": window["version"]}}
                if item
                else {"ConditionExpression": "attribute_not_exists(PK)"}
            )
            try:
                self._table.put_item(
                    Item={
                        **key,
                        "buckets": {str(s): [n, last] for s, (n, last) in buckets.items()},
                        "version": window.get("version", 0) + 1,
                        "expires_at": now_ms // 1000 + WINDOW_SECONDS + 2,
                    },
                    **guard,
                )
                return
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
            # Another instance admitted a request between our read and write: spread the retries a little.
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise RateLimited(retry_after_seconds=1)


def _live_buckets(stored: dict[str, list[int]], now_ms: int) -> dict[int, tuple[int, int]]:
    """The buckets whose last admission is less than a window old (they still count against the limit)."""
    return {
        int(second): (int(count), int(last_ms))
        for second, (count, last_ms) in stored.items()
        if now_ms - last_ms < _WINDOW_MS
    }


def _retry_after_seconds(buckets: dict[int, tuple[int, int]], must_free: int, now_ms: int) -> int:
    """Whole seconds until the oldest buckets holding `must_free` admissions have all stopped counting."""
    freed = 0
    for second in sorted(buckets):
        count, last_ms = buckets[second]
        freed += count
        if freed >= must_free:
            break
    return max(1, math.ceil((last_ms + _WINDOW_MS - now_ms) / 1000))
