"""ElevenLabs: `POST {base}/v1/text-to-speech/{voice_id}?output_format=…`, one sentence per request, with its
neighbours as context so the intonation runs on across sentences."""

from __future__ import annotations

from pytoon.config import TtsSettings
from pytoon.tts.base import Line, SpeakContext, SpeechProvider, json_error_code, post_for_audio

# The API's defaults for its voices, sent explicitly so a voice's own stored settings cannot surprise a job.
VOICE_SETTINGS = {"stability": 0.5, "similarity_boost": 0.75}


def elevenlabs_unavailable(settings: TtsSettings) -> str | None:
    return None if settings.elevenlabs_api_key else "ELEVENLABS_API_KEY (or ELEVENLABS_API_KEY_SECRET_ARN) is not set"


def speech_request(line: Line, settings: TtsSettings) -> dict[str, object]:
    body: dict[str, object] = {
        "text": line.text,
        "model_id": settings.elevenlabs_model,
        "voice_settings": VOICE_SETTINGS,
    }
    if line.previous_text:
        body["previous_text"] = line.previous_text
    if line.next_text:
        body["next_text"] = line.next_text
    return body


def _error_code(body: bytes) -> str | None:
    # {"detail": {"status": "invalid_api_key", "message": …}}; validation errors are {"detail": [{"type": …}]}.
    return json_error_code(body, "detail", "status") or json_error_code(body, "detail", 0, "type")


def _speak(line: Line, context: SpeakContext) -> bytes:
    settings = context.settings
    return post_for_audio(
        context,
        f"{settings.elevenlabs_base_url}/v1/text-to-speech/{settings.elevenlabs_voice_id}",
        headers={"xi-api-key": settings.elevenlabs_api_key or "", "Accept": "audio/*"},
        body=speech_request(line, settings),
        params={"output_format": settings.elevenlabs_output_format},
        error_code=_error_code,
    )


ELEVENLABS = SpeechProvider(name="elevenlabs", unavailable=elevenlabs_unavailable, speak=_speak, workers=4)
