"""Unit-test fixtures: no developer's LLM settings reach a unit test; a test that wants the LLM gets the
package's fake of OpenAI's chat completions, configured as the service's one LLM for that test only. A test whose
code reads the service's settings gets them over moto's table. The video engine tests share the adapters' HTTP
client and a scene picture for image-to-video."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pytoon.config import get_settings
from pytoon.local.fakes.openai_chat import FakeOpenAIChat, fake_openai_chat
from pytoon.video_engines.base import ImageInput, http_client
from tests.media import flat_image

LLM_MODEL = "gpt-4o-mini"
LLM_VARIABLES = (
    "PYTOON_PLANNER_LLM_BASE_URL",
    "PYTOON_PLANNER_LLM_MODEL",
    "PYTOON_PLANNER_LLM_API_KEY",
    "PYTOON_PLANNER_LLM_API_KEY_SECRET_ARN",
    "PYTOON_PLANNER_LLM_TIMEOUT_SECONDS",
)


@pytest.fixture(autouse=True)
def no_llm(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in LLM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def fake_llm(no_llm: pytest.MonkeyPatch) -> Iterator[FakeOpenAIChat]:
    with fake_openai_chat() as server:
        no_llm.setenv("PYTOON_PLANNER_LLM_BASE_URL", server.api_url)
        no_llm.setenv("PYTOON_PLANNER_LLM_MODEL", LLM_MODEL)
        no_llm.setenv("PYTOON_PLANNER_LLM_API_KEY", server.api_key)
        yield server


@pytest.fixture
def moto_settings(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The service's settings (`get_settings()`) name moto's table and the artifacts bucket for this test, read
    afresh when first asked (so variables the test sets before then count) and forgotten after it."""
    monkeypatch.setenv("PYTOON_TABLE_NAME", moto_table)
    monkeypatch.setenv("PYTOON_BUCKET_NAME", "pytoon-artifacts")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with http_client() as client:
        yield client


@pytest.fixture
def scene_image(tmp_path: Path) -> ImageInput:
    """A scene's picture as the adapters are given it: a presigned URL, and the JPEG itself."""
    path = flat_image(tmp_path / "scene.jpg", (30, 110, 160))
    return ImageInput(
        url="https://assets.example.com/scene.jpg?X-Amz-Signature=abc", path=path, content_type="image/jpeg"
    )
