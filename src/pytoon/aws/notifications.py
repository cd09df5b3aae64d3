"""A tenant's outgoing webhook and its delivery log in the single table.

`NOTIFY#{tenant}`/SUBSCRIPTION holds the URL, the events it wants and its signing secret;
`NOTIFY#{tenant}`/`DELIVERY#{at}#{event id}#{attempt}` one delivery attempt each, expiring after a week.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pytoon.aws import TableRepository, plain_numbers

DELIVERY_LOG_SECONDS = 7 * 24 * 3600


def _pk(tenant_id: str) -> str:
    return f"NOTIFY#{tenant_id}"


@dataclass(frozen=True)
class NotificationStore(TableRepository):
    def put_subscription(self, tenant_id: str, subscription: dict[str, Any]) -> None:
        self._table.put_item(Item={"PK": _pk(tenant_id), "SK": "SUBSCRIPTION", **subscription})

    def subscription(self, tenant_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"PK": _pk(tenant_id), "SK": "SUBSCRIPTION"}).get("Item")
        return None if item is None else {k: v for k, v in plain_numbers(item).items() if k not in ("PK", "SK")}

    def delete_subscription(self, tenant_id: str) -> bool:
        """True when there was one."""
        removed = self._table.delete_item(Key={"PK": _pk(tenant_id), "SK": "SUBSCRIPTION"}, ReturnValues="ALL_OLD")
        return "Attributes" in removed

    def log_delivery(self, tenant_id: str, entry: dict[str, Any]) -> None:
        sort_key = f"DELIVERY#{entry['at']}#{entry['event_id']}#{entry['attempt']:02d}"
        item = {"PK": _pk(tenant_id), "SK": sort_key, **entry, "expires_at": int(time.time()) + DELIVERY_LOG_SECONDS}
        self._table.put_item(Item={k: v for k, v in item.items() if v is not None})

    def deliveries(self, tenant_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """The latest delivery attempts, newest first."""
        from boto3.dynamodb.conditions import Key  # boto3 loads with the first table, not with the API

        page = self._table.query(
            KeyConditionExpression=Key("PK").eq(_pk(tenant_id)) & Key("SK").begins_with("DELIVERY#"),
            ScanIndexForward=False,
            Limit=limit,
        )
        hidden = ("PK", "SK", "expires_at")
        return [{k: v for k, v in plain_numbers(item).items() if k not in hidden} for item in page["Items"]]
