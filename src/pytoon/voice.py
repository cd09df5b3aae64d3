"""Text-to-speech for `voice_script`: the providers a voiceover can be spoken by, tried in order.

No provider is registered yet, so a job with a voice script is refused at submit with that reason (a
voiceover file upload works meanwhile); providers register in `PROVIDERS` and the audio step speaks with the
first available one.
"""

from __future__ import annotations

from collections.abc import Callable

# name → a check returning why the provider cannot speak now (None when it can).
PROVIDERS: dict[str, Callable[[], str | None]] = {}


def voice_unavailable() -> str | None:
    """Why no voice script can be spoken now, or None when a provider is available."""
    reasons = [reason for check in PROVIDERS.values() if (reason := check())]
    if len(reasons) < len(PROVIDERS):
        return None
    return "; ".join(reasons) or "no text-to-speech provider is configured"
