from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytoon.fonts import font_path
from pytoon.models import CaptionCue, CaptionLayout, CaptionStyle
from pytoon.presets import all_presets
from pytoon.render.captions import (
    MIN_SIZE_PX,
    caption_layout,
    cues_to_srt,
    fit_text,
    render_caption_image,
    safe_area,
    srt_timestamp,
)
from pytoon.render.segment import render_segment
from pytoon.render.text import load_font
from tests.media import decode_frames, flat_image, motion, segment, visual

LONG = (
    "An extremely long caption that keeps going well past what anyone would put on screen in a short "
    "vertical video, because a planner let it through, and it must still be shown in full"
)


def layout(size: str = "auto", position: str = "lower_third", margin: int = 120, **over: object) -> CaptionLayout:
    style = CaptionStyle(font="Inter", size_rules=size, position=position, safe_margin_px=margin)  # type: ignore[arg-type]
    return caption_layout(style).model_copy(update=over)


def test_layout_from_style() -> None:
    assert [layout(rule).size_px for rule in ("small", "auto", "large")] == [40, 56, 72]
    clean = layout("auto")
    assert clean.font == "Inter" and clean.boxed
    assert not layout("large").boxed
    assert caption_layout(CaptionStyle(font="Inter", size_rules="large", position="center", safe_margin_px=0),
                          boxed=True).boxed  # fmt: skip


def test_safe_area_is_the_larger_of_margin_and_platform_ui() -> None:
    assert safe_area(layout(margin=120)) == safe_area(layout(margin=120))
    area = safe_area(layout(margin=120))
    assert (area.left, area.top, area.right, area.bottom) == (120, 120, 960, 1770)
    area = safe_area(layout(margin=0))
    assert (area.left, area.top, area.right, area.bottom) == (54, 100, 1026, 1770)


@pytest.mark.parametrize("preset", all_presets(), ids=lambda p: p.id)
@pytest.mark.parametrize("text", ["Buy it now", "Cold for 24 hours, hot for 12, and it fits every cup holder", LONG])
def test_captions_stay_inside_the_safe_area(preset: object, text: str) -> None:
    lay = caption_layout(preset.caption_style)  # type: ignore[attr-defined]
    image, (x, y) = render_caption_image(text, lay)
    area = safe_area(lay)
    assert image.mode == "RGBA"
    assert area.left <= x and x + image.width <= area.right
    assert area.top <= y and y + image.height <= area.bottom


def test_position_orders_the_caption_vertically() -> None:
    ys = {
        pos: render_caption_image("Hello there", layout(position=pos))[1][1]
        for pos in ("upper_third", "center", "lower_third")
    }
    assert ys["upper_third"] < 1920 * 0.33 < ys["center"] < 1920 * 0.6 < ys["lower_third"]


def test_text_is_wrapped_balanced_then_shrunk_never_cut() -> None:
    lay = layout("auto")
    measure = lambda size: lambda line: load_font(str(font_path(lay.font)), size).getlength(line)  # noqa: E731
    size, lines = fit_text("Cold for 24 hours, hot for 12, fits every cup", range(56, 27, -2), measure, 840, 2)
    assert size == 56 and len(lines) == 2
    widths = [measure(56)(line) for line in lines]
    assert abs(widths[0] - widths[1]) < 0.35 * max(widths)  # balanced, not one long line and an orphan

    size, lines = fit_text(LONG, range(56, MIN_SIZE_PX - 1, -2), measure, 840, 2)
    assert size == MIN_SIZE_PX and len(lines) == 3
    assert " ".join(lines).split() == LONG.split()

    size, lines = fit_text("https://example.com/" + "x" * 120, [40, 28], measure, 840, 2)
    assert "".join(lines) == "https://example.com/" + "x" * 120
    assert all(measure(size)(line) <= 840 for line in lines)


def test_boxed_caption_has_a_translucent_box_and_outlined_has_dark_edges() -> None:
    boxed, _ = render_caption_image("Readable anywhere", layout("auto"))
    alpha = np.asarray(boxed)[..., 3]
    assert alpha[boxed.height // 2, 5] == 150  # the box, semi-transparent
    assert alpha[0, 0] == 0  # rounded corner

    outlined, _ = render_caption_image("Readable anywhere", layout("large"))
    pixels = np.asarray(outlined)
    opaque = pixels[..., 3] > 200
    dark = opaque & (pixels[..., :3].max(axis=-1) < 60)
    light = opaque & (pixels[..., :3].min(axis=-1) > 200)
    assert dark.sum() > 0.3 * light.sum() > 0  # white text with a black stroke


def test_empty_caption_is_refused() -> None:
    with pytest.raises(ValueError):
        render_caption_image("   ", layout())


@pytest.mark.parametrize(
    ("frame", "stamp"),
    [(0, "00:00:00,000"), (1, "00:00:00,033"), (2, "00:00:00,067"), (45, "00:00:01,500"),
     (1799, "00:00:59,967"), (1800, "00:01:00,000"), (108_001, "01:00:00,033")],
)  # fmt: skip
def test_srt_timestamps_are_frame_exact(frame: int, stamp: str) -> None:
    assert srt_timestamp(frame) == stamp


def test_cues_to_srt() -> None:
    cues = [
        CaptionCue(index=2, start_frame=45, end_frame=91, text="Second\n\nline two"),
        CaptionCue(index=1, start_frame=0, end_frame=45, text="First"),
    ]
    assert cues_to_srt(cues) == (
        "1\n00:00:00,000 --> 00:00:01,500\nFirst\n\n2\n00:00:01,500 --> 00:00:03,033\nSecond\nline two\n"
    )


def test_mixed_script_captions_render_through_the_segment_renderer(tmp_path: Path) -> None:
    images = {"grey": flat_image(tmp_path / "g.jpg", (128, 128, 128))}
    cues = [
        CaptionCue(index=1, start_frame=0, end_frame=4, text="مرحبا 👋 Hello 你好 Привет"),
        CaptionCue(index=2, start_frame=4, end_frame=8, text="नमस्ते こんにちは 안녕 שלום 🇫🇷"),
    ]
    plan = segment(visual(image_key="grey", start=0, count=8, motion=motion(zoom=(1.0, 1.0))), captions=cues)
    frames = decode_frames(render_segment(plan, layout(), images, tmp_path / "seg.mp4").path, {1, 6})
    for number, cue in ((1, cues[0]), (6, cues[1])):
        caption, (x, y) = render_caption_image(cue.text, layout())
        expected = Image.new("RGBA", caption.size, (128, 128, 128, 255))
        expected.alpha_composite(caption)
        shown = frames[number][y : y + caption.height, x : x + caption.width].astype(int)
        # What the frame shows is the shaped caption (x264 and 4:2:0 chroma blur edges a little).
        assert np.abs(shown - np.asarray(expected.convert("RGB")).astype(int)).mean() < 6
        colourful = (shown.max(axis=-1) - shown.min(axis=-1)) > 60
        assert colourful.sum() > 300, f"no colour emoji on frame {number}"
        if os.environ.get("PYTOON_KEEP_FRAMES"):  # for looking at it: PYTOON_KEEP_FRAMES=dir
            Image.fromarray(frames[number]).save(Path(os.environ["PYTOON_KEEP_FRAMES"]) / f"frame{number}.png")
