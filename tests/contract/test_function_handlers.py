"""Every function in template.yaml points at a real entry point, and every entry point is deployed.

A handler is imported the way local mode and the unit tests import it (`functions.<dir>.app`), with the
environment the template gives it. Tracing and metrics are off, and AWS credentials are fake. Importing
must not reach AWS.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO_ROOT, Function

FUNCTIONS_DIR = REPO_ROOT / "functions"
CODE_URI = re.compile(r"^functions/([a-z][a-z0-9_]*)/$")
HANDLER = "app.lambda_handler"


def _function_dirs() -> list[str]:
    return sorted(p.name for p in FUNCTIONS_DIR.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def _env_value(value: Any) -> str:
    """A stand-in for an intrinsic in Environment.Variables (a plausible name or ARN)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return {
            "JobsTable": "pytoon-contract-jobs",
            "ArtifactsBucket": "pytoon-contract-artifacts",
            "RenderJobStateMachine": "arn:aws:states:us-east-1:123456789012:stateMachine:RenderJob",
            "LogLevel": "INFO",
        }.get(value["Ref"], "")
    return "pytoon-contract-artifacts"  # the deterministic bucket-name expression


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, functions: dict[str, Function]) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Any AWS call made at import time fails fast on a closed local port instead of reaching AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    for function in functions.values():
        for name, value in function.props.get("Environment", {}).get("Variables", {}).items():
            monkeypatch.setenv(name, _env_value(value))


def test_code_uris_and_handlers_follow_the_layout(functions: dict[str, Function]) -> None:
    for logical_id, function in functions.items():
        assert CODE_URI.match(function.code_uri), f"{logical_id}: CodeUri {function.code_uri!r}"
        assert function.handler == HANDLER, logical_id


def test_every_function_dir_is_deployed_exactly_once(functions: dict[str, Function]) -> None:
    deployed = sorted(CODE_URI.match(f.code_uri).group(1) for f in functions.values())  # type: ignore[union-attr]
    assert deployed == sorted(set(deployed)), "two functions share a CodeUri"
    assert deployed == _function_dirs()


@pytest.mark.parametrize("directory", _function_dirs())
def test_handler_module_exists_and_exposes_a_callable(
    directory: str, functions: dict[str, Function], lambda_env: None
) -> None:
    app_file = FUNCTIONS_DIR / directory / "app.py"
    assert app_file.is_file(), f"missing {app_file.relative_to(REPO_ROOT)}"
    assert (FUNCTIONS_DIR / directory / "__init__.py").is_file(), "tests import functions.<dir>.app as a package"
    module = importlib.import_module(f"functions.{directory}.app")
    assert Path(module.__file__ or "").resolve() == app_file.resolve()
    handler = getattr(module, HANDLER.split(".")[1], None)
    assert callable(handler), f"functions.{directory}.app has no callable lambda_handler"
