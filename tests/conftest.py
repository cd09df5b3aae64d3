"""Fixtures shared by the unit, contract and integration tests."""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from pytoon.aws import reset_clients
from pytoon.local.cache import CACHE_DIR_ENV
from pytoon.local.template import load_template

REGION = "us-east-1"
TABLE_NAME = "jobs"


@pytest.fixture
def moto_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The single table with template.yaml's own key schema, in moto's in-process DynamoDB; yields its name."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    props = load_template()["Resources"]["JobsTable"]["Properties"]
    with mock_aws():
        reset_clients()
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=TABLE_NAME,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            GlobalSecondaryIndexes=props.get("GlobalSecondaryIndexes", []),
            BillingMode="PAY_PER_REQUEST",
        )
        yield TABLE_NAME
    reset_clients()


def pytest_configure(config: pytest.Config) -> None:
    # The suite's own local-mode cache (also for the CLI processes it starts): a developer's is never read or
    # filled, and every run begins without one, as CI does.
    os.environ[CACHE_DIR_ENV] = tempfile.mkdtemp(prefix="pytoon-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ.pop(CACHE_DIR_ENV, ""), ignore_errors=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the suite's peak memory: this process (renders run in its threads) and its largest child (ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    terminalreporter.write_line(f"peak memory: pytest process {own:.0f} MiB, largest child process {child:.0f} MiB")
