"""Bundled open-licence fonts, so captions look the same on every machine and in Lambda.

Presets name font families; proprietary families map to open look-alikes (licences beside the files):
Impact → Anton, Arial Black → Archivo Black. An unknown family is an error, never a silent fallback.

Text the preset's font cannot draw falls back, character cluster by cluster, along one chain: the preset's
font, Noto Sans (Latin, Greek, Cyrillic), Noto Sans Arabic, Hebrew, Devanagari and Thai, a CJK subset
(Simplified Chinese, Japanese and Korean forms), Twemoji colour emoji, then the other preset fonts.
What each file covers is documented in FONTS.md beside them; tools/build_fonts.py builds the fallbacks.

Which characters can be drawn at all is read from the fonts' own cmap tables (parsed here, lazily, once
per font), so request validation can refuse undrawable text without loading a renderer.
"""

from __future__ import annotations

import bisect
import ctypes
import struct
import sys
import unicodedata
from functools import cache
from importlib import resources
from pathlib import Path

FONT_FILES: dict[str, str] = {
    "Inter": "Inter-SemiBold.ttf",
    "Bebas Neue": "BebasNeue-Regular.ttf",
    "Montserrat": "Montserrat-ExtraBold.ttf",
    "Impact": "Anton-Regular.ttf",
    "Anton": "Anton-Regular.ttf",
    "Arial Black": "ArchivoBlack-Regular.ttf",
    "Archivo Black": "ArchivoBlack-Regular.ttf",
}
# After the preset's own font, in this order.
FALLBACK_FILES: tuple[str, ...] = (
    "NotoSans-Bold.ttf",
    "NotoSansArabic-Bold.ttf",
    "NotoSansHebrew-Bold.ttf",
    "NotoSansDevanagari-Bold.ttf",
    "NotoSansThai-Bold.ttf",
    "NotoSansCJKsc-Bold-subset.otf",
)
EMOJI_FILE = "Twemoji-COLRv0.ttf"

# Invisible format characters that the bidi layout here does not implement (embeddings, overrides,
# isolates): accepting them would silently show the text in another order than its author meant.
BIDI_CONTROLS = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A))
# Whitespace control characters a prompt may carry; they only separate words.
ALLOWED_CONTROLS = frozenset("\t\n\r")


class UnknownFontError(LookupError):
    pass


def _load_fribidi() -> None:
    """Pillow's bundled libraqm (shaping and bidi) needs libfribidi, which it loads by name when PIL's
    FreeType module is imported. The Lambda runtime has none, so the copy shipped here is loaded first,
    globally, under the same soname; a system copy wins when there is one."""
    if not sys.platform.startswith("linux") or "PIL._imagingft" in sys.modules:
        return
    try:
        ctypes.CDLL("libfribidi.so.0", mode=ctypes.RTLD_GLOBAL)
    except OSError:
        bundled = Path(str(resources.files(__package__).joinpath("native", "libfribidi.so.0")))
        try:
            ctypes.CDLL(str(bundled), mode=ctypes.RTLD_GLOBAL)
        except OSError:
            pass  # another architecture: the renderer reports missing shaping when it first draws


_load_fribidi()


@cache
def bundled_path(filename: str) -> Path:
    return Path(str(resources.files(__package__).joinpath(filename)))


def font_path(family: str) -> Path:
    try:
        filename = FONT_FILES[family]
    except KeyError:
        raise UnknownFontError(f"No bundled font for family {family!r}; known: {sorted(FONT_FILES)}") from None
    return bundled_path(filename)


@cache
def fallback_chain(family: str) -> tuple[str, ...]:
    """Font files to try, in order, for text set in `family`."""
    primary = font_path(family).name
    others = [f for f in dict.fromkeys(FONT_FILES.values()) if f != primary]
    return (primary, *FALLBACK_FILES, EMOJI_FILE, *others)


def _cmap_ranges(data: bytes) -> list[tuple[int, int]]:
    """Code point ranges a font maps to a real glyph, from its best Unicode cmap subtable (format 12, else 4)."""
    (num_tables,) = struct.unpack_from(">H", data, 4)
    tables = {}
    for i in range(num_tables):
        tag, _, offset, _ = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        tables[tag] = offset
    cmap = tables[b"cmap"]
    (_, count) = struct.unpack_from(">HH", data, cmap)
    subtables: dict[int, int] = {}
    for i in range(count):
        platform, encoding, offset = struct.unpack_from(">HHI", data, cmap + 4 + 8 * i)
        (fmt,) = struct.unpack_from(">H", data, cmap + offset)
        if (platform, encoding) in ((3, 10), (0, 4), (0, 6), (3, 1), (0, 3)) and fmt in (4, 12):
            subtables.setdefault(fmt, cmap + offset)
    if 12 in subtables:
        start = subtables[12]
        (groups,) = struct.unpack_from(">I", data, start + 12)
        return [struct.unpack_from(">II", data, start + 16 + 12 * i) for i in range(groups)]
    start = subtables[4]
    (seg_x2,) = struct.unpack_from(">H", data, start + 6)
    segs = seg_x2 // 2
    ends = struct.unpack_from(f">{segs}H", data, start + 14)
    starts = struct.unpack_from(f">{segs}H", data, start + 16 + seg_x2)
    deltas = struct.unpack_from(f">{segs}h", data, start + 16 + 2 * seg_x2)
    range_offsets_at = start + 16 + 3 * seg_x2
    range_offsets = struct.unpack_from(f">{segs}H", data, range_offsets_at)
    ranges = []
    for i in range(segs):
        if starts[i] == 0xFFFF:
            continue
        for code in range(starts[i], ends[i] + 1):
            if range_offsets[i] == 0:
                glyph = (code + deltas[i]) & 0xFFFF
            else:
                at = range_offsets_at + 2 * i + range_offsets[i] + 2 * (code - starts[i])
                (glyph,) = struct.unpack_from(">H", data, at)
                glyph = (glyph + deltas[i]) & 0xFFFF if glyph else 0
            if glyph:
                if ranges and ranges[-1][1] == code - 1:
                    ranges[-1] = (ranges[-1][0], code)
                else:
                    ranges.append((code, code))
    return ranges


class Coverage:
    """A set of code points as sorted, disjoint ranges."""

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        merged: list[tuple[int, int]] = []
        for first, last in sorted(ranges):
            if merged and first <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
            else:
                merged.append((first, last))
        self.starts = [first for first, _ in merged]
        self.ends = [last for _, last in merged]

    def __contains__(self, code: int) -> bool:
        i = bisect.bisect_right(self.starts, code) - 1
        return i >= 0 and code <= self.ends[i]

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self.starts, self.ends, strict=True))

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last in self.ranges())


@cache
def coverage(filename: str) -> Coverage:
    """What one bundled font file can draw (read from its cmap on first use)."""
    return Coverage(_cmap_ranges(bundled_path(filename).read_bytes()))


def is_invisible(char: str) -> bool:
    """Characters drawn as nothing by the shaper (joiners, variation selectors, tags, soft hyphen...):
    they need no glyph of their own. Approximates Unicode's Default_Ignorable_Code_Point."""
    code = ord(char)
    return (
        unicodedata.category(char) == "Cf"
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or code in (0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0)
        or 0x180B <= code <= 0x180F
    )


def undrawable_characters(text: str) -> list[str]:
    """Distinct characters of `text` (in order of appearance) that no bundled font can draw: they would
    show as empty boxes. Whitespace and invisible format characters need no glyph."""
    missing = dict.fromkeys(c for c in text if not c.isspace() and not is_invisible(c))
    # Font by font until every character is found: Latin text is settled by the first font read, where
    # reading every font's cmap would take 25 ms.
    for filename in dict.fromkeys([*FONT_FILES.values(), *FALLBACK_FILES, EMOJI_FILE]):
        if not missing:
            break
        table = coverage(filename)
        missing = {c: None for c in missing if ord(c) not in table}
    return list(missing)


def forbidden_characters(text: str) -> list[str]:
    """Distinct characters that are never accepted in displayed text: control characters (other than
    tab and line breaks), bidi embedding/override/isolate controls, lone surrogates, private-use and
    non-characters."""

    def forbidden(c: str) -> bool:
        category = unicodedata.category(c)
        return (
            (category == "Cc" and c not in ALLOWED_CONTROLS)
            or ord(c) in BIDI_CONTROLS
            or category in ("Cs", "Co")
            or (ord(c) & 0xFFFE) == 0xFFFE
            or 0xFDD0 <= ord(c) <= 0xFDEF
        )

    return list(dict.fromkeys(c for c in text if forbidden(c)))


def describe_characters(chars: list[str], limit: int = 10) -> str:
    """`'☃' (U+2603), ...` for an error message; at most `limit` named."""

    def one(c: str) -> str:
        shown = repr(c) if c.isprintable() else "a control character"
        return f"{shown} (U+{ord(c):04X})"

    named = ", ".join(one(c) for c in chars[:limit])
    return named + (f" and {len(chars) - limit} more" if len(chars) > limit else "")
