"""Burned-in captions and the SRT sidecar.

A caption is rendered once into a tight RGBA image plus its position in the frame; segments paste it on
every frame where its cue is active. Text is never cut: it is wrapped (balanced lines), then the font
shrinks, and only if it does not fit in 2 lines at MIN_SIZE_PX does it take more lines (requests are
refused when a caption would need more than MAX_CAPTION_LINES there). Any script is drawn: the preset's
font first, then the bundled fallbacks (see pytoon.render.text).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pytoon.models import FPS, HEIGHT, WIDTH, CaptionCue, CaptionLayout, CaptionStyle
from pytoon.render.text import (
    Measure,
    Piece,
    TextStyle,
    break_pieces,
    greedy_lines,
    join_pieces,
    split_long_piece,
)

from PIL import Image, ImageDraw  # isort: skip  (after pytoon.fonts, which loads libfribidi)

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


@dataclass(frozen=True)
class _Style:
    """Pixel metrics of one caption at one font size."""

    text: TextStyle
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

    def width(self, line: str) -> float:
        """Width of the caption image needed for this line: ink, outline and box padding."""
        return self.text.measure(line) + 2 * (self.stroke + self.pad_x)


def wrap_pieces(pieces: list[Piece], measure: Measure, max_width: float, max_lines: int) -> list[str] | None:
    """Balanced wrap in at most max_lines lines, or None if it does not fit.

    Greedy filling finds how many lines are needed; then the narrowest width that still needs no more
    lines evens them out ("Buy the new | bottle today" rather than "Buy the new bottle | today").
    """
    lines = greedy_lines(pieces, measure, max_width)
    if not lines or len(lines) > max_lines:
        return None
    low, high = int(max(measure(p.text) for p in pieces)), int(max_width)
    while low < high:
        mid = (low + high) // 2
        trial = greedy_lines(pieces, measure, mid)
        if trial is not None and len(trial) <= len(lines):
            high = mid
        else:
            low = mid + 1
    return [join_pieces(line) for line in greedy_lines(pieces, measure, high) or lines]


def fit_text(
    text: str, sizes: Sequence[int], measure_at: Callable[[int], Measure], max_width: float, max_lines: int
) -> tuple[int, list[str]]:
    """The first size (largest first) at which the text fits in max_lines lines, and those lines.

    If even the last (smallest) size needs more lines, the text keeps that size and takes as many lines as
    it needs, with over-long pieces broken between clusters: text is never cut.
    """
    pieces = break_pieces(text)
    for size in sizes:
        lines = wrap_pieces(pieces, measure_at(size), max_width, max_lines)
        if lines is not None:
            return size, lines
    measure = measure_at(sizes[-1])
    chunks = [chunk for piece in pieces for chunk in split_long_piece(piece, measure, max_width)]
    return sizes[-1], wrap_pieces(chunks, measure, max_width, len(chunks)) or [c.text for c in chunks]


def _styles(text: str, layout: CaptionLayout) -> Callable[[int], _Style]:
    @lru_cache(maxsize=64)
    def style_at(size: int) -> _Style:
        return _Style(TextStyle.for_text(layout.font, size, text), size, layout.boxed)

    return style_at


def _sizes(layout: CaptionLayout) -> list[int]:
    return list(range(layout.size_px, MIN_SIZE_PX - 1, -SIZE_STEP_PX)) or [layout.size_px]


def lines_at_min_size(text: str, layout: CaptionLayout) -> int:
    """How many lines the caption needs at MIN_SIZE_PX (a request is refused above MAX_CAPTION_LINES)."""
    text = unicodedata.normalize("NFC", text)
    measure, width = _styles(text, layout)(MIN_SIZE_PX).width, safe_area(layout).width
    pieces = break_pieces(text)
    lines = greedy_lines(pieces, measure, width)
    if lines is None:  # a piece wider than a line is broken between clusters, as when drawn
        lines = greedy_lines([c for p in pieces for c in split_long_piece(p, measure, width)], measure, width)
    return len(lines or [])


def caption_lines(text: str, layout: CaptionLayout) -> tuple[int, list[str]]:
    """The font size and lines a caption is drawn with: two lines at the largest size that allows it,
    else as many lines as it takes at MIN_SIZE_PX."""
    if not text.strip():
        raise ValueError("A caption needs text")
    style_at = _styles(text, layout)
    return fit_text(text, _sizes(layout), lambda px: style_at(px).width, safe_area(layout).width, MAX_LINES)


def render_caption_image(text: str, layout: CaptionLayout) -> tuple[Image.Image, tuple[int, int]]:
    """The caption as an RGBA image and the top-left position where it goes in the frame."""
    area = safe_area(layout)
    text = unicodedata.normalize("NFC", text)
    size, lines = caption_lines(text, layout)
    style = _styles(text, layout)(size)
    ascent, descent = style.text.metrics(lines)
    line_height = round((ascent + descent) * LINE_SPACING)
    width = math.ceil(max(style.width(line) for line in lines))
    height = len(lines) * line_height + 2 * style.pad_y
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if layout.boxed:
        draw.rounded_rectangle((0, 0, width - 1, height - 1), radius=round(style.size * 0.35), fill=BOX_FILL)
    for i, line in enumerate(lines):
        baseline = style.pad_y + i * line_height + (line_height - ascent - descent) / 2 + ascent
        x = (width - style.text.measure(line)) / 2
        style.text.draw_line(draw, x, baseline, line, fill=TEXT_FILL, stroke=style.stroke, stroke_fill=STROKE_FILL)
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
