"""A fake OpenAI speech API (`POST /v1/audio/speech`) on 127.0.0.1, a real HTTP server in a thread.

It checks a request as OpenAI does: `Authorization: Bearer <key>` (401 `invalid_api_key` otherwise), a JSON body
(400 otherwise) with a known `model` (404 `model_not_found`), `input` of 1-4096 characters, a built-in `voice`, a
`response_format` and `speed` of 0.25-4 when given, and nothing else (400 naming the parameter). It answers as
OpenAI streams it: WAV, 24 kHz mono 16-bit, with 0xFFFFFFFF in the RIFF and data sizes (or raw `pcm`).

    with fake_openai_speech() as fake:
        fake.fail(500)                    # or fake.fail(429, retry_after="1"), fake.hang(5), fake.garbage()
        settings = TtsSettings(openai_base_url=fake.api_url, openai_api_key=fake.api_key, ...)
        ...
        fake.requests[0].json["input"]    # what the client sent
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from pytoon.local.fakes.loopback import ReceivedRequest, Reply, serve
from tests.fakes.speech_api import FakeSpeechApi, spoken

DEFAULT_API_KEY = "sk-fake-speech-key"
SPEECH_PATH = "/v1/audio/speech"
SAMPLE_RATE = 24_000
MODELS = frozenset({"tts-1", "tts-1-hd", "gpt-4o-mini-tts"})
VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar"}
)
FORMATS = frozenset({"mp3", "opus", "aac", "flac", "wav", "pcm"})
# The formats the fake can speak; the others are valid requests it does not imitate.
SPOKEN_FORMATS = frozenset({"wav", "pcm"})
PARAMETERS = frozenset({"model", "input", "voice", "instructions", "response_format", "speed", "stream_format"})
MAX_INPUT_CHARS = 4096


def _error(status: int, message: str, error_type: str, code: str | None, param: str | None = None) -> Reply:
    return Reply.json(status, {"error": {"message": message, "type": error_type, "param": param, "code": code}})


def streamed_wav(pcm: bytes, rate: int) -> bytes:
    """A mono 16-bit WAV as OpenAI streams one: the sizes are unknown when the header is sent, so they are maximal."""
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 0xFFFFFFFF, b"WAVE", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16,
                         b"data", 0xFFFFFFFF)  # fmt: skip
    return header + pcm


class FakeOpenAISpeech(FakeSpeechApi):
    url_path = "/v1"  # OpenAI's clients are given https://api.openai.com/v1

    def refusal(self, request: ReceivedRequest) -> Reply | None:
        if request.method != "POST" or request.path != SPEECH_PATH:
            message = f"Invalid URL ({request.method} {request.path})"
            return _error(404, message, "invalid_request_error", None)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        body = request.json
        if not request.headers.get("content-type", "").startswith("application/json") or not isinstance(body, dict):
            return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error", None)
        problem = self._body_problem(body)
        if problem is not None:
            param, message = problem
            return _error(400, message, "invalid_request_error", None, param)
        if body["model"] not in MODELS:
            message = f"The model `{body['model']}` does not exist or you do not have access to it."
            return _error(404, message, "invalid_request_error", "model_not_found")
        return None

    @staticmethod
    def _body_problem(body: dict[str, Any]) -> tuple[str, str] | None:
        unknown = sorted(set(body) - PARAMETERS)
        if unknown:
            return unknown[0], f"Unrecognized request argument supplied: {unknown[0]}"
        for name in ("model", "input", "voice"):
            if not isinstance(body.get(name), str):
                return name, f"Missing required parameter: '{name}'."
        if not 1 <= len(body["input"]) <= MAX_INPUT_CHARS:
            return "input", f"'input' must be 1 to {MAX_INPUT_CHARS} characters"
        if body["voice"] not in VOICES:
            return "voice", f"Invalid value: '{body['voice']}'. Supported values are: {', '.join(sorted(VOICES))}."
        if body.get("response_format", "mp3") not in FORMATS:
            return "response_format", f"Invalid value: '{body['response_format']}'."
        speed = body.get("speed", 1.0)
        if isinstance(speed, bool) or not isinstance(speed, int | float) or not 0.25 <= speed <= 4.0:
            return "speed", f"Invalid 'speed': {speed!r}; expected a number from 0.25 to 4.0."
        return None

    def error(self, status: int, code: str | None, headers: dict[str, str]) -> Reply:
        code = code or {429: "rate_limit_exceeded"}.get(status)
        kind = "requests" if status == 429 else "server_error"
        return replace(_error(status, f"scripted HTTP {status}", kind, code), headers=headers)

    def speech(self, request: ReceivedRequest) -> Reply:
        body = request.json
        response_format = body.get("response_format", "mp3")
        if response_format not in SPOKEN_FORMATS:
            return _error(501, f"the fake speaks {' and '.join(sorted(SPOKEN_FORMATS))} only", "server_error", None)
        pcm = spoken(body["input"], SAMPLE_RATE).astype("<i2").tobytes()
        if response_format == "pcm":
            return Reply(200, pcm, "audio/pcm")
        return Reply(200, streamed_wav(pcm, SAMPLE_RATE), "audio/wav")


@contextmanager
def fake_openai_speech(api_key: str = DEFAULT_API_KEY) -> Iterator[FakeOpenAISpeech]:
    """Serve the fake on a free 127.0.0.1 port; yields it (`api_url` ends in /v1, like OpenAI's)."""
    with serve(FakeOpenAISpeech(api_key), name="fake-openai-speech") as fake:
        yield fake
