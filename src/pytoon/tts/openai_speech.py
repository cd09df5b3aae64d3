"""OpenAI's speech API: `POST {base}/audio/speech`, one sentence per request, answered as WAV (24 kHz mono)."""

from __future__ import annotations

from pytoon.config import TtsSettings
from pytoon.tts.base import Line, SpeakContext, SpeechProvider, json_error_code, post_for_audio


def openai_unavailable(settings: TtsSettings) -> str | None:
    return None if settings.openai_api_key else "OPENAI_API_KEY (or OPENAI_API_KEY_SECRET_ARN) is not set"


def speech_request(line: Line, settings: TtsSettings) -> dict[str, object]:
    return {
        "model": settings.openai_model,
        "input": line.text,
        "voice": settings.openai_voice,
        "response_format": "wav",
        "speed": settings.openai_speed,
    }


def _speak(line: Line, context: SpeakContext) -> bytes:
    settings = context.settings
    return post_for_audio(
        context,
        f"{settings.openai_base_url}/audio/speech",
        headers={"Authorization": f"Bearer {settings.openai_api_key}", "Accept": "audio/wav"},
        body=speech_request(line, settings),
        # {"error": {"code": "invalid_api_key", …}}; some errors only have a type.
        error_code=lambda body: json_error_code(body, "error", "code") or json_error_code(body, "error", "type"),
    )


OPENAI = SpeechProvider(name="openai", unavailable=openai_unavailable, speak=_speak, workers=4)
