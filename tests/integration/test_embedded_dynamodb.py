"""Embedded DynamoDB keeps DynamoDB's promise that a conditional write is atomic on its item: the job state
machine relies on it (a failed job must never be moved back to rendering by a late step)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from pytoon.aws import client
from pytoon.config import get_settings
from pytoon.local.embedded import EmbeddedAWS

pytestmark = pytest.mark.integration

WRITERS = 8
WRITES_PER_WRITER = 40


@pytest.fixture(autouse=True)
def frequent_thread_switches() -> Iterator[None]:
    """The embedded server runs in this process: switching threads far more often than Python's default 5 ms
    opens every read-check-write window a request handler has, as many cores serving at once would."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_concurrent_counter_updates_are_not_lost(embedded: EmbeddedAWS) -> None:
    table = get_settings().table_name
    dynamodb = client("dynamodb", embedded.region)
    key = {"PK": {"S": "TEST#counter"}, "SK": {"S": "META"}}
    dynamodb.put_item(TableName=table, Item={**key, "n": {"N": "0"}})

    def add_one(_: int) -> None:
        for _ in range(WRITES_PER_WRITER):
            dynamodb.update_item(
                TableName=table, Key=key, UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}}
            )

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(add_one, range(WRITERS)))
    item = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert int(item["n"]["N"]) == WRITERS * WRITES_PER_WRITER


def test_only_one_of_racing_conditional_claims_wins(embedded: EmbeddedAWS) -> None:
    table = get_settings().table_name
    dynamodb = client("dynamodb", embedded.region)

    def claim(round_number: int, writer: int) -> bool:
        try:
            dynamodb.update_item(
                TableName=table,
                Key={"PK": {"S": f"TEST#claim{round_number}"}, "SK": {"S": "META"}},
                UpdateExpression="SET #owner = :me",
                ConditionExpression="attribute_not_exists(#owner)",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"N": str(writer)}},
            )
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False
        return True

    with ThreadPoolExecutor(WRITERS) as pool:
        for round_number in range(20):
            wins = list(pool.map(claim, [round_number] * WRITERS, range(WRITERS)))
            assert sum(wins) == 1, f"round {round_number}: {sum(wins)} writers claimed the same item"
