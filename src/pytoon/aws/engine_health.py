"""How each external video engine has been doing lately, kept in the table so every instance agrees: an
engine that failed too many of its recent generations is skipped until the window has passed.

Outcomes are counted in one-minute buckets (PK `ENGINE#name`, SK `MINUTE#<epoch minute>`, ADD counters,
expiring with the window); the failure rate is summed over the buckets of the last `window_seconds`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytoon.aws import TableRepository

BUCKET_SECONDS = 60


@dataclass(frozen=True)
class EngineHealth(TableRepository):
    def record(self, engine: str, *, failed: bool, now: float) -> None:
        """Count one generation of `engine` (a failure, timeout or unusable clip when `failed`)."""
        bucket = int(now) // BUCKET_SECONDS
        self._table.update_item(
            Key={"PK": f"ENGINE#{engine}", "SK": f"MINUTE#{bucket:012d}"},
            UpdateExpression="ADD attempts :one, failures :failed SET expires_at = if_not_exists(expires_at, :expires)",
            ExpressionAttributeValues={
                ":one": 1,
                ":failed": 1 if failed else 0,
                # Kept a day: far past any window, and then DynamoDB deletes it.
                ":expires": (bucket + 1) * BUCKET_SECONDS + 86_400,
            },
        )

    def skip_reason(
        self, engine: str, *, now: float, window_seconds: int, min_attempts: int, failure_threshold: float
    ) -> str | None:
        """Why `engine` is skipped now (it failed more than `failure_threshold` of at least `min_attempts`
        generations in the last `window_seconds`), or None."""
        from boto3.dynamodb.conditions import Key

        first = (int(now) - window_seconds) // BUCKET_SECONDS + 1
        items = self._query_all(
            KeyConditionExpression=Key("PK").eq(f"ENGINE#{engine}") & Key("SK").gte(f"MINUTE#{first:012d}")
        )
        attempts = sum(int(item.get("attempts", 0)) for item in items)
        failures = sum(int(item.get("failures", 0)) for item in items)
        if attempts >= min_attempts and failures / attempts > failure_threshold:
            return f"{engine} failed {failures} of its {attempts} generations in the last {window_seconds} s"
        return None
