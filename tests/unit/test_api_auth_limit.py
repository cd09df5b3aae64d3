"""Guessing keys is rate limited per source address: the 31st wrong key in a minute is 429, not 401."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pytoon.api.app import create_app
from pytoon.config import ApiSettings, SeedKey
from pytoon.limits import FAILED_AUTH_LIMIT_PER_MINUTE


@pytest.fixture
def app(moto_settings: pytest.MonkeyPatch):
    return create_app(ApiSettings(seed_keys=(SeedKey(tenant_id="acme", api_key="acme-valid-key"),)))


def test_wrong_keys_from_one_address_are_limited_and_others_are_not(app) -> None:
    guesser = TestClient(app, client=("203.0.113.7", 40000))
    answers = [guesser.get("/api/v1/presets", headers={"X-API-Key": f"guess-{n:04d}"}) for n in range(31)]
    assert [a.status_code for a in answers[:FAILED_AUTH_LIMIT_PER_MINUTE]] == [401] * FAILED_AUTH_LIMIT_PER_MINUTE
    refused = answers[FAILED_AUTH_LIMIT_PER_MINUTE]
    assert refused.status_code == 429
    assert 1 <= refused.json()["retry_after_seconds"] <= 60
    assert refused.headers["Retry-After"] == str(refused.json()["retry_after_seconds"])

    # Another address still gets its 401, and a valid key is never counted as a failure.
    other = TestClient(app, client=("198.51.100.4", 40000))
    assert other.get("/api/v1/presets", headers={"X-API-Key": "guess-x"}).status_code == 401
    assert guesser.get("/api/v1/presets", headers={"X-API-Key": "acme-valid-key"}).status_code == 200
