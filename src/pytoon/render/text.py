"""Multi-script text: font fallback per character cluster, bidi ordering, shaping, line breaking.

A line of text is cut into clusters (a base character with its combining marks, an emoji sequence, a flag),
each cluster gets the first font in the family's fallback chain that covers all of it, and consecutive
clusters with the same font and bidi level form a run. Runs are shaped by libraqm/HarfBuzz through Pillow
(Arabic joins, Devanagari conjuncts, marks, emoji sequences), ordered for display by the Unicode bidi rules
(implicit levels: enough for plain text, which is all captions carry) and drawn left to right on one
baseline. Line breaks fall at spaces, between CJK characters (with the usual kinsoku exceptions) and at
zero-width spaces.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pytoon.fonts import (
    EMOJI_FILE,
    FALLBACK_FILES,
    bundled_path,
    coverage,
    fallback_chain,
    is_invisible,
    undrawable_characters,
)

from PIL import ImageDraw, ImageFont, features  # isort: skip  (after pytoon.fonts, which loads libfribidi)

# Emoji presentation is forced by these; a cluster holding one goes to the emoji font first.
_EMOJI_SIGNS = frozenset([0xFE0F, 0x20E3, 0x200D, *range(0x1F3FB, 0x1F400), *range(0x1F1E6, 0x1F200)])
_STRONG_RTL = {"R", "AL"}
_NEUTRAL = {"B", "S", "WS", "ON", "BN", "LRI", "RLI", "FSI", "PDI"}
# Kinsoku: no line may start with these, or end with the openers.
_NO_LINE_START = frozenset(
    "、。，．・：；？！ー〜～）」』】〕〉》〙〗｝］ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ々ゝゞヽヾ…‥,.!?)]}:;%"
)
_NO_LINE_END = frozenset("（「『【〔〈《〘〖｛［([{")
ZERO_WIDTH_SPACE = "\u200b"


class UndrawableTextError(ValueError):
    pass


def _extends_cluster(char: str, cluster: str) -> bool:
    code = ord(char)
    if unicodedata.category(char) in ("Mn", "Mc", "Me") or cluster.endswith("\u200d") or code == 0x200D:
        return True
    if 0xFE00 <= code <= 0xFE0F or 0xE0020 <= code <= 0xE007F or 0x1F3FB <= code <= 0x1F3FF:
        return True
    if 0x1160 <= code <= 0x11FF:  # conjoining Hangul vowels and finals
        return True
    regional = 0x1F1E6 <= code <= 0x1F1FF
    return regional and len(cluster) == 1 and 0x1F1E6 <= ord(cluster) <= 0x1F1FF


def clusters(text: str) -> list[str]:
    """Grapheme-like clusters: what must stay together in one font and on one line."""
    out: list[str] = []
    for char in text:
        if out and _extends_cluster(char, out[-1]):
            out[-1] += char
        else:
            out.append(char)
    return out


def _visible(cluster: str) -> list[int]:
    return [ord(c) for c in cluster if not is_invisible(c)]


@lru_cache(maxsize=16384)
def _font_for(cluster: str, chain: tuple[str, ...], previous: str | None) -> str | None:
    codes = _visible(cluster)
    if not codes:
        return previous or chain[0]
    is_neutral = all(unicodedata.bidirectional(chr(c)) in _NEUTRAL | {"CS", "ES", "ET", "EN"} for c in codes)
    if is_neutral and previous and all(c in coverage(previous) for c in codes):
        return previous  # spaces, punctuation and digits stay in the run they sit in
    if any(ord(c) in _EMOJI_SIGNS for c in cluster) or 0x1F000 <= codes[0] <= 0x1FAFF:
        chain = (EMOJI_FILE, *chain)
    return next((f for f in chain if all(c in coverage(f) for c in codes)), None)


def base_is_rtl(text: str) -> bool:
    """The paragraph direction: that of the first strong character."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return False
        if kind in _STRONG_RTL:
            return True
    return False


def bidi_levels(text: str, rtl: bool) -> list[int]:
    """Embedding level of each character (Unicode bidi rules W1-W7, N1-N2, I1-I2, L1 for one line)."""
    base = 1 if rtl else 0
    sor = "R" if rtl else "L"
    types = [unicodedata.bidirectional(c) or "L" for c in text]
    for i, kind in enumerate(types):  # W1: marks take the type of what they follow
        if kind == "NSM":
            types[i] = types[i - 1] if i and types[i - 1] not in _NEUTRAL else ("ON" if i else sor)
    strong = sor
    for i, kind in enumerate(types):  # W2, W3
        if kind in ("L", "R", "AL"):
            strong = kind
        if kind == "EN" and strong == "AL":
            types[i] = "AN"
        if kind == "AL":
            types[i] = "R"
    for i in range(1, len(types) - 1):  # W4
        left, mid, right = types[i - 1], types[i], types[i + 1]
        if mid == "ES" and left == right == "EN" or mid == "CS" and left == right and left in ("EN", "AN"):
            types[i] = left
    for i, kind in enumerate(types):  # W5: currency and percent signs next to European numbers
        if kind == "ET":
            j = i
            while j < len(types) and types[j] == "ET":
                j += 1
            if (i and types[i - 1] == "EN") or (j < len(types) and types[j] == "EN"):
                types[i:j] = ["EN"] * (j - i)
    types = ["ON" if t in ("ES", "ET", "CS") else t for t in types]  # W6
    strong = sor
    for i, kind in enumerate(types):  # W7
        if kind in ("L", "R"):
            strong = kind
        if kind == "EN" and strong == "L":
            types[i] = "L"
    direction = ["R" if t in ("R", "AN", "EN") else t for t in types]
    i = 0
    while i < len(direction):  # N1, N2: neutral runs between equal directions take it, else the base
        if direction[i] in _NEUTRAL or direction[i] == "ON":
            j = i
            while j < len(direction) and (direction[j] in _NEUTRAL or direction[j] == "ON"):
                j += 1
            before = direction[i - 1] if i else sor
            after = direction[j] if j < len(direction) else sor
            direction[i:j] = [before if before == after else sor] * (j - i)
            i = j
        else:
            i += 1
    levels = []
    for kind, resolved in zip(types, direction, strict=True):  # I1, I2
        if base == 0:
            levels.append(1 if resolved == "R" and kind not in ("AN", "EN") else 2 if kind in ("AN", "EN") else 0)
        else:
            levels.append(2 if resolved == "L" or kind in ("AN", "EN") else 1)
    end = len(text)
    while end and text[end - 1].isspace():  # L1: trailing whitespace at the paragraph level
        end -= 1
        levels[end] = base
    return levels


@dataclass(frozen=True)
class Run:
    font_file: str
    text: str
    rtl: bool


def _reorder(runs: list[tuple[Run, int]]) -> list[Run]:
    """Rule L2: reverse every maximal sequence at level >= k, from the highest level down to 1."""
    if not runs:
        return []
    top = max(level for _, level in runs)
    lowest_odd = min((level for _, level in runs if level % 2), default=top + 1)
    order = list(runs)
    for k in range(top, lowest_odd - 1, -1):
        i = 0
        while i < len(order):
            if order[i][1] >= k:
                j = i
                while j < len(order) and order[j][1] >= k:
                    j += 1
                order[i:j] = reversed(order[i:j])
                i = j
            else:
                i += 1
    return [run for run, _ in order]


@lru_cache(maxsize=4096)
def line_runs(family: str, text: str, rtl: bool) -> tuple[Run, ...]:
    """The runs of one line, in display order (left to right)."""
    chain = fallback_chain(family)
    levels = bidi_levels(text, rtl)
    pieces: list[tuple[Run, int]] = []
    offset, previous = 0, None
    for cluster in clusters(text):
        font = _font_for(cluster, chain, previous)
        if font is None:
            raise UndrawableTextError(f"No bundled font can draw {cluster!r}")
        level = levels[offset]
        if pieces and pieces[-1][0].font_file == font and pieces[-1][1] == level:
            run = pieces[-1][0]
            pieces[-1] = (Run(font, run.text + cluster, level % 2 == 1), level)
        else:
            pieces.append((Run(font, cluster, level % 2 == 1), level))
        offset += len(cluster)
        previous = font
    return tuple(_reorder(pieces))


def cjk_language(text: str) -> str | None:
    """The language whose CJK glyph forms to use: Japanese with kana, Korean with Hangul, else Chinese."""
    if any(0x3040 <= ord(c) <= 0x30FF or 0x31F0 <= ord(c) <= 0x31FF for c in text):
        return "ja"
    if any(0xAC00 <= ord(c) <= 0xD7AF or 0x1100 <= ord(c) <= 0x11FF or 0x3130 <= ord(c) <= 0x318F for c in text):
        return "ko"
    return None


@lru_cache(maxsize=256)
def load_font(font_file: str, size_px: int) -> ImageFont.FreeTypeFont:
    if not features.check_feature("raqm"):
        raise RuntimeError("Text shaping is unavailable: Pillow could not load libraqm (libfribidi missing)")
    return ImageFont.truetype(font_file, size_px, layout_engine=ImageFont.Layout.RAQM)


# Fallback fonts are scaled so their capitals stand as tall as the preset font's (Anton's are far taller
# than Noto Sans's at the same pixel size), within these bounds.
FALLBACK_SCALE_RANGE = (0.9, 1.3)


@lru_cache(maxsize=16)
def fallback_scale(family: str) -> float:
    def cap_height(font_file: str) -> int:
        _, top, _, bottom = load_font(str(bundled_path(font_file)), 100).getbbox("H", anchor="ls")
        return bottom - top

    low, high = FALLBACK_SCALE_RANGE
    return min(high, max(low, cap_height(fallback_chain(family)[0]) / cap_height(FALLBACK_FILES[0])))


@dataclass(frozen=True)
class TextStyle:
    """A font family at one size, with its fallbacks, for one text (whose language and direction it fixes)."""

    family: str
    size: int
    rtl: bool = False
    language: str | None = None

    @classmethod
    def for_text(cls, family: str, size: int, text: str) -> TextStyle:
        missing = undrawable_characters(text)
        if missing:
            raise UndrawableTextError(f"No bundled font can draw {''.join(missing)!r}")
        return cls(family, size, base_is_rtl(text), cjk_language(text))

    def font(self, font_file: str) -> ImageFont.FreeTypeFont:
        primary = fallback_chain(self.family)[0]
        scale = 1.0 if font_file in (primary, EMOJI_FILE) else fallback_scale(self.family)
        return load_font(str(bundled_path(font_file)), round(self.size * scale))

    def _language(self, run: Run) -> str | None:
        return self.language if run.font_file.startswith("NotoSansCJK") else None

    def runs(self, line: str) -> tuple[Run, ...]:
        return line_runs(self.family, line, self.rtl)

    def measure(self, line: str) -> float:
        return _measure(self, line)

    def metrics(self, lines: Sequence[str]) -> tuple[int, int]:
        """Largest ascent and descent of the fonts these lines use (the primary font's at least)."""
        files = {fallback_chain(self.family)[0]} | {run.font_file for line in lines for run in self.runs(line)}
        metrics = [self.font(f).getmetrics() for f in files]
        return max(a for a, _ in metrics), max(d for _, d in metrics)

    def draw_line(
        self, draw: ImageDraw.ImageDraw, x: float, baseline: float, line: str, *, fill, stroke: int, stroke_fill
    ) -> None:
        """Draw one line starting at x on the baseline; emoji in their own colours, without an outline."""
        for run in self.runs(line):
            font = self.font(run.font_file)
            colour = run.font_file == EMOJI_FILE
            direction = "rtl" if run.rtl else "ltr"
            draw.text(
                (x, baseline),
                run.text,
                font=font,
                fill=fill,
                anchor="ls",
                direction=direction,
                language=self._language(run),
                embedded_color=colour,
                stroke_width=0 if colour else stroke,
                stroke_fill=stroke_fill,
            )
            x += font.getlength(run.text, direction=direction, language=self._language(run))


@lru_cache(maxsize=8192)
def _measure(style: TextStyle, line: str) -> float:
    total = 0.0
    for run in style.runs(line):
        direction = "rtl" if run.rtl else "ltr"
        total += style.font(run.font_file).getlength(run.text, direction=direction, language=style._language(run))
    return total


# Line breaking -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """An unbreakable stretch of text; `glued` ones join the previous piece without a space."""

    text: str
    glued: bool = False


def _is_cjk(cluster: str) -> bool:
    code = ord(cluster[0])
    return (
        (0x2E80 <= code <= 0x9FFF and not 0x3130 <= code <= 0x318F)
        or 0xF900 <= code <= 0xFAFF
        or (0xFF00 <= code <= 0xFFEF or 0x20000 <= code <= 0x3FFFF)
    )


def break_pieces(text: str) -> list[Piece]:
    """Pieces between break opportunities: spaces, zero-width spaces, and between CJK characters except
    before closing punctuation and small kana or after an opening bracket."""
    pieces: list[Piece] = []
    for word in text.split():
        first_in_word = True
        for part in (p for p in word.split(ZERO_WIDTH_SPACE) if p):
            current = ""
            for cluster in clusters(part):
                breakable = current and (_is_cjk(cluster) or _is_cjk(current[-1]))
                if breakable and cluster[0] not in _NO_LINE_START and current[-1] not in _NO_LINE_END:
                    pieces.append(Piece(current, glued=not first_in_word))
                    first_in_word, current = False, ""
                current += cluster
            pieces.append(Piece(current, glued=not first_in_word))
            first_in_word = False
    return pieces


def join_pieces(pieces: Sequence[Piece]) -> str:
    line = ""
    for piece in pieces:
        line = piece.text if not line else line + piece.text if piece.glued else f"{line} {piece.text}"
    return line


Measure = Callable[[str], float]


# Pieces are measured once each and lines estimated by adding them up (shaping does not cross a space, and
# CJK characters do not interact); only a line whose estimate is this close to the limit is shaped whole.
_EXACT_NEAR = 0.03


def greedy_lines(pieces: Sequence[Piece], measure: Measure, max_width: float) -> list[list[Piece]] | None:
    """Fill lines piece by piece; None if a single piece is wider than max_width. `measure` may include a
    constant per-line overhead (outline, box padding): it is what measure("") returns."""
    overhead = measure("")
    space = measure(" ") - overhead
    lines: list[list[Piece]] = []
    line_width = 0.0
    for piece in pieces:
        width = measure(piece.text) - overhead
        if width + overhead > max_width:
            return None
        if lines:
            estimate = line_width + (0 if piece.glued else space) + width + overhead
            fits = estimate <= max_width * (1 - _EXACT_NEAR) or (
                estimate <= max_width * (1 + _EXACT_NEAR) and measure(join_pieces([*lines[-1], piece])) <= max_width
            )
            if fits:
                lines[-1].append(piece)
                line_width = estimate - overhead
                continue
        lines.append([piece])
        line_width = width
    return lines


def split_long_piece(piece: Piece, measure: Measure, max_width: float) -> list[Piece]:
    """Cluster-boundary chunks of a piece (a URL, a hashtag run, unspaced Thai) wider than a whole line."""
    chunks = [""]
    for cluster in clusters(piece.text):
        if chunks[-1] and measure(chunks[-1] + cluster) > max_width:
            chunks.append("")
        chunks[-1] += cluster
    return [Piece(chunk, glued=piece.glued or i > 0) for i, chunk in enumerate(chunks)]
