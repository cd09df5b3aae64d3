"""UploadValidationFunction reads S3's notification as S3 sends it: every record's URL-encoded key decided,
S3's configuration test event (no Records) answered with nothing to decide."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from functions.upload_validation.app import lambda_handler
from pytoon.local.lambda_runtime import LocalContext

EVENTS = Path(__file__).resolve().parents[1] / "events"
CONTEXT = LocalContext(
    "UploadValidationFunction", 1024, 60, "arn:aws:lambda:us-east-1:123456789012:function:UploadValidationFunction"
)


@pytest.fixture
def bucket(moto_settings: pytest.MonkeyPatch) -> str:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="pytoon-artifacts")
    return "pytoon-artifacts"


def test_an_object_nobody_registered_is_deleted_under_its_decoded_key(bucket: str) -> None:
    event = json.loads((EVENTS / "s3_object_created_upload.json").read_text())
    key = "uploads/5f2c8d0e9a1b4c3d8e7f6a5b4c3d2e1f/red flower.png"
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket=bucket, Key=key, Body=b"not registered")
    assert lambda_handler(event, CONTEXT) == {"assets": [{"key": key, "status": "DELETED"}]}
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_s3s_test_event_has_nothing_to_decide(bucket: str) -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-12-04T10:00:00.000Z"}
    assert lambda_handler(test_event, CONTEXT) == {"assets": []}
