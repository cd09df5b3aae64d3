"""A fake ElevenLabs text-to-speech API (`POST /v1/text-to-speech/{voice_id}`) on 127.0.0.1, a real HTTP server.

It checks a request as ElevenLabs does: the `xi-api-key` header (401 `invalid_api_key`), a known voice id (404
`voice_not_found`), an `output_format` it offers (422 otherwise; 44.1 kHz PCM or WAV and 192 kb/s MP3 are refused
403 `output_format_not_allowed` below the Pro tier, as on the free tier), and a JSON body with `text`, an optional
`model_id`, `voice_settings` in range and string `previous_text`/`next_text` (422 with FastAPI's error list). It
answers the format asked for: MP3 (`audio/mpeg`), WAV or raw PCM.

    with fake_elevenlabs() as fake:
        fake.fail(500)                    # or fake.fail(429, retry_after="1"), fake.hang(5), fake.garbage()
        settings = TtsSettings(elevenlabs_base_url=fake.api_url, elevenlabs_api_key=fake.api_key, ...)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pytoon.local.fakes.loopback import ReceivedRequest, Reply, serve
from pytoon.tts.base import wav_bytes
from tests.fakes.speech_api import FakeSpeechApi, encoded, spoken

DEFAULT_API_KEY = "xi-fake-key-0123456789"
DEFAULT_VOICE_ID = "21m00Tcm4TlvDq8ikWAM"
_ROUTE = re.compile(r"/v1/text-to-speech/([^/]+)")
_FORMAT = re.compile(r"(mp3)_(22050|24000|44100)_(32|64|96|128|192)|(pcm|wav)_(8000|16000|22050|24000|44100|48000)")
PRO_FORMATS = frozenset({"pcm_44100", "wav_44100", "pcm_48000", "wav_48000", "mp3_44100_192"})
# voice_settings fields and their ranges.
VOICE_SETTING_RANGES = {"stability": (0.0, 1.0), "similarity_boost": (0.0, 1.0), "style": (0.0, 1.0),
                        "speed": (0.7, 1.2)}  # fmt: skip
FIELDS = frozenset({"text", "model_id", "voice_settings", "previous_text", "next_text", "language_code", "seed"})


def _detail(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply.json(status, {"detail": {"status": code, "message": message}}, headers)


def _invalid(location: list[str | int], message: str, kind: str) -> Reply:
    return Reply.json(422, {"detail": [{"type": kind, "loc": location, "msg": message, "input": None}]})


class FakeElevenLabs(FakeSpeechApi):
    def __init__(self, api_key: str, *, tier: str = "free") -> None:
        super().__init__(api_key)
        self.voice_ids = {DEFAULT_VOICE_ID}
        self.tier = tier

    def refusal(self, request: ReceivedRequest) -> Reply | None:
        route = _ROUTE.fullmatch(request.path)
        if request.method != "POST" or route is None:
            return Reply.json(404, {"detail": "Not Found"})
        if request.headers.get("xi-api-key") != self.api_key:
            return _detail(401, "invalid_api_key", "Invalid API key")
        if route.group(1) not in self.voice_ids:
            return _detail(404, "voice_not_found", f"A voice with the voice_id {route.group(1)} was not found.")
        output_format = request.query.get("output_format", "mp3_44100_128")
        if not _FORMAT.fullmatch(output_format):
            return _invalid(["query", "output_format"], "Input should be a supported output format", "enum")
        if output_format in PRO_FORMATS and self.tier != "pro":
            return _detail(403, "output_format_not_allowed", f"{output_format} is only allowed for Pro tier and above.")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _invalid(["body"], "Input should be a valid dictionary or object", "model_attributes_type")
        return self._body_problem(request.json)

    @staticmethod
    def _body_problem(body: Any) -> Reply | None:
        if not isinstance(body, dict):
            return _invalid(["body"], "Input should be a valid dictionary or object", "model_attributes_type")
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            return _invalid(["body", unknown[0]], "Extra inputs are not permitted", "extra_forbidden")
        if "text" not in body:
            return _invalid(["body", "text"], "Field required", "missing")
        for name in ("text", "model_id", "previous_text", "next_text"):
            if name in body and not isinstance(body[name], str):
                return _invalid(["body", name], "Input should be a valid string", "string_type")
        if not body["text"].strip():
            return _detail(400, "empty_text", "Text must not be empty.")
        settings = body.get("voice_settings", {})
        if not isinstance(settings, dict):
            return _invalid(["body", "voice_settings"], "Input should be a valid dictionary", "dict_type")
        for name, value in settings.items():
            low, high = VOICE_SETTING_RANGES.get(name, (None, None))
            if name == "use_speaker_boost":
                if not isinstance(value, bool):
                    return _invalid(["body", "voice_settings", name], "Input should be a valid boolean", "bool_type")
            elif low is None:
                return _invalid(["body", "voice_settings", name], "Extra inputs are not permitted", "extra_forbidden")
            elif isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                message = f"Input should be a number from {low} to {high}"
                return _invalid(["body", "voice_settings", name], message, "less_than_equal")
        return None

    def error(self, status: int, code: str | None, headers: dict[str, str]) -> Reply:
        code = code or {429: "too_many_concurrent_requests"}.get(status, "internal_error")
        return _detail(status, code, f"scripted HTTP {status}", headers)

    def speech(self, request: ReceivedRequest) -> Reply:
        output_format = request.query.get("output_format", "mp3_44100_128")
        parts = output_format.split("_")
        rate = int(parts[1])
        samples = spoken(request.json["text"], rate)
        if parts[0] == "mp3":
            mp3 = encoded(samples, rate, "-c:a", "libmp3lame", "-b:a", f"{parts[2]}k", "-f", "mp3")
            return Reply(200, mp3, "audio/mpeg")
        if parts[0] == "wav":
            return Reply(200, wav_bytes(samples, rate), "audio/wav")
        return Reply(200, samples.astype("<i2").tobytes(), "audio/pcm")


@contextmanager
def fake_elevenlabs(api_key: str = DEFAULT_API_KEY, *, tier: str = "free") -> Iterator[FakeElevenLabs]:
    """Serve the fake on a free 127.0.0.1 port; yields it (`api_url` is the root, like https://api.elevenlabs.io)."""
    with serve(FakeElevenLabs(api_key, tier=tier), name="fake-elevenlabs") as fake:
        yield fake
