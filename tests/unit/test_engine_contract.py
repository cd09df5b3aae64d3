"""What every video-engine adapter does alike, run over the four against their fakes over real HTTP: each failure
mapped to the error the render job acts on (a bad key, a 429 on a submission or a status read, a server error, an
unknown task, an unreachable provider), a clip that is not a video downloaded but refused by the probe, no key
meaning the engine is unavailable, and where each is reached by default. What is one provider's own (its requests,
its states, its download, its callbacks) is tested in test_engine_<name>.py."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from pytoon.render.probe import MediaProbeError, probe_media
from pytoon.video_engines.base import (
    EngineAccess,
    EngineError,
    ModerationRefused,
    RateLimited,
    TaskState,
    http_client,
    unavailable_reason,
)
from tests.unit.engine_cases import CASES, UNKNOWN_TASK, EngineCase


@pytest.fixture(params=CASES, ids=lambda case: case.name)
def case(request: pytest.FixtureRequest) -> EngineCase:
    return request.param


@pytest.fixture
def fake(case: EngineCase, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with case.configured_fake(monkeypatch) as server:
        yield server


def test_a_bad_key_is_an_engine_error_naming_the_engine_and_the_status(
    case: EngineCase, fake: Any, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"{case.env_prefix}_API_KEY", case.other_key)

    with pytest.raises(EngineError) as caught:
        case.engine.submit(http, case.engine.access(), case.clip())
    with pytest.raises(EngineError, match=rf"^{case.name}: HTTP 401:"):
        case.engine.status(http, case.engine.access(), UNKNOWN_TASK)

    assert type(caught.value) is EngineError
    assert caught.value.reason.startswith(f"{case.name}: HTTP 401:")
    assert case.bad_key_said in caught.value.reason
    assert case.fake_tasks(fake) == {}


def test_a_429_on_submit_is_rate_limited_for_as_long_as_the_provider_says(
    case: EngineCase, fake: Any, http: httpx.Client
) -> None:
    fake.rate_limit(retry_after="7")

    with pytest.raises(RateLimited) as caught:
        case.engine.submit(http, case.engine.access(), case.clip())

    assert caught.value.retry_after_seconds == 7.0
    assert caught.value.reason.startswith(f"{case.name}: rate limited (HTTP 429)")
    assert case.fake_tasks(fake) == {}


@pytest.mark.parametrize(
    ("case", "read"),
    [(case, read) for case in CASES for read in range(len(case.status_reads))],
    ids=[f"{case.name}-{name} read" for case in CASES for name in case.status_reads],
)
def test_a_429_on_a_status_read_is_rate_limited(case: EngineCase, fake: Any, http: httpx.Client, read: int) -> None:
    fake.slow(1)  # finished at its first status read: every read a status call makes is made
    access = case.engine.access()
    task_id = case.engine.submit(http, access, case.clip())
    case.rate_limit_read(fake, read, retry_after="12")

    with pytest.raises(RateLimited) as caught:
        case.engine.status(http, access, task_id)

    assert caught.value.retry_after_seconds == 12.0
    assert len(fake.received("GET")) == 1 + read
    assert len(fake.reported) == read  # only the reads before the limited one were answered
    assert case.engine.status(http, access, task_id).state is TaskState.SUCCEEDED  # the next poll carries on


def test_a_server_error_on_submit_is_an_engine_error(case: EngineCase, fake: Any, http: httpx.Client) -> None:
    status, message = case.server_error
    fake.fail_submit(status, message)

    with pytest.raises(EngineError) as caught:
        case.engine.submit(http, case.engine.access(), case.clip())

    assert not isinstance(caught.value, ModerationRefused | RateLimited)
    assert caught.value.reason.startswith(f"{case.name}: HTTP {status}:")
    assert message in caught.value.reason
    assert case.fake_tasks(fake) == {}


def test_an_unknown_task_is_an_engine_error(case: EngineCase, fake: Any, http: httpx.Client) -> None:
    with pytest.raises(EngineError, match=rf"^{case.name}: HTTP 404:.*{re.escape(case.unknown_task_said)}"):
        case.engine.status(http, case.engine.access(), UNKNOWN_TASK)


def test_a_clip_that_is_not_a_video_downloads_but_does_not_probe(
    case: EngineCase, fake: Any, http: httpx.Client, tmp_path: Path
) -> None:
    fake.broken_file()
    access = case.engine.access()
    finished = case.finish(http, access, case.engine.submit(http, access, case.clip()))[-1]
    assert finished.state is TaskState.SUCCEEDED

    clip = case.engine.download(http, access, finished, tmp_path / "clip.mp4")

    assert clip.stat().st_size > 0
    with pytest.raises(MediaProbeError):
        probe_media(clip)


def test_an_unreachable_provider_is_an_engine_error(
    case: EngineCase, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    # The provider's API path, on a port nothing listens on.
    case.configure(
        monkeypatch, api_key=case.other_key, base_url=f"http://127.0.0.1:{port}{urlsplit(case.public_api).path}"
    )

    with pytest.raises(EngineError, match=rf"^{case.name}: POST {re.escape(case.submit_endpoint)} failed: "):
        case.engine.submit(http, case.engine.access(), case.clip())
    status_endpoint = case.status_endpoint.format(UNKNOWN_TASK)
    with pytest.raises(EngineError, match=rf"^{case.name}: GET {re.escape(status_endpoint)} failed: "):
        case.engine.status(http, case.engine.access(), UNKNOWN_TASK)


def test_without_a_key_the_engine_is_unavailable(case: EngineCase, monkeypatch: pytest.MonkeyPatch) -> None:
    case.configure(monkeypatch, api_key=None, base_url=None)

    assert unavailable_reason(case.engine) == f"{case.name} has no API key configured"
    with pytest.raises(EngineError, match="no API key configured"), http_client() as http:
        case.engine.submit(http, case.engine.access(), case.clip())
    monkeypatch.setenv(f"{case.env_prefix}_API_KEY", case.other_key)
    assert unavailable_reason(case.engine) is None


def test_by_default_the_engine_is_reached_at_its_public_api(case: EngineCase, monkeypatch: pytest.MonkeyPatch) -> None:
    case.configure(monkeypatch, api_key=case.other_key, base_url=None)

    assert case.engine.access() == EngineAccess(api_key=case.other_key, base_url=case.public_api)
    assert case.engine.name == case.name
    assert (case.engine.calls_back, case.engine.supports_image) == (case.calls_back, True)
    assert tuple(case.engine.durations) == case.durations
