"""API keys (stored as SHA-256 hashes, each bound to a tenant) and the per-key request window.

Items: `APIKEY#{hash}`/META holds the key's tenant, id and state; GSI1 (`APIKEYS`, key id) lists them.
Requests are limited per key (`RATE#key#{key_id}`) and failed authentications per source address
(`RATE#authfail#{source}`) by the shared sliding window in `pytoon.aws.ratelimit`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from pydantic import BaseModel

from pytoon.aws import TableRepository, condition_failed, plain_numbers
from pytoon.aws.ratelimit import RateLimited as RateLimited  # re-exported: the API catches it from here
from pytoon.aws.ratelimit import SlidingWindowLimiter
from pytoon.clock import utc_now_iso
from pytoon.limits import FAILED_AUTH_LIMIT_PER_MINUTE

DEFAULT_RATE_LIMIT_PER_MINUTE = 60
# Failed authentications allowed per source address: generous for a client with a mistyped key, and a
# bound on what a caller cycling through guessed keys costs.
KEY_PREFIX = "ptk_"


class ApiKeyRecord(BaseModel):
    key_id: str
    tenant_id: str
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    revoked: bool = False
    created_at: str
    revoked_at: str | None = None


class IssuedKey(BaseModel):
    """A newly created key: the secret is returned once and never stored."""

    api_key: str
    record: ApiKeyRecord


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _key_id(api_key: str) -> str:
    # Derived from the hash so seeding the same key twice yields the same record.
    return "key_" + hash_key(api_key)[:16]


@dataclass(frozen=True)
class ApiKeyRepository(TableRepository):
    clock: Callable[[], float] = field(default=time.time)

    def store(
        self, api_key: str, tenant_id: str, rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    ) -> ApiKeyRecord:
        """Store a key (idempotent for the same key and tenant)."""
        record = ApiKeyRecord(
            key_id=_key_id(api_key),
            tenant_id=tenant_id,
            rate_limit_per_minute=rate_limit_per_minute,
            created_at=utc_now_iso(),
        )
        try:
            self._table.put_item(
                Item={
                    "PK": f"APIKEY#{hash_key(api_key)}",
                    "SK": "META",
                    "GSI1PK": "APIKEYS",
                    "GSI1SK": record.key_id,
                    **record.model_dump(exclude_none=True),
                },
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            existing = self.lookup(api_key, include_revoked=True)
            assert existing is not None
            return existing
        return record

    def create(self, tenant_id: str, rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE) -> IssuedKey:
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        return IssuedKey(api_key=api_key, record=self.store(api_key, tenant_id, rate_limit_per_minute))

    def lookup(self, api_key: str, *, include_revoked: bool = False) -> ApiKeyRecord | None:
        item = self._table.get_item(Key={"PK": f"APIKEY#{hash_key(api_key)}", "SK": "META"}).get("Item")
        if item is None:
            return None
        record = ApiKeyRecord.model_validate(plain_numbers(item))
        return record if include_revoked or not record.revoked else None

    def list(self) -> list[ApiKeyRecord]:
        from boto3.dynamodb.conditions import Key  # boto3 loads with the first table, not with the API

        items = self._query_all(IndexName="GSI1", KeyConditionExpression=Key("GSI1PK").eq("APIKEYS"))
        return [ApiKeyRecord.model_validate(i) for i in items]

    def revoke(self, key_id: str) -> ApiKeyRecord | None:
        from boto3.dynamodb.conditions import Key

        page = self._table.query(
            IndexName="GSI1", KeyConditionExpression=Key("GSI1PK").eq("APIKEYS") & Key("GSI1SK").eq(key_id)
        )
        if not page["Items"]:
            return None
        item = page["Items"][0]
        now = utc_now_iso()
        self._table.update_item(
            Key={"PK": item["PK"], "SK": "META"},
            UpdateExpression="SET revoked = :t, revoked_at = if_not_exists(revoked_at, :now)",
            ExpressionAttributeValues={":t": True, ":now": now},
        )
        return ApiKeyRecord.model_validate(plain_numbers(item) | {"revoked": True, "revoked_at": now})

    def admit(self, record: ApiKeyRecord) -> None:
        """Count one request against the key's limit; raise RateLimited (with an honest retry time) past it."""
        self._limiter.admit(f"key#{record.key_id}", record.rate_limit_per_minute)

    def admit_unauthenticated(self, source: str) -> None:
        """Count one failed authentication from `source` (the caller's address); raise RateLimited past
        FAILED_AUTH_LIMIT_PER_MINUTE. Call it before answering 401, and answer 429 when it raises."""
        self._limiter.admit(f"authfail#{source}", FAILED_AUTH_LIMIT_PER_MINUTE)

    @property
    def _limiter(self) -> SlidingWindowLimiter:
        return SlidingWindowLimiter(self.table_name, self.region, self.clock)
