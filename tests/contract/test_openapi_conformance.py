"""The API does what /openapi.json says: a bounded, deterministic schemathesis run, in process.

Every operation is called with generated requests against the ASGI app on moto (DynamoDB, S3, Step
Functions in this process); each response must have a documented status code and content type, a body that
matches the documented schema and the documented headers, and never be a server error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import boto3
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pytoon.api.app import create_app
from pytoon.aws import reset_clients
from pytoon.aws.apikeys import ApiKeyRepository
from pytoon.config import ApiSettings, get_settings
from tests.conftest import REGION

BUCKET = "pytoon-artifacts"
ADMIN_KEY = "conformance-admin-key"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def api_key(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine, run_machine = (
        sfn.create_state_machine(
            name=name,
            definition='{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}',
            roleArn="arn:aws:iam::123456789012:role/render",
        )["stateMachineArn"]
        for name in ("RenderJob", "ProductionRun")
    )
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    for name, value in {
        "PYTOON_TABLE_NAME": moto_table,
        "PYTOON_BUCKET_NAME": BUCKET,
        "PYTOON_STATE_MACHINE_ARN": machine,
        "PYTOON_PRODUCTION_RUN_STATE_MACHINE_ARN": run_machine,
        "AWS_DEFAULT_REGION": REGION,
        "ADMIN_API_KEY": ADMIN_KEY,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reset_clients()
    yield ApiKeyRepository.from_settings(get_settings()).create("conformance", 100_000).api_key
    get_settings.cache_clear()


# The app reads its AWS settings per request, so one app serves every test's fresh moto backend.
app = create_app(ApiSettings())
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms_to_the_schema(case: schemathesis.Case, api_key: str) -> None:
    case.call_and_validate(headers={"X-API-Key": api_key, "X-Admin-Key": ADMIN_KEY}, checks=CHECKS)


def test_an_undocumented_method_is_405_with_the_documented_methods_in_allow() -> None:
    client = TestClient(app)
    paths = client.get("/openapi.json").json()["paths"]
    # A URL can match more than one documented path (/api/v1/assets/upload is also /api/v1/assets/{asset_id}).
    templates = {re.compile(re.sub(r"{[^}]+}", "[^/]+", path) + "$"): ops for path, ops in paths.items()}
    for path in paths:
        url = re.sub(r"{[^}]+}", "some-id", path)
        documented = sorted({m.upper() for pattern, ops in templates.items() if pattern.match(url) for m in ops})
        unused = next(m for m in ("DELETE", "PATCH", "PUT") if m not in documented)
        response = client.request(unused, url)
        assert response.status_code == 405, path
        assert response.headers["Allow"].split(", ") == documented, path
        assert response.json() == {"detail": "Method Not Allowed"}
