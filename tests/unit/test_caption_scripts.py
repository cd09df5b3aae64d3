"""Captions in every script a marketing team uses, checked on the rendered pixels: no empty boxes (tofu),
right-to-left scripts drawn right to left, joined and conjunct shaping, colour emoji, CJK line breaks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pytoon.fonts import EMOJI_FILE, bundled_path, fallback_chain
from pytoon.models import CaptionLayout, CaptionStyle
from pytoon.render.captions import caption_layout, caption_lines, render_caption_image, safe_area
from pytoon.render.text import TextStyle, UndrawableTextError, clusters, line_runs, load_font

SAMPLES = {
    "latin_accents": "Déjà vu: crème brûlée, Ærø, Łódź, São Paulo, İstanbul",
    "cyrillic": "Новинка! Скидка 50% только сегодня",
    "greek": "Καλοκαιρινές προσφορές τώρα",
    "arabic": "تخفيضات الصيف بدأت الآن",
    "hebrew": "מבצע קיץ מתחיל עכשיו",
    "chinese": "夏季大促销，限时优惠！",
    "japanese": "夏のセール開催中、今すぐ購入",
    "korean": "여름 세일 지금 시작합니다",
    "devanagari": "गर्मी की सेल अभी शुरू क्षत्रिय",
    "thai": "ลดราคาฤดูร้อนเริ่มแล้ววันนี้",
    "emoji": "Sale 🔥👍🏽 👨‍👩‍👧‍👦 🇯🇵 🏴󠁧󠁢󠁥󠁮󠁧󠁿 1️⃣",
    "combining": "q\u0301 x\u0323\u0302 n\u0303o Ê\u0300",
}
INTER = caption_layout(CaptionStyle(font="Inter", size_rules="auto", position="lower_third", safe_margin_px=120))
MEME = caption_layout(CaptionStyle(font="Anton", size_rules="large", position="center", safe_margin_px=60))


def ink(image: Image.Image) -> np.ndarray:
    """The glyph pixels of an image drawn white on transparent, cropped to their bounding box."""
    alpha = np.asarray(image.getchannel("A")) > 96
    if not alpha.any():
        return alpha
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    return alpha[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def draw_cluster(style: TextStyle, cluster: str) -> Image.Image:
    image = Image.new("RGBA", (style.size * 4 + 40, style.size * 3), (0, 0, 0, 0))
    style.draw_line(ImageDraw.Draw(image), 20, style.size * 2, cluster, fill="white", stroke=0, stroke_fill="black")
    return image


def notdef(font_file: str, size: int) -> np.ndarray:
    """What a font draws for a character it lacks: its .notdef glyph (a box, in these fonts)."""
    image = Image.new("RGBA", (size * 3, size * 3), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((size, size * 2), "\U000f0000", font=load_font(str(bundled_path(font_file)), size),
                               fill="white", anchor="ls")  # fmt: skip
    return ink(image)


def is_tofu(glyph: np.ndarray, boxes: list[np.ndarray]) -> bool:
    for box in boxes:
        if box.size and abs(glyph.shape[0] - box.shape[0]) <= 2 and abs(glyph.shape[1] - box.shape[1]) <= 2:
            h, w = min(glyph.shape[0], box.shape[0]), min(glyph.shape[1], box.shape[1])
            if (glyph[:h, :w] == box[:h, :w]).mean() > 0.9:
                return True
    return False


def tofu_clusters(text: str, style: TextStyle) -> list[str]:
    """Clusters of `text` that, drawn as the caption draws them, come out as a font's .notdef box or empty."""
    boxes = [notdef(f, style.size) for f in fallback_chain(style.family)]
    bad = []
    for cluster in clusters(text):
        if cluster.isspace():
            continue
        glyph = ink(draw_cluster(style, cluster))
        if not glyph.any() or is_tofu(glyph, boxes):
            bad.append(cluster)
    return bad


def test_the_tofu_detector_finds_boxes_when_a_font_lacks_the_script() -> None:
    anton = load_font(str(bundled_path("Anton-Regular.ttf")), 56)
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((20, 120), "Ж", font=anton, fill="white", anchor="ls")  # Anton has no Cyrillic
    assert is_tofu(ink(image), [notdef("Anton-Regular.ttf", 56)])
    ImageDraw.Draw(image := Image.new("RGBA", (200, 200), (0, 0, 0, 0))).text(
        (20, 120), "W", font=anton, fill="white", anchor="ls"
    )
    assert not is_tofu(ink(image), [notdef("Anton-Regular.ttf", 56)])


@pytest.mark.parametrize("name", SAMPLES)
def test_every_script_renders_without_tofu(name: str) -> None:
    text = SAMPLES[name]
    assert tofu_clusters(text, TextStyle.for_text("Inter", 56, text)) == []
    image, (x, y) = render_caption_image(text, INTER)
    area = safe_area(INTER)
    assert area.left <= x and x + image.width <= area.right and area.top <= y and y + image.height <= area.bottom
    glyphs = ink(image.crop((0, 0, image.width, image.height)).convert("RGBA"))
    assert glyphs.any()


@pytest.mark.parametrize("family", ["Anton", "Bebas Neue", "Archivo Black"])
def test_cyrillic_in_the_meme_fonts_falls_back_instead_of_boxing(family: str) -> None:
    text = "ПРИВЕТ МИР"
    style = TextStyle.for_text(family, 72, text)
    assert tofu_clusters(text, style) == []
    assert {run.font_file for run in style.runs(text)} == {"NotoSans-Bold.ttf"}
    latin = TextStyle.for_text(family, 72, "SALE")
    assert {run.font_file for run in latin.runs("SALE")} == {fallback_chain(family)[0]}  # the preset font first


def _locate(haystack: np.ndarray, needle: np.ndarray) -> int:
    """The x offset where `needle` (a glyph mask) best matches inside `haystack`."""
    scores = []
    for x in range(haystack.shape[1] - needle.shape[1] + 1):
        window = haystack[:, x : x + needle.shape[1]]
        best = max(
            (window[y : y + needle.shape[0]] == needle).mean() for y in range(haystack.shape[0] - needle.shape[0] + 1)
        )
        scores.append(best)
    return int(np.argmax(scores))


@pytest.mark.parametrize(("first", "second"), [("שלום", "עולם"), ("مرحبا", "بكم")])
def test_right_to_left_text_starts_at_the_right(first: str, second: str) -> None:
    text = f"{first} {second}"
    style = TextStyle.for_text("Inter", 56, text)
    line = ink(draw_cluster(style, text))
    x_first, x_second = _locate(line, ink(draw_cluster(style, first))), _locate(line, ink(draw_cluster(style, second)))
    assert x_first > x_second  # the first word read is the rightmost one


def test_numbers_and_latin_inside_rtl_text_keep_their_own_order() -> None:
    runs = line_runs("Inter", "מבצע 2024 SALE", True)
    shown = [(r.text.strip(), r.rtl) for r in runs if r.text.strip()]
    assert shown == [("SALE", False), ("2024", False), ("מבצע", True)]  # displayed left to right


def test_arabic_letters_join() -> None:
    word = "تخفيضات"
    style = TextStyle.for_text("Inter", 56, word)
    isolated = sum(style.measure(letter) for letter in word)
    assert style.measure(word) < 0.85 * isolated  # joined (initial/medial/final) forms are narrower
    joined = ink(draw_cluster(style, word))
    assert joined.any(axis=0).mean() > 0.9  # one connected stroke: almost no empty columns between letters


def test_devanagari_conjuncts_and_combining_marks_shape() -> None:
    style = TextStyle.for_text("Inter", 56, "क्ष")
    assert style.measure("क्ष") < style.measure("क") + style.measure("ष")  # one conjunct glyph, not three
    marks = TextStyle.for_text("Inter", 56, "q\u0301")
    assert marks.measure("q\u0301") == pytest.approx(marks.measure("q"), abs=1)  # the accent sits on the q
    accented, plain = ink(draw_cluster(marks, "q\u0301")), ink(draw_cluster(marks, "q"))
    assert accented.shape[0] > plain.shape[0] + 8 and accented.shape[1] < plain.shape[1] + 6  # above, not beside


def _colourful(image: Image.Image) -> int:
    pixels = np.asarray(image.convert("RGBA")).astype(int)
    opaque = pixels[..., 3] > 200
    return int((opaque & (pixels[..., :3].max(axis=-1) - pixels[..., :3].min(axis=-1) > 50)).sum())


def test_emoji_are_in_colour_and_sequences_are_single_glyphs() -> None:
    style = TextStyle.for_text("Inter", 56, "👍🏽👨‍👩‍👧‍👦🇯🇵")
    assert _colourful(draw_cluster(style, "👍🏽")) > 500
    assert _colourful(draw_cluster(style, "🔥")) > 500
    single = style.measure("👨")
    assert style.measure("👨‍👩‍👧‍👦") == pytest.approx(single, rel=0.1)  # the family, not four people
    assert style.measure("🇯🇵") == pytest.approx(single, rel=0.1)  # a flag, not two letters
    flag = np.asarray(draw_cluster(style, "🇯🇵").convert("RGBA")).astype(int)
    red = (flag[..., 3] > 200) & (flag[..., 0] > 150) & (flag[..., 1] < 80) & (flag[..., 2] < 100)
    assert red.sum() > 100  # the red disc of Japan's flag
    assert {run.font_file for run in style.runs("👍🏽")} == {EMOJI_FILE}
    caption, _ = render_caption_image(SAMPLES["emoji"], INTER)
    assert _colourful(caption) > 2000


def test_japanese_gets_japanese_glyph_forms_and_chinese_chinese_ones() -> None:
    japanese = TextStyle.for_text("Inter", 72, "直す")  # kana: Japanese
    chinese = TextStyle.for_text("Inter", 72, "直接")
    assert (japanese.language, chinese.language) == ("ja", None)
    assert not np.array_equal(ink(draw_cluster(japanese, "直")), ink(draw_cluster(chinese, "直")))


def test_cjk_wraps_between_characters_without_spaces_and_never_starts_a_line_with_punctuation() -> None:
    text = "夏季大促销全场商品限时优惠，买二送一，会员再享九折，数量有限先到先得，欢迎选购，抓紧时间。"
    size, lines = caption_lines(text, INTER)
    assert len(lines) >= 2 and "".join(lines) == text
    style = TextStyle.for_text("Inter", size, text)
    assert all(style.measure(line) <= safe_area(INTER).width for line in lines)
    assert not any(line[0] in "，。" for line in lines)


def test_thai_without_spaces_breaks_between_clusters_only() -> None:
    text = "ลดราคาฤดูร้อนเริ่มแล้ววันนี้" * 6
    _, lines = caption_lines(text, INTER)
    assert "".join(lines) == text
    for line in lines:
        assert line[0] not in "\u0e31\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e47\u0e48\u0e49\u0e4a\u0e4b"  # no mark


def test_mixed_scripts_in_a_meme_caption_stay_inside_the_frame() -> None:
    text = "NEW 新品 Новинка جديد 🔥"
    image, (x, y) = render_caption_image(text, MEME)
    area = safe_area(MEME)
    assert area.left <= x and x + image.width <= area.right
    assert tofu_clusters(text, TextStyle.for_text("Anton", 72, text)) == []


def test_text_no_font_covers_is_refused_not_boxed() -> None:
    with pytest.raises(UndrawableTextError, match="𓀀"):
        render_caption_image("Hieroglyph 𓀀", INTER)
    layout = CaptionLayout(font="Inter", size_px=56, position="center", safe_margin_px=0, boxed=True)
    with pytest.raises(UndrawableTextError):
        caption_lines("\U000e0100x\U0010fffd", layout)


def test_mixed_direction_text_wraps_and_each_line_reads_in_order() -> None:
    text = "SALE today only מבצע ענק היום בלבד on every bottle and cup כל הבקבוקים והכוסות"
    size, lines = caption_lines(text, INTER)
    assert len(lines) >= 2 and " ".join(lines).split() == text.split()
    style = TextStyle.for_text("Inter", size, text)
    assert all(style.measure(line) <= safe_area(INTER).width for line in lines)
    for line in lines:
        hebrew = [run for run in style.runs(line) if any("\u05d0" <= c <= "\u05ea" for c in run.text)]
        assert hebrew
        assert all(run.rtl for run in hebrew)


def test_fallback_capitals_match_the_meme_font_height() -> None:
    style = TextStyle.for_text("Anton", 72, "HН")
    latin, cyrillic = ink(draw_cluster(style, "H")), ink(draw_cluster(style, "Н"))  # Latin H, Cyrillic En
    assert cyrillic.shape[0] == pytest.approx(latin.shape[0], rel=0.08)


def test_card_text_uses_the_same_fallbacks() -> None:
    from pytoon.models import CardStyle
    from pytoon.render.frames import draw_card_text

    card = Image.new("RGB", (1080, 1920), (20, 20, 40))
    draw_card_text(card, "新品 Новинка 🔥", CardStyle())
    band = np.asarray(card)[300:700].astype(int)
    assert ((band.max(axis=-1) - band.min(axis=-1)) > 80).sum() > 1000  # the emoji, in colour
    assert (band.min(axis=-1) > 230).sum() > 5000  # white text
