"""Burned-in captions and the SRT sidecar.

A caption is rendered once into a tight RGBA image plus its position in the frame; segments paste it on
every frame where its cue is active. Text is never cut: it is wrapped (balanced lines), then the font
shrinks, and only if it does not fit in 2 lines at MIN_SIZE_PX does it take more lines (3 for any
caption of sane length; a caption that long is a planning problem, but it still shows in full).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from pytoon.fonts import font_path
from pytoon.models import FPS, HEIGHT, WIDTH, CaptionCue, CaptionLayout, CaptionStyle

SIZE_BY_RULE: dict[str, int] = {"small": 40, "auto": 56, "large": 72}
MIN_SIZE_PX = 28
SIZE_STEP_PX = 2
MAX_LINES = 2
# Zones covered by the platforms' own UI (profile, buttons, description) on a 1080x1920 short.
UI_TOP_PX, UI_BOTTOM_PX, UI_SIDE_PX = 100, 150, 54
# Vertical centre of the caption block, as a fraction of the frame height, before clamping to the safe
# area. Upper and lower third stay clear of OVERLAY's product (0.23-0.65 of the height) and of the
# platforms' UI at the edges.
ANCHOR_Y: dict[str, float] = {"upper_third": 0.15, "center": 0.5, "lower_third": 0.78}
LINE_SPACING = 1.12
TEXT_FILL = (255, 255, 255, 255)
BOX_FILL = (0, 0, 0, 150)
STROKE_FILL = (0, 0, 0, 255)


@dataclass(frozen=True)
class SafeArea:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left


def caption_layout(style: CaptionStyle, *, boxed: bool | None = None) -> CaptionLayout:
    """The layout for a preset's caption style. Unless told otherwise, large display captions get the
    outlined "meme" look and smaller text sits in a box, which reads better at small sizes."""
    return CaptionLayout(
        font=style.font,
        size_px=SIZE_BY_RULE[style.size_rules],
        position=style.position,
        safe_margin_px=style.safe_margin_px,
        boxed=style.size_rules != "large" if boxed is None else boxed,
    )


def safe_area(layout: CaptionLayout) -> SafeArea:
    margin = layout.safe_margin_px
    side = max(margin, UI_SIDE_PX)
    return SafeArea(
        left=side, top=max(margin, UI_TOP_PX), right=WIDTH - side, bottom=HEIGHT - max(margin, UI_BOTTOM_PX)
    )


@lru_cache(maxsize=64)
def load_font(font_file: str, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_file, size_px)


@dataclass(frozen=True)
class _Style:
    """Pixel metrics of one caption at one font size."""

    font: ImageFont.FreeTypeFont
    size: int
    boxed: bool

    @property
    def stroke(self) -> int:
        return 0 if self.boxed else max(2, round(self.size * 0.08))

    @property
    def pad_x(self) -> int:
        return round(self.size * 0.5) if self.boxed else 0

    @property
    def pad_y(self) -> int:
        return round(self.size * 0.3) if self.boxed else self.stroke

    @property
    def line_height(self) -> int:
        ascent, descent = self.font.getmetrics()
        return round((ascent + descent) * LINE_SPACING)

    def width(self, text: str) -> float:
        """Width of the caption image needed for this line: ink, outline and box padding."""
        return self.font.getlength(text) + 2 * (self.stroke + self.pad_x)


Measure = Callable[[str], float]


def _greedy_lines(words: list[str], measure: Measure, max_width: float) -> list[str] | None:
    """Fill lines word by word; None if a single word is wider than max_width."""
    lines: list[str] = []
    for word in words:
        if measure(word) > max_width:
            return None
        if lines and measure(f"{lines[-1]} {word}") <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def wrap_words(words: list[str], measure: Measure, max_width: float, max_lines: int) -> list[str] | None:
    """Balanced wrap in at most max_lines lines, or None if it does not fit.

    Greedy filling finds how many lines are needed; then the narrowest width that still needs no more
    lines evens them out ("Buy the new | bottle today" rather than "Buy the new bottle | today").
    """
    lines = _greedy_lines(words, measure, max_width)
    if not lines or len(lines) > max_lines:
        return None
    low, high = int(max(measure(w) for w in words)), int(max_width)
    while low < high:
        mid = (low + high) // 2
        trial = _greedy_lines(words, measure, mid)
        if trial is not None and len(trial) <= len(lines):
            high = mid
        else:
            low = mid + 1
    return _greedy_lines(words, measure, high) or lines


def _split_long_word(word: str, measure: Measure, max_width: float) -> list[str]:
    """Character chunks of a word (a URL, a hashtag run) that is wider than a whole line."""
    chunks = [""]
    for char in word:
        if chunks[-1] and measure(chunks[-1] + char) > max_width:
            chunks.append("")
        chunks[-1] += char
    return chunks


def fit_text(
    text: str, sizes: Sequence[int], measure_at: Callable[[int], Measure], max_width: float, max_lines: int
) -> tuple[int, list[str]]:
    """The first size (largest first) at which the text fits in max_lines lines, and those lines.

    If even the last (smallest) size needs more lines, the text keeps that size and takes as many lines as
    it needs, with over-long words broken: text is never cut.
    """
    words = text.split()
    for size in sizes:
        lines = wrap_words(words, measure_at(size), max_width, max_lines)
        if lines is not None:
            return size, lines
    measure = measure_at(sizes[-1])
    pieces = [chunk for word in words for chunk in _split_long_word(word, measure, max_width)]
    return sizes[-1], wrap_words(pieces, measure, max_width, len(pieces)) or pieces


def render_caption_image(text: str, layout: CaptionLayout) -> tuple[Image.Image, tuple[int, int]]:
    """The caption as an RGBA image and the top-left position where it goes in the frame."""
    area = safe_area(layout)
    font_file = str(font_path(layout.font))

    def style_at(size: int) -> _Style:
        return _Style(load_font(font_file, size), size, layout.boxed)

    if not text.strip():
        raise ValueError("A caption needs text")
    sizes = list(range(layout.size_px, MIN_SIZE_PX - 1, -SIZE_STEP_PX)) or [layout.size_px]
    size, lines = fit_text(text, sizes, lambda px: style_at(px).width, area.width, MAX_LINES)
    style = style_at(size)
    width = math.ceil(max(style.width(line) for line in lines))
    height = len(lines) * style.line_height + 2 * style.pad_y
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if layout.boxed:
        draw.rounded_rectangle((0, 0, width - 1, height - 1), radius=round(style.size * 0.35), fill=BOX_FILL)
    for i, line in enumerate(lines):
        centre_y = style.pad_y + (i + 0.5) * style.line_height
        draw.text(
            (width / 2, centre_y),
            line,
            font=style.font,
            fill=TEXT_FILL,
            anchor="mm",
            stroke_width=style.stroke,
            stroke_fill=STROKE_FILL,
        )
    return image, _position(layout, area, width, height)


def _position(layout: CaptionLayout, area: SafeArea, width: int, height: int) -> tuple[int, int]:
    x = (WIDTH - width) // 2
    y = round(ANCHOR_Y[layout.position] * HEIGHT - height / 2)
    y = max(area.top, min(y, area.bottom - height))
    return x, y


def srt_timestamp(frame: int) -> str:
    """HH:MM:SS,mmm of a frame boundary, rounded to the nearest millisecond (integer maths, no drift)."""
    ms = (frame * 1000 * 2 + FPS) // (2 * FPS)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{millis:03d}"


def cues_to_srt(cues: list[CaptionCue]) -> str:
    blocks = []
    for cue in sorted(cues, key=lambda c: (c.start_frame, c.index)):
        text = "\n".join(line.strip() for line in cue.text.splitlines() if line.strip())
        timing = f"{srt_timestamp(cue.start_frame)} --> {srt_timestamp(cue.end_frame)}"
        blocks.append(f"{cue.index}\n{timing}\n{text}\n")
    return "\n".join(blocks)
