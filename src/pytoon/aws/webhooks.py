"""Webhook deliveries already handled: `WEBHOOK#{provider}#{delivery_id}`/DELIVERY with the outcome, kept
for a week (`expires_at`, the TTL), longer than any provider retries one delivery (OpenAI: 72 hours)."""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from pytoon.aws import TableRepository, condition_failed
from pytoon.clock import utc_now_iso

DELIVERY_TTL_SECONDS = 7 * 24 * 3600


class WebhookDeliveryStore(TableRepository):
    def outcome(self, provider: str, delivery_id: str) -> str | None:
        """The outcome recorded for an earlier delivery with this id, or None if it is new."""
        item = self._table.get_item(Key=self._key(provider, delivery_id), ConsistentRead=True).get("Item")
        return None if item is None else str(item["outcome"])

    def record(self, provider: str, delivery_id: str, outcome: str) -> None:
        """Remember a handled delivery; the first record of an id stands (a concurrent duplicate may race)."""
        try:
            self._table.put_item(
                Item={
                    **self._key(provider, delivery_id),
                    "outcome": outcome,
                    "received_at": utc_now_iso(),
                    "expires_at": int(time.time()) + DELIVERY_TTL_SECONDS,
                },
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise

    @staticmethod
    def _key(provider: str, delivery_id: str) -> dict[str, str]:
        return {"PK": f"WEBHOOK#{provider}#{delivery_id}", "SK": "DELIVERY"}
