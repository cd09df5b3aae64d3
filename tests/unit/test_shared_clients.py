"""One client per configuration: the state machine interpreter's per-task requests reuse the client built first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.config import Config

from pytoon import aws


@pytest.fixture(autouse=True)
def _fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.reset_clients()
    yield
    aws.reset_clients()


def _interpreter_arguments(**config: object) -> dict[str, object]:
    """What moto's interpreter passes for every task: a new Config object each time."""
    options = {"parameter_validation": False, "retries": {"max_attempts": 0, "total_max_attempts": 1}, **config}
    return {
        "aws_access_key_id": "ak",
        "aws_secret_access_key": "sk",
        "region_name": "us-east-1",
        "service_name": "lambda",
        "config": Config(**options),
        "endpoint_url": "http://localhost:4566",
    }


def test_equal_arguments_get_the_client_built_first() -> None:
    first = aws.shared_client(**_interpreter_arguments())
    again = aws.shared_client(**_interpreter_arguments())
    assert again is first
    assert first.meta.service_model.service_name == "lambda"
    assert first.meta.endpoint_url == "http://localhost:4566"


@pytest.mark.parametrize(
    "change",
    [
        {"service_name": "s3"},
        {"region_name": "eu-west-1"},
        {"endpoint_url": "http://localhost:4599"},
        {"aws_access_key_id": "other"},
        {"config": Config(parameter_validation=False, read_timeout=5)},
    ],
)
def test_any_different_argument_gets_a_client_of_its_own(change: dict[str, object]) -> None:
    first = aws.shared_client(**_interpreter_arguments())
    other = aws.shared_client(**{**_interpreter_arguments(), **change})
    assert other is not first
    built = {"service_name": other.meta.service_model.service_name, "region_name": other.meta.region_name}
    for name in built.keys() & change.keys():
        assert built[name] == change[name]


def test_reset_forgets_every_shared_client() -> None:
    first = aws.shared_client(**_interpreter_arguments())
    aws.reset_clients()
    assert aws.shared_client(**_interpreter_arguments()) is not first
