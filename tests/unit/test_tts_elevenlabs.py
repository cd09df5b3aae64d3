"""The ElevenLabs adapter against the fake ElevenLabs API over real HTTP: the request it sends (voice in the path,
output format in the query, neighbouring sentences as context), MP3 and WAV answers, and every failure handing
over to the next provider with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pytoon.config import TtsSettings
from pytoon.voice import AttemptOutcome, Voiceover, synthesize_sentences
from tests.fakes.elevenlabs import DEFAULT_VOICE_ID, FakeElevenLabs, fake_elevenlabs

SCRIPT = ["Meet Aurora.", "It keeps drinks cold all day.", "Order yours today."]


@pytest.fixture
def fake() -> Iterator[FakeElevenLabs]:
    with fake_elevenlabs() as server:
        yield server


def _settings(fake: FakeElevenLabs, **changes: object) -> TtsSettings:
    values = {
        "providers": ("elevenlabs", "espeak"),
        "elevenlabs_base_url": fake.api_url,
        "elevenlabs_api_key": fake.api_key,
        "timeout_seconds": 1,
    }
    return TtsSettings.model_validate(values | changes)


def _speak(fake: FakeElevenLabs, tmp_path: Path, sentences: list[str] | None = None, **changes: object) -> Voiceover:
    return synthesize_sentences(sentences or SCRIPT[1:2], _settings(fake, **changes), tmp_path / "voice.wav")


def _fell_back(voiceover: Voiceover) -> str:
    assert voiceover.provider == "espeak"
    assert [(a.provider, a.outcome) for a in voiceover.attempts] == [
        ("elevenlabs", AttemptOutcome.FAILED),
        ("espeak", AttemptOutcome.USED),
    ]
    return voiceover.attempts[0].reason or ""


def test_each_sentence_is_spoken_with_its_neighbours_as_context(fake: FakeElevenLabs, tmp_path: Path) -> None:
    voiceover = _speak(fake, tmp_path, SCRIPT)

    assert voiceover.provider == "elevenlabs"
    assert [timing.text for timing in voiceover.sentences] == SCRIPT
    by_text = {request.json["text"]: request for request in fake.requests}
    assert sorted(by_text) == sorted(SCRIPT)
    middle = by_text[SCRIPT[1]]
    assert (middle.method, middle.path) == ("POST", f"/v1/text-to-speech/{DEFAULT_VOICE_ID}")
    assert middle.query == {"output_format": "mp3_44100_128"}
    assert middle.headers["xi-api-key"] == fake.api_key
    assert middle.headers["content-type"] == "application/json"
    assert middle.json == {
        "text": SCRIPT[1],
        "model_id": "eleven_multilingual_v2",
        "voice_settings": {"stability": 0.5, "similarity_boost": 0.75},
        "previous_text": SCRIPT[0],
        "next_text": SCRIPT[2],
    }
    assert "previous_text" not in by_text[SCRIPT[0]].json and "next_text" not in by_text[SCRIPT[2]].json


def test_a_wav_format_is_spoken_where_the_plan_allows_it(tmp_path: Path) -> None:
    with fake_elevenlabs(tier="pro") as pro:
        voiceover = _speak(pro, tmp_path, elevenlabs_output_format="wav_44100")

    assert voiceover.provider == "elevenlabs"
    assert pro.requests[0].query == {"output_format": "wav_44100"}
    assert voiceover.duration_ms > 1000


def test_a_format_the_plan_does_not_allow_is_refused(fake: FakeElevenLabs, tmp_path: Path) -> None:
    reason = _fell_back(_speak(fake, tmp_path, elevenlabs_output_format="wav_44100"))

    assert reason == "HTTP 403 (output_format_not_allowed)"


def test_a_wrong_key_fails_with_the_status_elevenlabs_gives(fake: FakeElevenLabs, tmp_path: Path) -> None:
    assert _fell_back(_speak(fake, tmp_path, elevenlabs_api_key="xi-wrong")) == "HTTP 401 (invalid_api_key)"


def test_an_unknown_voice_is_refused(fake: FakeElevenLabs, tmp_path: Path) -> None:
    assert _fell_back(_speak(fake, tmp_path, elevenlabs_voice_id="NoSuchVoice123")) == "HTTP 404 (voice_not_found)"


def test_a_server_error_hands_over_to_the_next_provider(fake: FakeElevenLabs, tmp_path: Path) -> None:
    fake.fail(500)

    assert _fell_back(_speak(fake, tmp_path)) == "HTTP 500 (internal_error)"


def test_a_short_retry_after_is_waited_out_once(fake: FakeElevenLabs, tmp_path: Path) -> None:
    fake.fail(429, retry_after="1")

    voiceover = _speak(fake, tmp_path)

    assert voiceover.provider == "elevenlabs"
    assert len(fake.requests) == 2


def test_a_429_without_retry_after_is_a_failure(fake: FakeElevenLabs, tmp_path: Path) -> None:
    fake.fail(429)

    assert _fell_back(_speak(fake, tmp_path)) == "HTTP 429 (too_many_concurrent_requests)"
    assert len(fake.requests) == 1


def test_a_provider_that_hangs_times_out(fake: FakeElevenLabs, tmp_path: Path) -> None:
    fake.hang(30)

    assert _fell_back(_speak(fake, tmp_path)) == "timed out after 1 s"


def test_garbage_bytes_are_not_speech(fake: FakeElevenLabs, tmp_path: Path) -> None:
    fake.garbage("audio/mpeg")

    assert _fell_back(_speak(fake, tmp_path)).startswith("the answer is not audio (")


@pytest.mark.parametrize(
    "authorized, query, body, status",
    [
        (False, "", {"text": "Hi."}, 401),
        (True, "", {"model_id": "eleven_multilingual_v2"}, 422),
        (True, "", {"text": "Hi.", "voice_settings": {"stability": 3}}, 422),
        (True, "", {"text": "Hi.", "voice": "Rachel"}, 422),
        (True, "?output_format=flac_44100", {"text": "Hi."}, 422),
    ],
)
def test_the_fake_refuses_what_elevenlabs_refuses(
    fake: FakeElevenLabs, authorized: bool, query: str, body: dict[str, object], status: int
) -> None:
    headers = {"xi-api-key": fake.api_key} if authorized else {}

    answer = httpx.post(f"{fake.api_url}/v1/text-to-speech/{DEFAULT_VOICE_ID}{query}", json=body, headers=headers)

    assert answer.status_code == status
    assert "detail" in answer.json()


def test_the_fake_answers_mp3_by_default(fake: FakeElevenLabs) -> None:
    answer = httpx.post(
        f"{fake.api_url}/v1/text-to-speech/{DEFAULT_VOICE_ID}",
        json={"text": "Hi there."},
        headers={"xi-api-key": fake.api_key},
    )

    assert answer.status_code == 200 and answer.headers["content-type"] == "audio/mpeg"
    assert answer.content[:3] == b"ID3" or answer.content[0] == 0xFF
