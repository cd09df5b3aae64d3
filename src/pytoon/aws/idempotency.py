"""Idempotency-Key records: the first request with a key claims it for one job id (24 hours).

Claim only once the job record exists (`pytoon.submission.submit_request` does): whoever then finds the
claim taken can read the job it names at once, however close together the requests arrive.
"""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from pytoon.aws import TableRepository, condition_failed
from pytoon.errors import PytoonError

TTL_SECONDS = 24 * 3600
CLAIM_ATTEMPTS = 3


class IdempotencyConflictError(PytoonError):
    """The key was already used with a different request body."""


class IdempotencyStore(TableRepository):
    def claim(self, *, tenant_id: str, key: str, request_hash: str, job_id: str) -> str | None:
        """Claim `key` for `job_id`; return the job id that already holds it, or None if this claim won.

        Raise IdempotencyConflictError when the key holds a claim made with another request body.
        """
        item_key = {"PK": f"IDEM#{tenant_id}#{key}", "SK": "META"}
        # A claim can vanish between our failed write and our read (its render could not start and it was
        # released): then the key is free again and we try once more.
        for _ in range(CLAIM_ATTEMPTS):
            now = int(time.time())
            try:
                self._table.put_item(
                    Item={**item_key, "job_id": job_id, "request_hash": request_hash, "expires_at": now + TTL_SECONDS},
                    # An expired record (TTL deletion is lazy) may be claimed again.
                    ConditionExpression="attribute_not_exists(PK) OR expires_at < :now",
                    ExpressionAttributeValues={":now": now},
                )
                return None
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
            held = self._table.get_item(Key=item_key, ConsistentRead=True).get("Item")
            if held is None:
                continue
            if held["request_hash"] != request_hash:
                raise IdempotencyConflictError("Idempotency-Key was already used with a different request body")
            return str(held["job_id"])
        raise IdempotencyConflictError("Idempotency-Key is being claimed and released repeatedly; retry later")

    def release(self, *, tenant_id: str, key: str, job_id: str) -> None:
        """Give up a claim whose job could not be submitted, so a retry of the request starts afresh."""
        try:
            self._table.delete_item(
                Key={"PK": f"IDEM#{tenant_id}#{key}", "SK": "META"},
                ConditionExpression="job_id = :job",
                ExpressionAttributeValues={":job": job_id},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
