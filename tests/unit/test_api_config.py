"""API configuration is parsed once, at start: a malformed API_KEYS stops create_app and the Lambda cold start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytoon.api.app import create_app
from pytoon.config import ConfigError, SeedKey, get_api_settings, parse_api_keys

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_KEY", "API_KEYS", "PYTOON_BODY_READ_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)


def test_api_keys_parse_into_typed_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "single-key-123")
    monkeypatch.setenv("API_KEYS", " acme:acme-secret-1 , beta.co:beta-secret-2:600,")
    assert get_api_settings().seed_keys == (
        SeedKey(tenant_id="default", api_key="single-key-123"),
        SeedKey(tenant_id="acme", api_key="acme-secret-1"),
        SeedKey(tenant_id="beta.co", api_key="beta-secret-2", rate_limit_per_minute=600),
    )


@pytest.mark.parametrize(
    ("value", "entry", "problem"),
    [
        ("acme:good-key-1,broken", "entry 2 ('broken')", "expected tenant:key"),
        ("acme:good-key-1:ten", "entry 1 ('acme:****:ten')", "requests_per_minute"),
        ("acme:good-key-1:0", "entry 1 ('acme:****:0')", "from 1 to"),
        ("ac me:good-key-1", "entry 1 ('ac me:****')", "tenant"),
        ("acme:short", "entry 1 ('acme:****')", "8-256 characters"),
        ("acme:a:b:c", "entry 1 ('acme:****:b:c')", "expected tenant:key"),
    ],
)
def test_a_malformed_entry_names_the_variable_and_the_entry_but_not_the_key(
    value: str, entry: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_api_keys(value)
    message = str(raised.value)
    assert message.startswith(f"API_KEYS {entry} is malformed")
    assert problem in message
    assert "good-key-1" not in message and "short" not in message.split("malformed")[0]


def test_one_key_for_two_tenants_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", "acme:shared-key-1,beta:shared-key-1")
    with pytest.raises(ConfigError, match="two tenants"):
        get_api_settings()


def test_create_app_fails_on_malformed_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", "acme:good-key-1,acme-without-key")
    with pytest.raises(ConfigError, match=r"API_KEYS entry 2 \('acme-without-key'\)"):
        create_app()


def test_create_app_fails_on_a_bad_read_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTOON_BODY_READ_TIMEOUT_SECONDS", "soon")
    with pytest.raises(ConfigError, match="PYTOON_BODY_READ_TIMEOUT_SECONDS"):
        create_app()


def _cold_start(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "API_KEYS")}
    variables = {"PYTOON_TABLE_NAME": "pytoon-jobs", "PYTOON_BUCKET_NAME": "pytoon-artifacts"} | env
    return subprocess.run(
        [sys.executable, "-c", "import functions.api.app"],
        cwd=ROOT,
        env=clean | variables,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_lambda_cold_start_fails_on_malformed_api_keys_and_succeeds_on_good_ones() -> None:
    bad = _cold_start(API_KEYS="acme:secret-key-1:lots")
    assert bad.returncode != 0
    assert "ConfigError: API_KEYS entry 1 ('acme:****:lots') is malformed" in bad.stderr
    assert "secret-key-1" not in bad.stderr
    good = _cold_start(API_KEYS="acme:secret-key-1:120")
    assert good.returncode == 0, good.stderr
