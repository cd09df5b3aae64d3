"""Task tokens of Step Functions tasks that wait on something outside: a provider's render, a person's approval.

`TASK#{namespace}#{name}`/TOKEN holds the token, `registered_at`, `expires_at` (epoch seconds, also the TTL:
the waiting task has timed out by then and the token is useless) and, once the token is used, `used_by` (who
resolved the task) and `used_at`. Keys are namespaced so waiters never collide: a provider and its task id
(`TaskKey("sora", "video_123")`), or a run's approval gate (`TaskKey("gate", "run_1#publish")`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from botocore.exceptions import ClientError

from pytoon.aws import TableRepository, condition_failed
from pytoon.clock import utc_now_iso

# Longer than any provider render or callback retry; a gate that waits longer passes its own TTL.
DEFAULT_TOKEN_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class TaskKey:
    namespace: str
    name: str

    @property
    def item_key(self) -> dict[str, str]:
        return {"PK": f"TASK#{self.namespace}#{self.name}", "SK": "TOKEN"}


class ClaimState(StrEnum):
    CLAIMED = "claimed"
    UNKNOWN = "unknown"  # nothing is registered under the key
    USED = "used"  # another caller already resolved the task
    EXPIRED = "expired"  # registered, but past its TTL


@dataclass(frozen=True)
class TokenClaim:
    state: ClaimState
    token: str | None = None  # set only when CLAIMED


@dataclass(frozen=True)
class TaskTokenStore(TableRepository):
    clock: Callable[[], float] = field(default=time.time)

    def register(self, key: TaskKey, token: str, *, ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS) -> None:
        """Store the token a task waits with. A retried task waits with a new token, which replaces the old."""
        self._table.put_item(
            Item={
                **key.item_key,
                "token": token,
                "registered_at": utc_now_iso(),
                "expires_at": int(self.clock()) + ttl_seconds,
            }
        )

    def claim(self, key: TaskKey, *, claimed_by: str) -> TokenClaim:
        """Take the token to resolve its task. Only one caller ever gets it: the first claim marks it used, and
        later claims are refused, except by the same `claimed_by` (a provider retrying the same delivery
        after a failure in the middle may finish what it started)."""
        now = int(self.clock())
        try:
            item = self._table.update_item(
                Key=key.item_key,
                UpdateExpression="SET used_by = :by, used_at = if_not_exists(used_at, :at)",
                ConditionExpression="attribute_exists(#token) AND expires_at > :now"
                " AND (attribute_not_exists(used_by) OR used_by = :by)",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={":by": claimed_by, ":at": utc_now_iso(), ":now": now},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            held = self._table.get_item(Key=key.item_key, ConsistentRead=True).get("Item")
            if held is None:
                return TokenClaim(ClaimState.UNKNOWN)
            return TokenClaim(ClaimState.USED if "used_by" in held else ClaimState.EXPIRED)
        return TokenClaim(ClaimState.CLAIMED, str(item["token"]))
