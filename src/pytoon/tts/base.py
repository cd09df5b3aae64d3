"""What every text-to-speech provider shares: the provider shape, decoding and checking what it answered, finding
where the speech is in it, and one HTTP exchange with a remote provider (bounded in time and size, 429 handled).

A provider speaks one sentence at a time and answers encoded audio in whatever format it produces; everything
is decoded by ffmpeg to mono 16-bit PCM at SAMPLE_RATE, so an answer that is not audio fails here, whoever sent it.
"""

from __future__ import annotations

import io
import json
import re
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pytoon.config import TtsSettings
from pytoon.errors import PytoonError
from pytoon.render.ffmpeg import FfmpegError, last_error_lines, run_ffmpeg

if TYPE_CHECKING:
    # httpx is imported where a provider is called: the render functions import this module through the
    # pipeline and never speak (httpx loads its CLI too when click and rich are installed, about 60 ms).
    import httpx

# The soundtrack is AAC at 48 kHz: speech is resampled to it once, when decoded.
SAMPLE_RATE = 48_000
# A sentence of speech is tens to hundreds of KB in any format a provider sends.
MAX_AUDIO_BYTES = 16 * 1024 * 1024
# The slowest plausible delivery (OpenAI at speed 0.25 takes about 0.3 s a character), plus room for a few
# words: anything longer is not this sentence spoken.
MAX_SECONDS_PER_CHARACTER = 0.35
MIN_SECONDS_ALLOWED = 5.0
DECODE_TIMEOUT_SECONDS = 30.0
# A 429 is retried once, and only when the provider asks for a wait this short.
MAX_RETRY_AFTER_SECONDS = 5.0
# Speech is where 5 ms frames come within 40 dB of the loudest frame (a soft onset or final consonant counts),
# and only when the loudest frame is above -50 dBFS (quieter is silence or noise, not a voice).
FRAME_SECONDS = 0.005
SPEECH_RANGE_DB = 40.0
SILENCE_DBFS = -50.0
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class SpeechError(PytoonError):
    """A provider could not speak a sentence; `reason` says why, briefly (the voiceover's attempts record it)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Line:
    """One sentence to speak, with its neighbours (a provider may use them to keep the intonation flowing)."""

    text: str
    previous_text: str | None = None
    next_text: str | None = None


@dataclass(frozen=True)
class SpeakContext:
    settings: TtsSettings
    client: httpx.Client
    # time.monotonic() by which the provider must have spoken the whole script.
    deadline: float


@dataclass(frozen=True)
class SpeechProvider:
    name: str
    # Why the provider cannot speak with these settings (no key, library missing), or None when it can.
    unavailable: Callable[[TtsSettings], str | None]
    # One sentence's encoded audio; SpeechError when the provider fails.
    speak: Callable[[Line, SpeakContext], bytes]
    # Sentences spoken at once.
    workers: int


def _max_speech_seconds(text: str) -> float:
    return MIN_SECONDS_ALLOWED + MAX_SECONDS_PER_CHARACTER * len(text)


def decode_speech(audio: bytes, text: str) -> np.ndarray:
    """`audio` (any container ffmpeg reads) as mono int16 samples at SAMPLE_RATE; SpeechError when it is empty, not
    audio, or far longer than `text` could take to say."""
    if not audio:
        raise SpeechError("the answer has no audio")
    limit = _max_speech_seconds(text)
    # fmt: off
    args = [
        "-protocol_whitelist", "pipe", "-i", "pipe:0",
        "-map", "0:a:0", "-ac", "1", "-ar", str(SAMPLE_RATE),
        # Decoding stops just past the limit: an absurdly long answer costs no more than a long one.
        "-t", f"{limit + 1:.3f}",
        "-f", "s16le", "pipe:1",
    ]
    # fmt: on
    try:
        result = run_ffmpeg(args, input=audio, timeout=DECODE_TIMEOUT_SECONDS, check=False, label="decoding speech")
    except FfmpegError as exc:  # timed out, or ffmpeg missing
        raise SpeechError(str(exc)) from None
    if result.returncode != 0:
        raise SpeechError(f"the answer is not audio ({last_error_lines(result.stderr, limit=2)})")
    samples = np.frombuffer(result.stdout, dtype="<i2")
    if samples.size == 0:
        raise SpeechError("the answer decodes to no audio")
    seconds = samples.size / SAMPLE_RATE
    if seconds > limit:
        raise SpeechError(f"the answer is over {limit:g} s long for {len(text)} characters")
    return samples


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """Mono int16 samples as a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def speech_span(samples: np.ndarray, rate: int) -> tuple[int, int] | None:
    """(first, end) sample of the speech in `samples`: leading and trailing silence left out. None when there is
    no speech at all."""
    frame = max(1, round(rate * FRAME_SECONDS))
    count = samples.size // frame
    if count == 0:
        return None
    frames = samples[: count * frame].astype(np.float64).reshape(count, frame)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    loudest = float(rms.max())
    if loudest <= 32768 * 10 ** (SILENCE_DBFS / 20):
        return None
    voiced = np.flatnonzero(rms >= loudest * 10 ** (-SPEECH_RANGE_DB / 20))
    return int(voiced[0]) * frame, min(samples.size, (int(voiced[-1]) + 1) * frame)


# --- one HTTP exchange ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    status: int
    retry_after: str | None
    content_type: str
    body: bytes


def _remaining(context: SpeakContext) -> float:
    remaining = context.deadline - time.monotonic()
    if remaining <= 0:
        raise SpeechError("the provider took too long for the whole script")
    return remaining


def _exchange(
    context: SpeakContext, url: str, *, headers: dict[str, str], body: dict[str, Any], params: Any
) -> _Answer:
    import httpx

    timeout = min(context.settings.timeout_seconds, _remaining(context))
    try:
        with context.client.stream("POST", url, json=body, headers=headers, params=params, timeout=timeout) as response:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_AUDIO_BYTES:
                    raise SpeechError(f"the answer is larger than {MAX_AUDIO_BYTES // (1024 * 1024)} MiB")
                # httpx bounds each read, not the whole answer: a trickle stops at the deadline.
                _remaining(context)
                chunks.append(chunk)
            return _Answer(
                status=response.status_code,
                retry_after=response.headers.get("retry-after"),
                content_type=response.headers.get("content-type", ""),
                body=b"".join(chunks),
            )
    except httpx.TimeoutException:
        raise SpeechError(f"timed out after {timeout:g} s") from None
    except httpx.ConnectError:
        raise SpeechError(f"could not connect to {httpx.URL(url).netloc.decode()}") from None
    except httpx.TransportError as exc:
        raise SpeechError(f"request failed ({type(exc).__name__})") from None


def _retry_after(answer: _Answer) -> float | None:
    """The Retry-After header in seconds (the form providers send), or None."""
    try:
        wait = float(answer.retry_after or "")
    except ValueError:
        return None
    return wait if 0 <= wait < 86_400 else None


def _retry_wait(answer: _Answer, context: SpeakContext) -> float | None:
    wait = _retry_after(answer)
    if wait is None or wait > MAX_RETRY_AFTER_SECONDS or time.monotonic() + wait >= context.deadline:
        return None
    return wait


def json_error_code(body: bytes, *path: str | int) -> str | None:
    """The short error code at `path` in a JSON error body, when there is one that is safe to show (a provider's
    message is not: it can quote part of the key)."""
    try:
        value: Any = json.loads(body)
        for step in path:
            value = value[step]
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return value if isinstance(value, str) and _ERROR_CODE.fullmatch(value) else None


def post_for_audio(
    context: SpeakContext,
    url: str,
    *,
    headers: dict[str, str],
    body: dict[str, Any],
    params: dict[str, str] | None = None,
    error_code: Callable[[bytes], str | None],
) -> bytes:
    """The audio a provider answers to one POST; SpeechError naming the status (and the provider's error code)
    for any other answer. A 429 asking for a short wait is waited out and retried once."""
    answer = _exchange(context, url, headers=headers, body=body, params=params)
    waited = _retry_wait(answer, context) if answer.status == 429 else None
    if waited is not None:
        time.sleep(waited)
        answer = _exchange(context, url, headers=headers, body=body, params=params)
    if answer.status != 200:
        asked = _retry_after(answer) if answer.status == 429 else None
        details = [
            detail for detail in (error_code(answer.body), asked is not None and f"Retry-After {asked:g} s") if detail
        ]
        again = f" after waiting {waited:g} s and retrying once" if waited is not None else ""
        raise SpeechError(f"HTTP {answer.status}" + (f" ({', '.join(details)})" if details else "") + again)
    if answer.content_type.startswith(("application/json", "text/")):
        raise SpeechError(f"the answer is {answer.content_type.split(';')[0]}, not audio")
    return answer.body
