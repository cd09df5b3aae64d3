"""What the fake text-to-speech APIs share: a real HTTP server on 127.0.0.1 in a thread, the requests it received,
scripted misbehaviour, and speech that is really speech.

Each fake checks a request the way its provider does (route, key, body) before anything scripted happens, so a
malformed request is refused even when a failure was scripted. A valid request then takes the next scripted
answer, or, with none left, is spoken: eSpeak NG's voice with silence and a faint noise floor around it (real
providers answer with a little of both), encoded in the format asked for.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import numpy as np

from pytoon.render.ffmpeg import run_ffmpeg
from pytoon.tts.base import wav_bytes
from pytoon.tts.espeak import espeak_samples

# Around the speech in every spoken answer.
LEADING_SILENCE_MS = 180
TRAILING_SILENCE_MS = 420
NOISE_FLOOR_AMPLITUDE = 8  # about -72 dBFS


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # the parsed JSON, or None when the body was not JSON


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


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, document: Any, headers: dict[str, str] | None = None) -> Answer:
        return cls(status, "application/json", json.dumps(document).encode(), headers or {})


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


_Fake = TypeVar("_Fake", bound="FakeSpeechApi")


class FakeSpeechApi:
    """The scripting and serving every fake shares; a provider's fake says how it checks, errs and speaks."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.requests: list[ReceivedRequest] = []
        self._answers: deque[ScriptedAnswer] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # --- what the provider does (each fake says) ---

    def refusal(self, request: ReceivedRequest) -> Answer | None:
        """The provider's answer to a request it refuses (wrong route, key or body), or None when it is valid."""
        raise NotImplementedError

    def error(self, status: int, code: str | None, headers: dict[str, str]) -> Answer:
        """A scripted error status in the provider's error body."""
        raise NotImplementedError

    def speech(self, request: ReceivedRequest) -> Answer:
        """The provider's audio for a valid request."""
        raise NotImplementedError

    # --- scripting ---

    def script(self, answer: ScriptedAnswer) -> None:
        with self._lock:
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

    # --- serving ---

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next(self) -> ScriptedAnswer | None:
        with self._lock:
            return self._answers.popleft() if self._answers else None

    def respond(self, request: ReceivedRequest) -> Answer:
        refused = self.refusal(request)
        if refused is not None:
            return refused
        scripted = self._next()
        if scripted is None:
            return self.speech(request)
        if scripted.delay_seconds:
            self._stopping.wait(scripted.delay_seconds)
        if scripted.status != 200:
            return self.error(scripted.status, scripted.error_code, scripted.headers)
        if scripted.body is None:
            return self.speech(request)
        return Answer(200, scripted.content_type, scripted.body, scripted.headers)


def _handler(fake: FakeSpeechApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            url = urlsplit(self.path)
            request = ReceivedRequest(
                method=self.command,
                path=url.path,
                query={name: values[-1] for name, values in parse_qs(url.query).items()},
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
            )
            fake._record(request)
            answer = fake.respond(request)
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timed-out request)

        do_POST = do_GET = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            pass

    return Handler


@contextmanager
def serve(make: Callable[[str, str], _Fake], api_key: str, url_path: str, name: str) -> Iterator[_Fake]:
    """Serve a fake on a free 127.0.0.1 port (its `base_url` is the root plus `url_path`); yields it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    fake = make(f"http://127.0.0.1:{server.server_address[1]}{url_path}", api_key)
    server.RequestHandlerClass = _handler(fake)
    # A short poll interval: stopping the fake (once per test) waits for one poll.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake._stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
