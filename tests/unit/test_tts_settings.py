"""Text-to-speech settings from the environment: defaults, every variable, keys from plain variables, and a
malformed value refused naming its variable (a key never shown)."""

from __future__ import annotations

import pytest

from pytoon.config import ConfigError, TtsSettings, get_tts_settings

VARIABLES = (
    "PYTOON_TTS_PROVIDERS", "PYTOON_TTS_TIMEOUT_SECONDS", "OPENAI_API_KEY", "OPENAI_API_KEY_SECRET_ARN",
    "OPENAI_BASE_URL", "PYTOON_TTS_OPENAI_MODEL", "PYTOON_TTS_OPENAI_VOICE", "PYTOON_TTS_OPENAI_SPEED",
    "ELEVENLABS_API_KEY", "ELEVENLABS_API_KEY_SECRET_ARN", "ELEVENLABS_BASE_URL", "PYTOON_TTS_ELEVENLABS_MODEL",
    "PYTOON_TTS_ELEVENLABS_VOICE_ID", "PYTOON_TTS_ELEVENLABS_OUTPUT_FORMAT", "PYTOON_TTS_ESPEAK_VOICE",
    "PYTOON_TTS_ESPEAK_RATE_WPM",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_nothing_set_is_the_default_chain_without_keys() -> None:
    settings = get_tts_settings()

    assert settings == TtsSettings()
    assert settings.providers == ("openai", "elevenlabs", "espeak")
    assert settings.openai_api_key is None and settings.elevenlabs_api_key is None
    assert (settings.openai_base_url, settings.openai_model, settings.openai_voice) == (
        "https://api.openai.com/v1",
        "gpt-4o-mini-tts",
        "alloy",
    )
    assert (settings.elevenlabs_voice_id, settings.elevenlabs_output_format) == (
        "21m00Tcm4TlvDq8ikWAM",
        "mp3_44100_128",
    )
    assert (settings.espeak_voice, settings.espeak_rate_wpm, settings.timeout_seconds) == ("en-us", 165, 20.0)


def test_every_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "PYTOON_TTS_PROVIDERS": " ElevenLabs , espeak ",
        "PYTOON_TTS_TIMEOUT_SECONDS": "7.5",
        "OPENAI_API_KEY": "sk-live-key",
        "OPENAI_BASE_URL": "https://proxy.example.com/openai/v1/",
        "PYTOON_TTS_OPENAI_MODEL": "tts-1-hd",
        "PYTOON_TTS_OPENAI_VOICE": "coral",
        "PYTOON_TTS_OPENAI_SPEED": "1.1",
        "ELEVENLABS_API_KEY": "xi-live-key",
        "ELEVENLABS_BASE_URL": "http://127.0.0.1:8080",
        "PYTOON_TTS_ELEVENLABS_MODEL": "eleven_flash_v2_5",
        "PYTOON_TTS_ELEVENLABS_VOICE_ID": "JBFqnCBsd6RMkjVDRZzb",
        "PYTOON_TTS_ELEVENLABS_OUTPUT_FORMAT": "mp3_22050_32",
        "PYTOON_TTS_ESPEAK_VOICE": "en-gb",
        "PYTOON_TTS_ESPEAK_RATE_WPM": "190",
    }.items():
        monkeypatch.setenv(name, value)

    assert get_tts_settings() == TtsSettings(
        providers=("elevenlabs", "espeak"),
        timeout_seconds=7.5,
        openai_api_key="sk-live-key",
        openai_base_url="https://proxy.example.com/openai/v1",
        openai_model="tts-1-hd",
        openai_voice="coral",
        openai_speed=1.1,
        elevenlabs_api_key="xi-live-key",
        elevenlabs_base_url="http://127.0.0.1:8080",
        elevenlabs_model="eleven_flash_v2_5",
        elevenlabs_voice_id="JBFqnCBsd6RMkjVDRZzb",
        elevenlabs_output_format="mp3_22050_32",
        espeak_voice="en-gb",
        espeak_rate_wpm=190,
    )


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("PYTOON_TTS_PROVIDERS", "openai,polly", "PYTOON_TTS_PROVIDERS is invalid ('openai,polly'): Input should be"),
        ("PYTOON_TTS_PROVIDERS", "espeak,espeak", "a provider is named twice"),
        ("PYTOON_TTS_PROVIDERS", " , ", "PYTOON_TTS_PROVIDERS is invalid (' , '): Tuple should have at least 1 item"),
        ("PYTOON_TTS_TIMEOUT_SECONDS", "0", "PYTOON_TTS_TIMEOUT_SECONDS is invalid ('0')"),
        ("OPENAI_BASE_URL", "http://api.openai.com/v1", "must be an https URL (plain http only for 127.0.0.1"),
        (
            "ELEVENLABS_BASE_URL",
            "https://user:pw@api.elevenlabs.io",
            "must not carry a query, a fragment or credentials",
        ),
        ("PYTOON_TTS_OPENAI_SPEED", "5", "PYTOON_TTS_OPENAI_SPEED is invalid ('5')"),
        ("PYTOON_TTS_ELEVENLABS_VOICE_ID", "../../v1/user", "PYTOON_TTS_ELEVENLABS_VOICE_ID is invalid"),
        ("PYTOON_TTS_ELEVENLABS_OUTPUT_FORMAT", "pcm_44100", "PYTOON_TTS_ELEVENLABS_OUTPUT_FORMAT is invalid"),
        ("PYTOON_TTS_ESPEAK_RATE_WPM", "fast", "PYTOON_TTS_ESPEAK_RATE_WPM is invalid ('fast')"),
    ],
)
def test_a_malformed_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError) as raised:
        get_tts_settings()

    assert message in str(raised.value)
    assert str(raised.value).startswith(f"{name} is invalid")


def test_a_key_is_never_shown_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    monkeypatch.setenv("PYTOON_TTS_OPENAI_VOICE", "no spaces allowed")

    with pytest.raises(ConfigError) as raised:
        get_tts_settings()

    assert "sk-secret-value" not in str(raised.value)
    assert "sk-secret-value" not in repr(TtsSettings(openai_api_key="sk-secret-value"))
