"""The event fixtures in tests/events/ have AWS's real shapes and match what template.yaml routes to them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from .conftest import REPO_ROOT, Function

EVENTS_DIR = REPO_ROOT / "tests" / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", sorted(EVENTS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_every_fixture_is_json(path: Path) -> None:
    assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict)


def test_s3_upload_event_matches_the_notification_filter(functions: dict[str, Function]) -> None:
    [record] = load_event("s3_object_created_upload.json")["Records"]
    assert record["eventSource"] == "aws:s3" and record["eventName"].startswith("ObjectCreated:")
    raw_key = record["s3"]["object"]["key"]
    # S3 URL-encodes keys in notifications ("+" for a space): handlers must unquote_plus.
    assert raw_key.endswith("red+flower.png")
    assert unquote_plus(raw_key).endswith("/red flower.png")
    [s3_event] = [e for e in functions["UploadValidationFunction"].events.values() if e["Type"] == "S3"]
    [rule] = s3_event["Properties"]["Filter"]["S3Key"]["Rules"]
    assert rule["Name"] == "prefix" and raw_key.startswith(rule["Value"])


def test_execution_failed_event_matches_the_backstop_rule(functions: dict[str, Function]) -> None:
    event = load_event("sfn_execution_failed.json")
    [rule] = [e for e in functions["MarkFailedFunction"].events.values() if e["Type"] == "EventBridgeRule"]
    pattern = rule["Properties"]["Pattern"]
    assert event["source"] in pattern["source"]
    assert event["detail-type"] in pattern["detail-type"]
    assert event["detail"]["status"] in pattern["detail"]["status"]
    detail = event["detail"]
    # The job id is the execution name.
    assert detail["executionArn"].endswith(":" + detail["name"])
    assert json.loads(detail["input"]) == {"job_id": detail["name"]}


def test_health_event_is_a_rest_proxy_event_on_the_proxy_route(functions: dict[str, Function]) -> None:
    event = load_event("apigw_rest_get_health.json")
    assert (event["httpMethod"], event["path"]) == ("GET", "/health")
    assert event["requestContext"]["requestId"] and event["isBase64Encoded"] is False
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in functions["ApiFunction"].events.values()}
    assert ("ANY", event["resource"]) in routes
