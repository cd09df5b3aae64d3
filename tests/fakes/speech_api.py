"""What the fake text-to-speech APIs share: scripted misbehaviour and speech that is really speech, on top of
the loopback server every provider fake is served by.

Each fake checks a request the way its provider does (route, key, body) before anything scripted happens, so a
malformed request is refused even when a failure was scripted. A valid request then takes the next scripted
answer, or, with none left, is spoken: eSpeak NG's voice with silence and a faint noise floor around it (real
providers answer with a little of both), encoded in the format asked for.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply
from pytoon.render.ffmpeg import run_ffmpeg
from pytoon.tts.base import wav_bytes
from pytoon.tts.espeak import espeak_samples

# Around the speech in every spoken answer.
LEADING_SILENCE_MS = 180
TRAILING_SILENCE_MS = 420
NOISE_FLOOR_AMPLITUDE = 8  # about -72 dBFS


@dataclass(frozen=True)
class ScriptedAnswer:
    """One scripted reply: an error status (with the provider's error body), or raw bytes with status 200."""

    status: int = 200
    body: bytes | None = None
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    error_code: str | None = None
    # Wait this long before answering (cut short when the fake stops, so a timed-out test ends at once).
    delay_seconds: float = 0.0


def spoken(text: str, rate: int) -> np.ndarray:
    """`text` in eSpeak NG's voice at `rate` Hz (mono int16), with silence and a noise floor before and after."""
    speech, speech_rate = espeak_samples(text, "en-us", 175)
    resampled = run_ffmpeg(
        ["-f", "wav", "-i", "pipe:0", "-ar", str(rate), "-f", "s16le", "pipe:1"],
        input=wav_bytes(speech, speech_rate),
        timeout=30,
        label="resampling the fake's speech",
    ).stdout
    voice = np.frombuffer(resampled, dtype="<i2")
    lead, tail = (rate * ms // 1000 for ms in (LEADING_SILENCE_MS, TRAILING_SILENCE_MS))
    noise = np.random.default_rng(len(text)).integers(-NOISE_FLOOR_AMPLITUDE, NOISE_FLOOR_AMPLITUDE + 1, lead + tail)
    return np.concatenate([noise[:lead], voice, noise[lead:]]).astype(np.int16)


def encoded(samples: np.ndarray, rate: int, *output: str) -> bytes:
    """Mono int16 samples encoded by ffmpeg with the `output` options (format, codec, bit rate)."""
    return run_ffmpeg(
        ["-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0", *output, "pipe:1"],
        input=samples.astype("<i2").tobytes(),
        timeout=30,
        label="encoding the fake's speech",
    ).stdout


class FakeSpeechApi(LoopbackFake):
    """The scripting every fake shares; a provider's fake says how it checks, errs and speaks."""

    # Where the provider's API sits under the server's root: `api_url` is what a client is given.
    url_path = ""

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self._answers: deque[ScriptedAnswer] = deque()

    @property
    def api_url(self) -> str:
        return self.base_url + self.url_path

    # --- what the provider does (each fake says) ---

    def refusal(self, request: ReceivedRequest) -> Reply | None:
        """The provider's answer to a request it refuses (wrong route, key or body), or None when it is valid."""
        raise NotImplementedError

    def error(self, status: int, code: str | None, headers: dict[str, str]) -> Reply:
        """A scripted error status in the provider's error body."""
        raise NotImplementedError

    def speech(self, request: ReceivedRequest) -> Reply:
        """The provider's audio for a valid request."""
        raise NotImplementedError

    # --- scripting ---

    def script(self, answer: ScriptedAnswer) -> None:
        with self.lock:
            self._answers.append(answer)

    def fail(self, status: int, *, code: str | None = None, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.script(ScriptedAnswer(status=status, error_code=code, headers=headers))

    def hang(self, seconds: float) -> None:
        """The next valid request waits this long before it is spoken."""
        self.script(ScriptedAnswer(delay_seconds=seconds))

    def answer_bytes(self, body: bytes, content_type: str) -> None:
        """The next valid request is answered 200 with these bytes."""
        self.script(ScriptedAnswer(body=body, content_type=content_type))

    def garbage(self, content_type: str = "audio/wav") -> None:
        """The next valid request is answered 200 with bytes that are not audio."""
        self.answer_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + os.urandom(4000), content_type)

    # --- answering ---

    def _next(self) -> ScriptedAnswer | None:
        with self.lock:
            return self._answers.popleft() if self._answers else None

    def respond(self, request: ReceivedRequest) -> Reply:
        refused = self.refusal(request)
        if refused is not None:
            return refused
        scripted = self._next()
        if scripted is None:
            return self.speech(request)
        if scripted.delay_seconds:
            self.stopping.wait(scripted.delay_seconds)
        if scripted.status != 200:
            return self.error(scripted.status, scripted.error_code, scripted.headers)
        if scripted.body is None:
            return self.speech(request)
        return Reply(200, scripted.body, scripted.content_type, scripted.headers)
