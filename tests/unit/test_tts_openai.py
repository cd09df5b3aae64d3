"""The OpenAI speech adapter against the fake OpenAI speech API over real HTTP: the request it sends, a spoken
answer, and every failure (bad key, refused body, server error, rate limit, hang, garbage) handing over to the
next provider with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pytoon.config import TtsSettings
from pytoon.voice import AttemptOutcome, Voiceover, synthesize_sentences
from tests.fakes.openai_speech import FakeOpenAISpeech, fake_openai_speech

SENTENCE = "Meet Aurora, the bottle that keeps drinks cold."


@pytest.fixture
def fake() -> Iterator[FakeOpenAISpeech]:
    with fake_openai_speech() as server:
        yield server


def _settings(fake: FakeOpenAISpeech, **changes: object) -> TtsSettings:
    values = {
        "providers": ("openai", "espeak"),
        "openai_base_url": fake.api_url,
        "openai_api_key": fake.api_key,
        "timeout_seconds": 1,
    }
    return TtsSettings.model_validate(values | changes)


def _speak(fake: FakeOpenAISpeech, tmp_path: Path, sentences: list[str] | None = None, **changes: object) -> Voiceover:
    return synthesize_sentences(sentences or [SENTENCE], _settings(fake, **changes), tmp_path / "voice.wav")


def _fell_back(voiceover: Voiceover) -> str:
    """The reason OpenAI failed, when the offline voice spoke instead."""
    assert voiceover.provider == "espeak"
    assert [(a.provider, a.outcome) for a in voiceover.attempts] == [
        ("openai", AttemptOutcome.FAILED),
        ("espeak", AttemptOutcome.USED),
    ]
    return voiceover.attempts[0].reason or ""


def test_each_sentence_is_one_speech_request(fake: FakeOpenAISpeech, tmp_path: Path) -> None:
    script = [SENTENCE, "Order yours today."]

    voiceover = _speak(fake, tmp_path, script, openai_voice="nova", openai_speed=1.25, openai_model="tts-1")

    assert voiceover.provider == "openai"
    assert [(a.provider, a.outcome) for a in voiceover.attempts] == [("openai", AttemptOutcome.USED)]
    assert [timing.text for timing in voiceover.sentences] == script
    assert len(fake.requests) == 2
    request = min(fake.requests, key=lambda r: r.json["input"] != SENTENCE)
    assert (request.method, request.path) == ("POST", "/v1/audio/speech")
    assert request.headers["authorization"] == f"Bearer {fake.api_key}"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "model": "tts-1",
        "input": SENTENCE,
        "voice": "nova",
        "response_format": "wav",
        "speed": 1.25,
    }


def test_the_defaults_are_a_request_openai_accepts(fake: FakeOpenAISpeech, tmp_path: Path) -> None:
    voiceover = synthesize_sentences(
        [SENTENCE], TtsSettings(openai_base_url=fake.api_url, openai_api_key=fake.api_key), tmp_path / "v.wav"
    )

    assert voiceover.provider == "openai"
    assert fake.requests[0].json | {"input": None} == {
        "model": "gpt-4o-mini-tts",
        "input": None,
        "voice": "alloy",
        "response_format": "wav",
        "speed": 1.0,
    }


def test_a_wrong_key_fails_with_openai_s_error_code(fake: FakeOpenAISpeech, tmp_path: Path) -> None:
    assert _fell_back(_speak(fake, tmp_path, openai_api_key="sk-wrong")) == "HTTP 401 (invalid_api_key)"


def test_a_voice_openai_does_not_have_is_refused(fake: FakeOpenAISpeech, tmp_path: Path) -> None:
    assert _fell_back(_speak(fake, tmp_path, openai_voice="robot")) == "HTTP 400 (invalid_request_error)"


def test_an_unknown_model_is_refused(fake: FakeOpenAISpeech, tmp_path: Path) -> None:
    assert _fell_back(_speak(fake, tmp_path, openai_model="tts-9")) == "HTTP 404 (model_not_found)"


def test_a_server_error_hands_over_to_the_next_provider(fake: FakeOpenAISpeech, tmp_path: Path) -> None:
    fake.fail(500)

    assert _fell_back(_speak(fake, tmp_path)) == "HTTP 500 (server_error)"
    assert len(fake.requests) == 1  # not retried


def test_a_short_retry_after_is_waited_out_once(fake: FakeOpenAISpeech, tmp_path: Path) -> None:
    fake.fail(429, retry_after="1")

    voiceover = _speak(fake, tmp_path)

    assert voiceover.provider == "openai"
    assert len(fake.requests) == 2
    assert fake.requests[0].json == fake.requests[1].json


def test_a_second_429_is_a_failure(fake: FakeOpenAISpeech, tmp_path: Path) -> None:
    fake.fail(429, retry_after="0.2")
    fake.fail(429, retry_after="0.2")

    reason = _fell_back(_speak(fake, tmp_path))

    assert reason == "HTTP 429 (rate_limit_exceeded, Retry-After 0.2 s) after waiting 0.2 s and retrying once"
    assert len(fake.requests) == 2


@pytest.mark.parametrize("retry_after", ["30", None, "Wed, 21 Oct 2025 07:28:00 GMT"])
def test_a_429_without_a_short_wait_is_not_retried(
    fake: FakeOpenAISpeech, tmp_path: Path, retry_after: str | None
) -> None:
    fake.fail(429, retry_after=retry_after)

    reason = _fell_back(_speak(fake, tmp_path))

    wait = ", Retry-After 30 s" if retry_after == "30" else ""
    assert reason == f"HTTP 429 (rate_limit_exceeded{wait})"
    assert len(fake.requests) == 1


def test_a_provider_that_hangs_times_out(fake: FakeOpenAISpeech, tmp_path: Path) -> None:
    fake.hang(30)

    assert _fell_back(_speak(fake, tmp_path)) == "timed out after 1 s"


def test_garbage_bytes_are_not_speech(fake: FakeOpenAISpeech, tmp_path: Path) -> None:
    fake.garbage()

    reason = _fell_back(_speak(fake, tmp_path))

    assert reason.startswith("the answer is not audio (") and "Invalid data" in reason


def test_a_provider_that_is_gone_fails_to_connect(tmp_path: Path) -> None:
    with fake_openai_speech() as gone:
        settings = _settings(gone)

    voiceover = synthesize_sentences([SENTENCE], settings, tmp_path / "voice.wav")

    assert _fell_back(voiceover) == f"could not connect to {httpx.URL(gone.api_url).netloc.decode()}"


_VALID = {"model": "tts-1", "input": "Hi.", "voice": "alloy"}


@pytest.mark.parametrize(
    "authorized, body, status, param",
    [
        (False, _VALID, 401, None),
        (True, {"model": "tts-1", "voice": "alloy"}, 400, "input"),
        (True, _VALID | {"input": ""}, 400, "input"),
        (True, _VALID | {"speed": 9}, 400, "speed"),
        (True, _VALID | {"response_format": "ogg"}, 400, "response_format"),
        (True, _VALID | {"format": "wav"}, 400, "format"),
    ],
)
def test_the_fake_refuses_what_openai_refuses(
    fake: FakeOpenAISpeech, authorized: bool, body: dict[str, object], status: int, param: str | None
) -> None:
    headers = {"Authorization": f"Bearer {fake.api_key}"} if authorized else {}

    answer = httpx.post(f"{fake.api_url}/audio/speech", json=body, headers=headers)

    assert answer.status_code == status
    assert answer.json()["error"]["param"] == param


def test_the_fake_streams_wav_with_open_ended_sizes(fake: FakeOpenAISpeech) -> None:
    answer = httpx.post(
        f"{fake.api_url}/audio/speech",
        json={"model": "tts-1", "input": "Hi there.", "voice": "alloy", "response_format": "wav"},
        headers={"Authorization": f"Bearer {fake.api_key}"},
    )

    assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
    assert answer.content[4:8] == answer.content[40:44] == b"\xff\xff\xff\xff"
    assert len(answer.content) > 24_000  # over half a second at 24 kHz
