"""Whether a request's captions can all be shown: checked when the job is requested, so a caption is
refused with a reason instead of being dropped, overflowing the frame or taking longer than the video.

The captions are the request's own, or else those the planner derives from the prompt's sentences; both
obey the same rules: at most MAX_CAPTION_CHARS characters and MAX_CAPTION_LINES lines at the smallest
caption size in the preset's caption width, and no more captions than the job's duration can show.
"""

from __future__ import annotations

import unicodedata

from pytoon.limits import MAX_CAPTION_CHARS, MAX_CAPTION_LINES, MIN_CAPTION_SECONDS
from pytoon.models import CaptionLayout, Captions
from pytoon.planner import derived_texts
from pytoon.presets import UnknownPresetError, get_preset
from pytoon.render.captions import MIN_SIZE_PX, caption_layout, lines_at_min_size


def _visible(character: str) -> bool:
    # Separators (Z*) and format characters (Cf: joiners, direction marks) draw nothing on their own.
    category = unicodedata.category(character)
    return not (category.startswith("Z") or category == "Cf")


def labelled_texts(captions: Captions | None, prompt: str, room: int) -> list[tuple[str, str]]:
    """(where it comes from, text) for every caption a job with `room` for that many will show, in order."""
    if captions is None:
        # The neutral call to action added to a short prompt is never refused, so every label can say sentence.
        return [(f"prompt sentence {i + 1}", text) for i, text in enumerate(derived_texts(prompt, room))]
    beats = [(f"captions.beats[{i}]", text) for i, text in enumerate(captions.beats)]
    texts = [("captions.hook", captions.hook), *beats, ("captions.cta", captions.cta)]
    return [(label, text) for label, text in texts if text.strip()]


def caption_problem(captions: Captions | None, prompt: str, duration_seconds: int, preset_id: str) -> str | None:
    """Why these captions cannot all be shown in this job, or None. An unknown preset is left to the caller
    (it is a 400 of its own): only the shaped-width rule needs the preset."""
    capacity = duration_seconds // MIN_CAPTION_SECONDS
    texts = labelled_texts(captions, prompt, capacity)
    if len(texts) > capacity:
        source = "captions" if captions is not None else "prompt (one caption per sentence)"
        return (
            f"{source}: {len(texts)} captions cannot all be shown in {duration_seconds} s; at most {capacity} "
            f"(each caption stays on screen at least {MIN_CAPTION_SECONDS} s)"
        )
    try:
        layout = caption_layout(get_preset(preset_id).caption_style)
    except UnknownPresetError:
        layout = None
    return next((p for label, text in texts if (p := text_problem(label, text, layout))), None)


def text_problem(label: str, text: str, layout: CaptionLayout | None) -> str | None:
    """Why one caption cannot be shown (too long, nothing visible, too many lines in `layout`), or None."""
    if len(text) > MAX_CAPTION_CHARS:
        return f"{label}: at most {MAX_CAPTION_CHARS} characters per caption, got {len(text)}"
    if not any(_visible(character) for character in text):
        return f"{label}: has no visible characters (only spaces, joiners or format marks)"
    if layout is None:
        return None
    lines = lines_at_min_size(text, layout)
    if lines > MAX_CAPTION_LINES:
        return (
            f"{label}: needs {lines} lines at the smallest caption size ({MIN_SIZE_PX} px) in this preset; "
            f"at most {MAX_CAPTION_LINES} fit, shorten it"
        )
    return None
