"""Test-only function: keeps the task token it is handed, as a provider submission does before its webhook."""

import os

from pytoon.aws import dynamodb_table


def lambda_handler(event: dict, context: object) -> dict:
    table = dynamodb_table(os.environ["PYTOON_TABLE_NAME"], os.environ["AWS_REGION"])
    table.put_item(Item={"PK": f"GATE#{event['gate']}", "SK": "TOKEN", "token": event["token"]})
    return {"registered": event["gate"]}
