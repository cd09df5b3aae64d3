"""Text-to-speech for `voice_script`: the sentences spoken by the first provider that can, joined into one WAV
with the exact time of every sentence in it.

Providers are tried in the configured order (`PYTOON_TTS_PROVIDERS`, default openai, elevenlabs, espeak). One
without its key is skipped as unavailable; one that fails on any sentence (an HTTP error, a timeout, an answer
that is not speech) is recorded with the reason and the next one speaks the whole script, so a voiceover never
mixes voices. eSpeak NG runs offline from the installed wheel and closes the chain.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from pytoon.config import TtsSettings, get_tts_settings
from pytoon.errors import PytoonError
from pytoon.models import Attempt, AttemptOutcome, SpokenSentence
from pytoon.tts.base import (
    SAMPLE_RATE,
    Line,
    SpeakContext,
    SpeechError,
    SpeechProvider,
    decode_speech,
    speech_span,
    wav_bytes,
)
from pytoon.tts.elevenlabs import ELEVENLABS
from pytoon.tts.espeak import ESPEAK, espeak_samples
from pytoon.tts.openai_speech import OPENAI

# Silence between sentences: a spoken full stop.
PAUSE_MS = 300
# Each sentence fades in and out this briefly, so a cut at the edge of its speech never clicks.
EDGE_FADE_MS = 3
# A provider's time for the whole script. With both remote providers failing slowly in turn, the offline voice
# still speaks well inside the audio step's 240 s.
PROVIDER_BUDGET_SECONDS = 90.0

PROVIDERS: dict[str, SpeechProvider] = {provider.name: provider for provider in (OPENAI, ELEVENLABS, ESPEAK)}


class Voiceover(BaseModel):
    """A spoken script: one mono 16-bit WAV at `sample_rate`, starting with the first sentence's speech and
    ending with the last one's."""

    model_config = ConfigDict(frozen=True)

    path: Path
    provider: str
    sample_rate: int
    duration_ms: int
    sentences: tuple[SpokenSentence, ...]
    # Every provider tried, in order, the last one USED.
    attempts: tuple[Attempt, ...]


class VoiceoverError(PytoonError):
    """No provider could speak the script; the message lists what each one said."""

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        self.attempts = tuple(attempts)
        said = "; ".join(f"{a.provider} {a.outcome}: {a.reason}" for a in self.attempts)
        self.reason = f"the voice script could not be spoken ({said})"
        super().__init__(self.reason)


def voice_unavailable(settings: TtsSettings | None = None) -> str | None:
    """Why no voice script can be spoken now, or None when a provider is available."""
    settings = settings or get_tts_settings()
    reasons = []
    for name in settings.providers:
        reason = PROVIDERS[name].unavailable(settings)
        if reason is None:
            return None
        reasons.append(f"{name}: {reason}")
    return "; ".join(reasons)


def _texts(sentences: Sequence[str]) -> list[str]:
    texts = [sentence.strip() for sentence in sentences]
    if not texts or not all(texts):
        raise ValueError("a voiceover needs at least one sentence, and no sentence may be blank")
    return texts


def synthesize_sentences(sentences: Sequence[str], settings: TtsSettings, path: Path) -> Voiceover:
    """Speak each sentence with the first provider that can speak them all and write the voiceover to `path`.

    Raises VoiceoverError (with every attempt) when no provider could, ValueError for no or blank sentences.
    """
    texts = _texts(sentences)
    attempts: list[Attempt] = []
    for name in settings.providers:
        provider = PROVIDERS[name]
        reason = provider.unavailable(settings)
        if reason is not None:
            attempts.append(Attempt(provider=name, outcome=AttemptOutcome.UNAVAILABLE, reason=reason))
            continue
        try:
            clips = _speak_script(provider, texts, settings)
        except SpeechError as exc:
            attempts.append(Attempt(provider=name, outcome=AttemptOutcome.FAILED, reason=exc.reason))
            continue
        attempts.append(Attempt(provider=name, outcome=AttemptOutcome.USED))
        spans, total = _write_voiceover(clips, path)
        return Voiceover(
            path=path,
            provider=name,
            sample_rate=SAMPLE_RATE,
            duration_ms=_ms(total),
            sentences=tuple(
                SpokenSentence(text=text, start_ms=_ms(start), end_ms=_ms(end))
                for text, (start, end) in zip(texts, spans, strict=True)
            ),
            attempts=tuple(attempts),
        )
    raise VoiceoverError(attempts)


def spoken_duration_ms(sentences: Sequence[str], settings: TtsSettings) -> int:
    """How long the voiceover of `sentences` lasts when the offline voice speaks it (at its configured voice and
    rate, pauses included): a few milliseconds of CPU a sentence. Remote voices keep their own pace."""
    texts = _texts(sentences)
    speech_ms = 0.0
    for text in texts:
        samples, rate = espeak_samples(text, settings.espeak_voice, settings.espeak_rate_wpm)
        span = speech_span(samples, rate)
        if span is not None:
            speech_ms += (span[1] - span[0]) * 1000 / rate
    return round(speech_ms) + PAUSE_MS * (len(texts) - 1)


# --- speaking -------------------------------------------------------------------------------------------------


def _lines(texts: list[str]) -> list[Line]:
    return [
        Line(
            text=text,
            previous_text=texts[n - 1] if n > 0 else None,
            next_text=texts[n + 1] if n + 1 < len(texts) else None,
        )
        for n, text in enumerate(texts)
    ]


def _clip(provider: SpeechProvider, line: Line, context: SpeakContext) -> np.ndarray:
    """One sentence's speech, decoded, its leading and trailing silence cut off."""
    samples = decode_speech(provider.speak(line, context), line.text)
    span = speech_span(samples, SAMPLE_RATE)
    if span is None:
        raise SpeechError("the answer is silent")
    return _faded(samples[span[0] : span[1]])


def _faded(clip: np.ndarray) -> np.ndarray:
    ramp = min(clip.size // 2, EDGE_FADE_MS * SAMPLE_RATE // 1000)
    if ramp == 0:
        return clip.copy()
    gains = np.ones(clip.size)
    gains[:ramp] = np.linspace(0.0, 1.0, ramp, endpoint=False)
    gains[clip.size - ramp :] = np.linspace(1.0, 0.0, ramp, endpoint=False)
    return np.round(clip * gains).astype(np.int16)


def _first_failure(futures: list[Future[np.ndarray]]) -> tuple[int, BaseException] | None:
    for n, future in enumerate(futures):
        if future.done() and not future.cancelled() and (error := future.exception()) is not None:
            return n, error
    return None


def _speak_script(provider: SpeechProvider, texts: list[str], settings: TtsSettings) -> list[np.ndarray]:
    """Every sentence's clip, in order; SpeechError naming the first sentence that failed."""
    import httpx  # here, not at the top: a job without a voice script never loads it (see tts.base)

    lines = _lines(texts)
    deadline = time.monotonic() + PROVIDER_BUDGET_SECONDS
    workers = min(provider.workers, len(lines))
    with httpx.Client() as client, ThreadPoolExecutor(workers, thread_name_prefix=f"tts-{provider.name}") as pool:
        context = SpeakContext(settings=settings, client=client, deadline=deadline)
        futures = [pool.submit(_clip, provider, line, context) for line in lines]
        wait(futures, return_when=FIRST_EXCEPTION)
        failure = _first_failure(futures)
        if failure is not None:
            for future in futures:
                future.cancel()  # the sentences not started yet; those being spoken end within their timeout
    if failure is None:
        return [future.result() for future in futures]
    n, error = failure
    if isinstance(error, SpeechError):
        reason = error.reason if len(lines) == 1 else f"sentence {n + 1}: {error.reason}"
        raise SpeechError(reason) from None
    raise error


def _ms(samples: int) -> int:
    return round(samples * 1000 / SAMPLE_RATE)


def _write_voiceover(clips: list[np.ndarray], path: Path) -> tuple[list[tuple[int, int]], int]:
    """Write the clips with a pause between each two; (start, end) sample of every clip, and the total."""
    pause = np.zeros(PAUSE_MS * SAMPLE_RATE // 1000, dtype=np.int16)
    pieces: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    cursor = 0
    for n, clip in enumerate(clips):
        if n:
            pieces.append(pause)
            cursor += pause.size
        spans.append((cursor, cursor + clip.size))
        pieces.append(clip)
        cursor += clip.size
    path.write_bytes(wav_bytes(np.concatenate(pieces), SAMPLE_RATE))
    return spans, cursor
