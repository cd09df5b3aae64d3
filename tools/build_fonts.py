"""Build the caption fallback fonts shipped in src/pytoon/fonts from pinned upstream packages.

    .venv/bin/python tools/build_fonts.py [--cache DIR]

Sources are Debian and npm packages, pinned by version and sha256 (downloaded once into the cache).
Every output is an open-licence font (OFL 1.1; Twemoji art CC-BY 4.0) written with its licence beside it,
plus libfribidi (LGPL-2.1+), which Pillow's bundled libraqm loads at run time for bidi and which the
Lambda runtime does not have. What ships is the output of this script; it is re-run only to change a
font. It needs fontTools (a dev dependency), never the network at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import tarfile
import urllib.request
from pathlib import Path

from fontTools import subset
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, TTFont

DEBIAN = "https://deb.debian.org/debian/pool/main"
SOURCES = {
    "fonts-noto-core": (
        f"{DEBIAN}/f/fonts-noto/fonts-noto-core_20201225-1_all.deb",
        "58f4f0bb6720f919f92096b3508e1412a0f1544424ade6c5b5bf1eb694dd64ba",
    ),
    "fonts-noto-cjk": (
        f"{DEBIAN}/f/fonts-noto-cjk/fonts-noto-cjk_20220127%2brepack1-1_all.deb",
        "4a2515eb6db3978b897fef9709ed0d2b1f4c6c4df4d83d6c4ef65f71f1b1f502",
    ),
    "libfribidi0": (
        f"{DEBIAN}/f/fribidi/libfribidi0_1.0.8-2.1_amd64.deb",
        "87fce56627aab7b2968501d370aa3ed6d1c792119efa765e71a690bdfe570e62",
    ),
    "twemoji-colr-font": (
        "https://registry.npmjs.org/twemoji-colr-font/-/twemoji-colr-font-15.0.3.tgz",
        "10cb935907d7dc3d46e254d6ff54b3e042652eb08f6973c81cd2c4225e6ebac5",
    ),
}
NOTO_DIR = "usr/share/fonts/truetype/noto"
# Noto script fonts kept whole (every code point, every layout feature), hinting dropped: captions are
# drawn large, where hinting changes nothing visible.
NOTO_FONTS = [
    "NotoSans-Bold.ttf",
    "NotoSansArabic-Bold.ttf",
    "NotoSansHebrew-Bold.ttf",
    "NotoSansDevanagari-Bold.ttf",
    "NotoSansThai-Bold.ttf",
]
CJK_OUT = "NotoSansCJKsc-Bold-subset.otf"
EMOJI_OUT = "Twemoji-COLRv0.ttf"
# Blocks kept whole in the CJK subset: CJK symbols and punctuation, hiragana, katakana (+ phonetic
# extensions), Hangul compatibility jamo, half- and full-width forms.
CJK_BLOCKS = [
    (0x3000, 0x303F),
    (0x3040, 0x309F),
    (0x30A0, 0x30FF),
    (0x31F0, 0x31FF),
    (0x3130, 0x318F),
    (0xFF00, 0xFFEF),
]
# An OFL 1.1 text already in the package: its body is reused under each font's own copyright line.
OFL_BODY_FROM = "OFL-Anton.txt"


def fetch(name: str, cache: Path) -> bytes:
    url, sha256 = SOURCES[name]
    path = cache / url.rsplit("/", 1)[1]
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (pinned https URL)
            path.write_bytes(response.read())
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise SystemExit(f"{path}: sha256 mismatch (expected {sha256})")
    return data


def deb_members(deb: bytes, wanted: set[str]) -> dict[str, bytes]:
    """Files from a .deb's data archive (an `ar` archive holding data.tar.*), by path without the leading ./"""
    offset, found = 8, {}
    while offset < len(deb):
        header = deb[offset : offset + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58].decode())
        body = deb[offset + 60 : offset + 60 + size]
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as archive:
                for member in archive.getmembers():
                    path = member.name.removeprefix("./")
                    if path in wanted and member.isfile():
                        found[path] = archive.extractfile(member).read()
        offset += 60 + size + (size % 2)
    missing = wanted - found.keys()
    if missing:
        raise SystemExit(f"not in package: {sorted(missing)}")
    return found


def subset_options(features: list[str] | None) -> subset.Options:
    options = subset.Options()
    options.layout_features = features or ["*"]
    options.hinting = False
    options.notdef_outline = True
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    options.drop_tables += ["DSIG", "vhea", "vmtx", "VORG", "BASE"]
    return options


def write_ofl(out: Path, filename: str, font: TTFont, fonts_dir: Path) -> None:
    body = (fonts_dir / OFL_BODY_FROM).read_text().split("\n", 1)[1]
    copyright_line = font["name"].getDebugName(0) or font["name"].getDebugName(1)
    out.joinpath(filename).write_text(copyright_line.strip() + "\n" + body)


def build_noto(cache: Path, out: Path) -> None:
    files = deb_members(fetch("fonts-noto-core", cache), {f"{NOTO_DIR}/{name}" for name in NOTO_FONTS})
    for name in NOTO_FONTS:
        font = TTFont(io.BytesIO(files[f"{NOTO_DIR}/{name}"]))
        subsetter = subset.Subsetter(subset_options(None))
        subsetter.populate(unicodes=font.getBestCmap().keys())
        subsetter.subset(font)
        font.save(out / name)
        write_ofl(out, f"OFL-{name.split('-')[0]}.txt", font, out)


def _decode_all(codec: str, leads: range, trails: range = range(0xA1, 0xFF)) -> set[int]:
    chars = set()
    for lead in leads:
        for trail in trails:
            try:
                chars.add(ord(bytes([lead, trail]).decode(codec)))
            except UnicodeDecodeError:
                pass
    return chars


def cjk_code_points() -> set[int]:
    """GB 2312 level 1 (3,755 common Simplified hanzi), JIS X 0208 level 1 (2,965 everyday kanji),
    KS X 1001 (2,350 Hangul syllables), plus the CJK_BLOCKS."""
    points = _decode_all("gb2312", range(0xB0, 0xD8)) | _decode_all("euc_jp", range(0xB0, 0xD0))
    points |= _decode_all("euc_kr", range(0xB0, 0xC9))
    for first, last in CJK_BLOCKS:
        points |= set(range(first, last + 1))
    return points


def build_cjk(cache: Path, out: Path) -> None:
    ttc = "usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
    collection = TTCollection(io.BytesIO(deb_members(fetch("fonts-noto-cjk", cache), {ttc})[ttc]))
    font = next(f for f in collection.fonts if f["name"].getDebugName(4) == "Noto Sans CJK SC Bold")
    # Simplified Chinese forms by default; Japanese and Korean forms through `locl` when the text is tagged
    # ja or ko. The Traditional/Hong Kong language systems are dropped so their variant glyphs are not kept.
    for record in font["GSUB"].table.ScriptList.ScriptRecord:
        script = record.Script
        script.LangSysRecord = [r for r in script.LangSysRecord if r.LangSysTag in ("JAN ", "KOR ")]
        script.LangSysCount = len(script.LangSysRecord)
    subsetter = subset.Subsetter(subset_options(["locl", "ccmp", "kern"]))
    subsetter.populate(unicodes=cjk_code_points())
    subsetter.subset(font)
    font.save(out / CJK_OUT)
    write_ofl(out, "OFL-NotoSansCJK.txt", font, out)


def build_emoji(cache: Path, out: Path) -> None:
    """Twemoji as a COLRv0 font. Its colour glyphs have empty base outlines, and FreeType (through
    Pillow) sizes a glyph's bitmap from the base outline, so each base gets a zero-area contour across
    its layers' bounds: the colour layers then draw at any size, and a monochrome draw shows nothing."""
    with tarfile.open(fileobj=io.BytesIO(fetch("twemoji-colr-font", cache))) as archive:
        woff2 = archive.extractfile("package/twemoji.woff2").read()
        licence = archive.extractfile("package/LICENSE").read()
    font = TTFont(io.BytesIO(woff2))
    font.flavor = None
    glyf = font["glyf"]
    for base, layers in font["COLR"].ColorLayers.items():
        if glyf[base].numberOfContours:
            continue
        bounds = []
        for layer in layers:
            glyph = glyf[layer.name]
            glyph.recalcBounds(glyf)
            if glyph.numberOfContours:
                bounds.append((glyph.xMin, glyph.yMin, glyph.xMax, glyph.yMax))
        if bounds:
            pen = TTGlyphPen(glyf)
            pen.moveTo((min(b[0] for b in bounds), min(b[1] for b in bounds)))
            pen.lineTo((max(b[2] for b in bounds), max(b[3] for b in bounds)))
            pen.closePath()
            glyf[base] = pen.glyph()
    font.save(out / EMOJI_OUT)
    note = "Modified for Pytoon: zero-area base outlines added so FreeType sizes colour glyphs (no visual change).\n\n"
    out.joinpath("LICENSE-Twemoji.txt").write_bytes(note.encode() + licence)


def build_fribidi(cache: Path, out: Path) -> None:
    lib, copyright_file = "usr/lib/x86_64-linux-gnu/libfribidi.so.0.4.0", "usr/share/doc/libfribidi0/copyright"
    files = deb_members(fetch("libfribidi0", cache), {lib, copyright_file})
    native = out / "native"
    native.mkdir(exist_ok=True)
    native.joinpath("libfribidi.so.0").write_bytes(files[lib])
    source = "Debian package libfribidi0 1.0.8-2.1 (source: the Debian source package fribidi 1.0.8-2.1).\n\n"
    lgpl = Path("/usr/share/common-licenses/LGPL-2.1").read_bytes()  # Debian's copy of the licence text
    native.joinpath("COPYING-fribidi.txt").write_bytes(source.encode() + files[copyright_file] + b"\n" + lgpl)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/pytoon-font-sources")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "src/pytoon/fonts")
    args = parser.parse_args()
    build_noto(args.cache, args.out)
    build_cjk(args.cache, args.out)
    build_emoji(args.cache, args.out)
    build_fribidi(args.cache, args.out)
    for path in sorted(args.out.rglob("*")):
        if path.suffix in (".ttf", ".otf") or path.name.endswith(".so.0"):
            print(f"{path.stat().st_size:>10,}  {path.relative_to(args.out)}")


if __name__ == "__main__":
    main()
