"""Overlays measured on the frames the segment graph draws: where each kind lands at each anchor, its size
by scale, custom centres, opacity, transparency, and text in any script."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pytoon.models import CaptionStyle, CardStyle, MotionKind, OverlayKind, OverlayPlan, SegmentPlan, Visual
from pytoon.render.captions import caption_layout
from pytoon.render.overlays import TEXT_BASE_PX
from pytoon.render.segment import render_segment
from pytoon.render.text import TextStyle
from tests.media import (
    LOOK,
    counter_clip,
    decode_frames,
    flat_image,
    graph_frames,
    motion,
    save_png,
    textured_image,
    visual,
)
from tests.unit.test_caption_scripts import tofu_clusters

LAYOUT = caption_layout(CaptionStyle(font="Inter", size_rules="auto", position="lower_third", safe_margin_px=120))
STILL = motion(MotionKind.STATIC, zoom=(1.0, 1.0))
MAGENTA = np.array([230, 20, 200])
GREY = 100


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    square = tmp_path / "square.png"
    Image.new("RGB", (400, 400), tuple(MAGENTA)).save(square)
    wide = tmp_path / "wide.png"
    Image.new("RGB", (1600, 900), tuple(MAGENTA)).save(wide)
    return {
        "bg": flat_image(tmp_path / "bg.png", (GREY, GREY, GREY), size=(1080, 1920)),
        "square": square,
        "wide": wide,
    }


def first_frame(vis: Visual, files: dict[str, Path], work: Path) -> np.ndarray:
    plan = SegmentPlan(index=0, start_frame=vis.start_frame, frame_count=2, visual=vis, spec_hash="t")
    return graph_frames(plan, LAYOUT, files, work)[0].astype(int)


def box_of(frame: np.ndarray, colour: np.ndarray, tolerance: int = 30) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(np.abs(frame - colour).max(axis=-1) <= tolerance)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def luma(frame: np.ndarray) -> np.ndarray:
    """Per-pixel luma: exact in 4:2:0, where colours share their chroma with the neighbouring pixels."""
    return frame @ np.array([0.2126, 0.7152, 0.0722])


def drawn_box(frame: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box of what differs from the grey background in luma."""
    ys, xs = np.nonzero(np.abs(luma(frame) - GREY) > 10)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


# Size at scale 1: product_image contained in 60 % x 42 % of the frame, a logo in a square of 22 % of its width,
# a graphic in the whole frame (the wide 16:9 picture for the graphic, a square one for the others).
SIZES = {OverlayKind.PRODUCT_IMAGE: (648, 648), OverlayKind.LOGO: (238, 238), OverlayKind.GRAPHIC: (1080, 608)}
# Safe area: 54 px from the sides, 100 from the top, 150 from the bottom; centre = its centre.
ORIGINS = {
    "center": lambda w, h: (max(0, round((1080 - w) / 2)), round((1870 - h) / 2)),
    "top-left": lambda w, h: (min(54, 1080 - w), 100),
    "top-right": lambda w, h: (max(0, 1026 - w), 100),
    "bottom-left": lambda w, h: (min(54, 1080 - w), 1770 - h),
    "bottom-right": lambda w, h: (max(0, 1026 - w), 1770 - h),
}


@pytest.mark.parametrize("position", list(ORIGINS))
@pytest.mark.parametrize("kind", list(SIZES))
def test_each_kind_lands_at_each_anchor_inside_the_safe_area(
    files: dict[str, Path], tmp_path: Path, kind: OverlayKind, position: str
) -> None:
    image = "wide" if kind is OverlayKind.GRAPHIC else "square"
    overlay = OverlayPlan(kind=kind, image_key=image, position=position)
    frame = first_frame(visual(image_key="bg", motion=STILL, overlays=[overlay]), files, tmp_path)
    w, h = SIZES[kind]
    x, y = ORIGINS[position](w, h)
    assert drawn_box(frame) == (x, y, x + w, y + h)  # and nothing drawn elsewhere
    assert np.abs(frame[y + 4 : y + h - 4, x + 4 : x + w - 4] - MAGENTA).max() <= 4


@pytest.mark.parametrize("background", ["moving image", "clip"])
def test_overlays_on_moving_pictures_land_where_they_do_on_still_ones(
    files: dict[str, Path], tmp_path: Path, background: str
) -> None:
    """Drawn by ffmpeg on every frame (a still picture gets them pasted in once): same place, same size."""
    overlays = [
        OverlayPlan(kind=OverlayKind.LOGO, image_key="square", position="top-right"),
        OverlayPlan(kind=OverlayKind.PRODUCT_IMAGE, image_key="square", position="custom", x=0.3, y=0.7, scale=0.5),
    ]
    if background == "clip":
        files["clip"] = counter_clip(tmp_path / "clip.mp4", 12)
        vis = visual(image_key=None, clip_key="clip", overlays=overlays)
    else:
        files["bg"] = textured_image(tmp_path / "t.jpg")
        vis = visual(image_key="bg", motion=motion(zoom=(1.0, 1.2)), overlays=overlays)
    plan = SegmentPlan(index=0, start_frame=0, frame_count=8, visual=vis, spec_hash="t")
    frames = graph_frames(plan, LAYOUT, files, tmp_path / "g")
    assert len(frames) == 8
    for frame in (frames[0], frames[-1]):
        top_right = box_of(frame[:600].astype(int), MAGENTA, tolerance=12)
        assert top_right == pytest.approx((1026 - 238, 100, 1026, 338), abs=1)
        custom = box_of(frame[1000:].astype(int), MAGENTA, tolerance=12)
        assert custom == pytest.approx((324 - 162, 1344 - 162 - 1000, 324 + 162, 1344 + 162 - 1000), abs=1)


def test_scale_sizes_an_overlay_and_custom_places_its_centre(files: dict[str, Path], tmp_path: Path) -> None:
    for n, (scale, side) in enumerate([(0.5, 119), (1.0, 238), (2.0, 475)]):
        overlay = OverlayPlan(kind=OverlayKind.LOGO, image_key="square", position="custom", x=0.25, y=0.75, scale=scale)
        frame = first_frame(visual(image_key="bg", motion=STILL, overlays=[overlay]), files, tmp_path / str(n))
        left, top, right, bottom = drawn_box(frame)
        assert (right - left, bottom - top) == pytest.approx((side, side), abs=1)
        assert ((left + right) / 2, (top + bottom) / 2) == pytest.approx((270, 1440), abs=1)
    # Near an edge the overlay moves just enough to stay whole on the frame.
    corner = OverlayPlan(kind=OverlayKind.LOGO, image_key="square", position="custom", x=0.0, y=1.0)
    assert drawn_box(first_frame(visual(image_key="bg", motion=STILL, overlays=[corner]), files, tmp_path / "c")) == (
        0, 1920 - 238, 238, 1920)  # fmt: skip


def test_opacity_blends_and_a_transparent_logo_keeps_its_transparency(files: dict[str, Path], tmp_path: Path) -> None:
    logo = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    draw = ImageDraw.Draw(logo)
    draw.ellipse((0, 0, 299, 299), fill=(255, 255, 255, 255))  # an opaque white disc...
    draw.ellipse((75, 75, 224, 224), fill=(0, 0, 0, 0))  # ...with a hole in the middle
    draw.rectangle((0, 0, 40, 40), fill=(255, 255, 255, 128))  # and a half-transparent corner square
    logo.save(tmp_path / "logo.png")
    files["logo"] = tmp_path / "logo.png"
    overlays = [
        OverlayPlan(kind=OverlayKind.LOGO, image_key="logo", position="custom", x=0.5, y=0.3),
        OverlayPlan(kind=OverlayKind.LOGO, image_key="square", position="custom", x=0.5, y=0.7, opacity=0.5),
    ]
    frame = first_frame(visual(image_key="bg", motion=STILL, overlays=overlays), files, tmp_path)
    save_png(frame.astype(np.uint8), LOOK / "overlay_transparency.png")
    cx, cy, side = 540, 576, 238  # the logo's 300 px are 238 px on the frame
    assert frame[cy, cx] == pytest.approx([GREY] * 3, abs=2)  # the hole shows the picture behind
    assert frame[cy, cx - 100] == pytest.approx([255] * 3, abs=2)  # the ring is opaque
    assert frame[cy + 110, cx + 110] == pytest.approx([GREY] * 3, abs=2)  # outside the disc: transparent
    corner = frame[cy - side // 2 + 5 : cy - side // 2 + 25, cx - side // 2 + 5 : cx - side // 2 + 25]
    assert corner.mean() == pytest.approx((255 + GREY) / 2, abs=3)  # the logo's own half transparency
    half = frame[1344 - 100 : 1344 + 100, 440:640].reshape(-1, 3).mean(axis=0)
    assert half == pytest.approx((MAGENTA + GREY) / 2, abs=2)  # opacity 0.5: half and half


def test_a_text_overlay_draws_any_script_and_colour_emoji(files: dict[str, Path], tmp_path: Path) -> None:
    text = "تخفيضات 🔥"
    font = CardStyle().font
    assert tofu_clusters(text, TextStyle.for_text(font, TEXT_BASE_PX, text)) == []  # no boxes in this font chain
    heights = []
    for scale in (1.0, 1.5):
        overlay = OverlayPlan(kind=OverlayKind.TEXT, text=text, position="top-left", scale=scale)
        frame = first_frame(visual(image_key="bg", motion=STILL, overlays=[overlay]), files, tmp_path / str(scale))
        left, top, right, bottom = drawn_box(frame)
        assert (left, top) == pytest.approx((54, 100), abs=1)  # the ink in the safe area's top-left corner
        white = (frame.min(axis=-1) > 235).sum()
        fire = ((frame[..., 0] > 200) & (frame[..., 2] < 90) & (frame[..., 0] - frame[..., 2] > 120)).sum()
        assert white > 1_500 and fire > 300  # white, outlined letters and the orange-red emoji
        heights.append(bottom - top)
    assert heights[1] == pytest.approx(heights[0] * 1.5, rel=0.1)
    save_png(frame.astype(np.uint8)[:500], LOOK / "text_overlay_arabic_emoji.png")


def test_a_clip_scene_with_a_logo_and_a_text_overlay(files: dict[str, Path], tmp_path: Path) -> None:
    logo = Image.new("RGBA", (400, 200), (0, 0, 0, 0))
    ImageDraw.Draw(logo).rounded_rectangle(
        (0, 0, 399, 199), 50, fill=(255, 255, 255, 230), outline=(20, 20, 20, 255), width=12
    )
    logo.save(tmp_path / "logo.png")
    files |= {"logo": tmp_path / "logo.png", "clip": counter_clip(tmp_path / "clip.mp4", 30)}
    overlays = [
        OverlayPlan(kind=OverlayKind.LOGO, image_key="logo", position="top-right"),
        OverlayPlan(kind=OverlayKind.TEXT, text="Nouveau ✨ جديد", position="bottom-left", scale=0.8),
    ]
    vis = visual(image_key=None, clip_key="clip", count=20, overlays=overlays)
    out = render_segment(SegmentPlan(index=0, start_frame=0, frame_count=20, visual=vis, spec_hash="t"), LAYOUT, files,
                         tmp_path / "seg.mp4")  # fmt: skip
    frames = decode_frames(out.path)
    assert len(frames) == 20
    save_png(frames[12], LOOK / "clip_with_logo_and_text.png")
    for frame in (frames[0], frames[19]):
        assert frame[125:195, 815:1000].min(axis=-1).mean() > 200  # the logo's white body over the clip
        assert (frame[1500:1770, 54:700].min(axis=-1) > 235).sum() > 1_000  # the text's white letters


def test_a_missing_overlay_image_is_a_clear_error(files: dict[str, Path], tmp_path: Path) -> None:
    overlay = OverlayPlan(kind=OverlayKind.LOGO, image_key="uploads/nope/logo.png")
    plan = SegmentPlan(
        index=0, start_frame=0, frame_count=2, visual=visual(image_key="bg", overlays=[overlay]), spec_hash="t"
    )
    with pytest.raises(KeyError, match="No overlay image file for key 'uploads/nope/logo.png'"):
        render_segment(plan, LAYOUT, files, tmp_path / "seg.mp4")
