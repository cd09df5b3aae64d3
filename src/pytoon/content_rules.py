"""Content rules for what users ask Pytoon to make, and the brand-safe wording of engine prompts.

A prompt naming sexual, graphic or hateful content is refused at submit. Brand-safe jobs also get their
engine prompts reworded (violent verbs softened) and capped, so a generative engine is never asked for
something a brand would not post.
"""

from __future__ import annotations

import re

from pytoon.errors import PytoonError

# Whole words (and their plural or -ing forms) that no job may ask for.
BLOCKED_TERMS = (
    "nude",
    "naked",
    "nsfw",
    "porn",
    "pornographic",
    "explicit sex",
    "sexual",
    "gore",
    "gory",
    "beheading",
    "racist",
    "racial slur",
    "hate speech",
)
# Brand-safe rewording for engine prompts: word → softer word.
BRAND_SAFE_SUBSTITUTIONS = {
    "shoot": "film",
    "shooting": "filming",
    "explode": "burst open",
    "explosion": "dynamic burst",
    "kill": "end",
    "weapon": "tool",
    "gun": "device",
    "blood": "red liquid",
    "violent": "intense",
    "attack": "approach",
    "destroy": "transform",
    "crash": "collide gently",
    "fight": "compete",
}
BRAND_SAFE_SUFFIX = "professional, brand-safe, clean aesthetic"
MAX_ENGINE_PROMPT_CHARS = 500

_BLOCKED = re.compile(r"\b(" + "|".join(re.escape(t) for t in BLOCKED_TERMS) + r")(s|ing)?\b", re.IGNORECASE)
_SUBSTITUTE = re.compile(r"\b(" + "|".join(map(re.escape, BRAND_SAFE_SUBSTITUTIONS)) + r")\b", re.IGNORECASE)


class ContentRefusedError(PytoonError):
    """A prompt or brief the content rules refuse; the message names the term."""


def check_prompt(text: str, what: str = "prompt") -> None:
    found = _BLOCKED.search(text)
    if found:
        raise ContentRefusedError(f"{what} refused by the content rules: it asks for {found.group(0)!r}")


def engine_prompt(text: str, *, brand_safe: bool) -> str:
    """The prompt sent to a generative engine: reworded and suffixed when brand-safe, whitespace collapsed,
    at most MAX_ENGINE_PROMPT_CHARS characters."""
    prompt = " ".join(text.split())
    if brand_safe:
        prompt = _SUBSTITUTE.sub(lambda m: BRAND_SAFE_SUBSTITUTIONS[m.group(1).lower()], prompt)
        prompt = f"{prompt.rstrip('. ')}. {BRAND_SAFE_SUFFIX}"
    return prompt if len(prompt) <= MAX_ENGINE_PROMPT_CHARS else prompt[: MAX_ENGINE_PROMPT_CHARS - 3] + "..."
