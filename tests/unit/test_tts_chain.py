"""The provider chain over real HTTP to the fake providers: per-sentence timings that hug the speech (read back from
the written WAV), the order providers are tried in, skipped and failed providers with their reasons, answers that
are not usable speech, and the submit-time availability check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pytoon.config import TtsSettings
from pytoon.tts.base import speech_span, wav_bytes
from pytoon.tts.espeak import espeak_samples
from pytoon.voice import (
    PAUSE_MS,
    Attempt,
    AttemptOutcome,
    Voiceover,
    VoiceoverError,
    synthesize_sentences,
    voice_unavailable,
)
from tests.fakes.elevenlabs import FakeElevenLabs, fake_elevenlabs
from tests.fakes.openai_speech import FakeOpenAISpeech, fake_openai_speech
from tests.media import audio_stream

SCRIPT = ["Meet Aurora, the bottle that keeps drinks cold.", "Cold for a whole day.", "Order yours today."]
# The fakes speak with eSpeak NG's en-us voice at 175 words a minute.
FAKE_VOICE_RATE = 175


@pytest.fixture
def openai() -> Iterator[FakeOpenAISpeech]:
    with fake_openai_speech() as fake:
        yield fake


@pytest.fixture
def elevenlabs() -> Iterator[FakeElevenLabs]:
    with fake_elevenlabs() as fake:
        yield fake


def _settings(openai: FakeOpenAISpeech, elevenlabs: FakeElevenLabs, **changes: object) -> TtsSettings:
    values = {
        "openai_base_url": openai.api_url,
        "openai_api_key": openai.api_key,
        "elevenlabs_base_url": elevenlabs.api_url,
        "elevenlabs_api_key": elevenlabs.api_key,
        "timeout_seconds": 2,
    }
    return TtsSettings.model_validate(values | changes)


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


def _at(samples: np.ndarray, start_ms: float, end_ms: float) -> np.ndarray:
    return samples[round(start_ms * 48) : round(end_ms * 48)]


def _outcomes(voiceover: Voiceover | VoiceoverError) -> list[tuple[str, AttemptOutcome]]:
    return [(attempt.provider, attempt.outcome) for attempt in voiceover.attempts]


def test_each_sentence_is_timed_from_its_speech_onset_to_its_offset(
    openai: FakeOpenAISpeech, elevenlabs: FakeElevenLabs, tmp_path: Path
) -> None:
    voiceover = synthesize_sentences(SCRIPT, _settings(openai, elevenlabs), tmp_path / "voice.wav")

    assert voiceover.provider == "openai"
    written = audio_stream(voiceover.path)
    assert (written.sample_rate, written.channels) == (48_000, 1)
    samples = written.samples[0]
    assert abs(written.duration_seconds * 1000 - voiceover.duration_ms) <= 1
    timings = voiceover.sentences
    assert [timing.text for timing in timings] == SCRIPT
    assert timings[0].start_ms == 0 and timings[-1].end_ms == voiceover.duration_ms
    for before, after in zip(timings, timings[1:], strict=False):
        assert before.start_ms < before.end_ms and abs(after.start_ms - before.end_ms - PAUSE_MS) <= 1
    for timing in timings:
        speech = _at(samples, timing.start_ms, timing.end_ms)
        loudest = max(_rms(_at(samples, at, at + 20)) for at in range(timing.start_ms, timing.end_ms - 20, 10))
        assert _rms(speech) > 1000  # about -30 dBFS: a voice
        # Cues hug the speech: it sounds within the first and last 25 ms of each span.
        assert _rms(_at(samples, timing.start_ms, timing.start_ms + 25)) > loudest / 100
        assert _rms(_at(samples, timing.end_ms - 25, timing.end_ms)) > loudest / 100
        # Each span is the speech the provider sent, its silence and noise floor cut off.
        voice, rate = espeak_samples(timing.text, "en-us", FAKE_VOICE_RATE)
        first, end = speech_span(voice, rate)  # type: ignore[misc]
        assert abs((timing.end_ms - timing.start_ms) - (end - first) * 1000 / rate) <= 25
    for before, after in zip(timings, timings[1:], strict=False):
        assert _rms(_at(samples, before.end_ms + 1, after.start_ms - 1)) < 1  # digital silence between


def test_providers_are_tried_in_the_configured_order(
    openai: FakeOpenAISpeech, elevenlabs: FakeElevenLabs, tmp_path: Path
) -> None:
    settings = _settings(openai, elevenlabs, providers=("elevenlabs", "openai", "espeak"))

    voiceover = synthesize_sentences(SCRIPT, settings, tmp_path / "voice.wav")

    assert voiceover.provider == "elevenlabs"
    assert _outcomes(voiceover) == [("elevenlabs", AttemptOutcome.USED)]
    assert len(elevenlabs.requests) == len(SCRIPT) and openai.requests == []


def test_providers_without_a_key_are_skipped_and_the_offline_voice_speaks(tmp_path: Path) -> None:
    voiceover = synthesize_sentences(SCRIPT, TtsSettings(), tmp_path / "voice.wav")

    assert voiceover.provider == "espeak"
    assert voiceover.attempts == (
        Attempt(
            provider="openai",
            outcome=AttemptOutcome.UNAVAILABLE,
            reason="OPENAI_API_KEY (or OPENAI_API_KEY_SECRET_ARN) is not set",
        ),
        Attempt(
            provider="elevenlabs",
            outcome=AttemptOutcome.UNAVAILABLE,
            reason="ELEVENLABS_API_KEY (or ELEVENLABS_API_KEY_SECRET_ARN) is not set",
        ),
        Attempt(provider="espeak", outcome=AttemptOutcome.USED),
    )
    assert [timing.text for timing in voiceover.sentences] == SCRIPT


def test_a_failure_on_one_sentence_hands_the_whole_script_to_the_next_provider(
    openai: FakeOpenAISpeech, elevenlabs: FakeElevenLabs, tmp_path: Path
) -> None:
    openai.fail(500)

    voiceover = synthesize_sentences(SCRIPT, _settings(openai, elevenlabs), tmp_path / "voice.wav")

    assert voiceover.provider == "elevenlabs"
    assert _outcomes(voiceover) == [("openai", AttemptOutcome.FAILED), ("elevenlabs", AttemptOutcome.USED)]
    assert voiceover.attempts[0].reason is not None
    assert voiceover.attempts[0].reason.endswith(": HTTP 500 (server_error)")
    assert voiceover.attempts[0].reason.startswith("sentence ")
    # Every sentence spoken again by the next provider, in one voice.
    assert sorted(request.json["text"] for request in elevenlabs.requests) == sorted(SCRIPT)


def test_when_every_provider_fails_the_error_lists_each_reason(
    openai: FakeOpenAISpeech, elevenlabs: FakeElevenLabs, tmp_path: Path
) -> None:
    settings = _settings(openai, elevenlabs, providers=("openai", "elevenlabs"), elevenlabs_api_key="not-the-key")
    openai.fail(503)

    with pytest.raises(VoiceoverError) as raised:
        synthesize_sentences(SCRIPT[:1], settings, tmp_path / "voice.wav")

    assert _outcomes(raised.value) == [("openai", AttemptOutcome.FAILED), ("elevenlabs", AttemptOutcome.FAILED)]
    assert raised.value.reason == (
        "the voice script could not be spoken (openai failed: HTTP 503 (server_error); "
        "elevenlabs failed: HTTP 401 (invalid_api_key))"
    )
    assert not (tmp_path / "voice.wav").exists()


def _one_sentence_answer(openai: FakeOpenAISpeech, elevenlabs: FakeElevenLabs, tmp_path: Path) -> Voiceover:
    return synthesize_sentences(["Order now."], _settings(openai, elevenlabs), tmp_path / "voice.wav")


def test_a_silent_answer_is_not_speech(openai: FakeOpenAISpeech, elevenlabs: FakeElevenLabs, tmp_path: Path) -> None:
    openai.answer_bytes(wav_bytes(np.zeros(24_000, dtype=np.int16), 24_000), "audio/wav")

    voiceover = _one_sentence_answer(openai, elevenlabs, tmp_path)

    assert voiceover.provider == "elevenlabs"
    assert voiceover.attempts[0].reason == "the answer is silent"


def test_an_answer_far_longer_than_the_sentence_is_refused(
    openai: FakeOpenAISpeech, elevenlabs: FakeElevenLabs, tmp_path: Path
) -> None:
    # Ten characters cannot take 20 s to say: this is not the sentence.
    voice, rate = espeak_samples("Order now. " * 20, "en-us", 80)
    openai.answer_bytes(wav_bytes(voice, rate), "audio/wav")

    voiceover = _one_sentence_answer(openai, elevenlabs, tmp_path)

    assert voiceover.provider == "elevenlabs"
    assert voiceover.attempts[0].reason == "the answer is over 8.5 s long for 10 characters"


def test_an_answer_that_is_not_audio_is_refused(
    openai: FakeOpenAISpeech, elevenlabs: FakeElevenLabs, tmp_path: Path
) -> None:
    openai.answer_bytes(b'{"error": "proxy says no"}', "application/json")
    elevenlabs.garbage("audio/mpeg")

    voiceover = _one_sentence_answer(openai, elevenlabs, tmp_path)

    assert voiceover.provider == "espeak"
    assert voiceover.attempts[0].reason == "the answer is application/json, not audio"
    assert voiceover.attempts[1].reason is not None and voiceover.attempts[1].reason.startswith(
        "the answer is not audio ("
    )


@pytest.mark.parametrize("sentences", [[], ["Fine.", "   "]])
def test_a_script_without_words_is_refused(sentences: list[str], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no sentence may be blank"):
        synthesize_sentences(sentences, TtsSettings(), tmp_path / "voice.wav")


def test_a_voice_is_available_while_the_chain_has_a_provider_that_can_speak() -> None:
    assert voice_unavailable(TtsSettings()) is None  # eSpeak NG closes the default chain
    remote_only = TtsSettings(providers=("openai", "elevenlabs"))
    assert voice_unavailable(remote_only) == (
        "openai: OPENAI_API_KEY (or OPENAI_API_KEY_SECRET_ARN) is not set; "
        "elevenlabs: ELEVENLABS_API_KEY (or ELEVENLABS_API_KEY_SECRET_ARN) is not set"
    )
    assert voice_unavailable(remote_only.model_copy(update={"elevenlabs_api_key": "xi-key"})) is None


def test_the_availability_check_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTOON_TTS_PROVIDERS", "openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY_SECRET_ARN", raising=False)
    assert voice_unavailable() == "openai: OPENAI_API_KEY (or OPENAI_API_KEY_SECRET_ARN) is not set"

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    assert voice_unavailable() is None
