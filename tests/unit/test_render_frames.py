from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

from pytoon.models import Archetype, MotionKind, OverlayFx
from pytoon.render.frames import (
    PRODUCT_CENTRE_Y,
    PRODUCT_MAX_H,
    PRODUCT_MAX_W,
    CardVisual,
    KenBurnsVisual,
    OverlayVisual,
    PreparedVisual,
    load_image,
    prepare_visual,
)
from tests.media import cutout_png, motion, product_photo, textured_image, visual

RED = np.array([200, 60, 80])


def rgb(image: Image.Image) -> np.ndarray:
    assert image.mode == "RGB" and image.size == (1080, 1920)
    return np.asarray(image).astype(np.int16)


def colour_box(frame: np.ndarray, colour: np.ndarray, tolerance: int = 12) -> tuple[int, int, int, int]:
    """Bounding box (left, top, right, bottom) of the pixels of one colour."""
    ys, xs = np.nonzero(np.abs(frame - colour).max(axis=-1) <= tolerance)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.fixture
def textured(tmp_path: Path) -> Path:
    return textured_image(tmp_path / "textured.jpg")


def test_dispatch_by_archetype_and_image(tmp_path: Path) -> None:
    photo = product_photo(tmp_path / "p.jpg")
    assert isinstance(prepare_visual(visual(Archetype.PRODUCT_HERO), photo), KenBurnsVisual)
    assert isinstance(prepare_visual(visual(Archetype.MEME_TEXT), photo), KenBurnsVisual)
    assert isinstance(prepare_visual(visual(Archetype.OVERLAY), photo), OverlayVisual)
    for archetype in Archetype:
        assert isinstance(prepare_visual(visual(archetype, image_key=None), None), CardVisual)


def test_ken_burns_moves_every_frame_and_never_shows_an_edge(textured: Path) -> None:
    prepared = prepare_visual(visual(count=30, motion=motion(zoom=(1.0, 1.2), pan_x_start=-1, pan_x_end=1)), textured)
    frames = [rgb(prepared.frame(f)) for f in range(0, 36)]  # 6 frames past the end: a crossfade's worth
    for previous, current in zip(frames[1:28], frames[2:29], strict=True):
        assert np.abs(current - previous).mean() > 0.3
    for frame in frames:
        edges = [frame[0], frame[-1], frame[:, 0], frame[:, -1]]
        assert min(edge.mean(axis=-1).min() for edge in edges) > 40  # the image is >= 60 everywhere
    assert np.array_equal(frames[29], frames[35])  # past the end the camera holds still


def test_motion_is_eased_and_held_outside_the_visual(textured: Path) -> None:
    prepared = PreparedVisual(visual(start=100, count=31))
    progress = [prepared.progress(f) for f in range(95, 140)]
    assert progress[:6] == [0.0] * 6 and progress[-10:] == [1.0] * 10
    steps = np.diff(progress[5:36])
    assert (steps >= 0).all()
    assert steps[0] < steps[15] / 5 and steps[-1] < steps[15] / 5  # slow in, slow out
    assert prepared.progress(115) == pytest.approx(0.5)


def test_static_zoom_one_is_a_centred_cover_fit(tmp_path: Path) -> None:
    # Left third red, middle green, right third blue; a cover fit of a landscape image keeps the middle.
    image = np.zeros((600, 1800, 3), np.uint8)
    image[:, :600] = (255, 0, 0)
    image[:, 600:1200] = (0, 255, 0)
    image[:, 1200:] = (0, 0, 255)
    path = tmp_path / "wide.png"
    Image.fromarray(image).save(path)
    prepared = prepare_visual(visual(motion=motion(MotionKind.STATIC, zoom=(1.0, 1.0))), path)
    frame = rgb(prepared.frame(0))
    assert frame[:, 200:880].mean(axis=(0, 1)) == pytest.approx([0, 255, 0], abs=2)


def test_a_still_camera_is_drawn_once_and_each_frame_is_a_fresh_image(textured: Path) -> None:
    prepared = prepare_visual(visual(motion=motion(MotionKind.STATIC, zoom=(1.05, 1.05))), textured)
    assert prepared.still is not None
    first = prepared.frame(0)
    first.paste((0, 0, 0), (0, 0, 500, 500))  # the caller draws captions on what it gets
    assert np.array_equal(rgb(prepared.frame(1)), rgb(prepared.still))
    assert not np.array_equal(rgb(first), rgb(prepared.frame(2)))
    assert prepare_visual(visual(motion=motion(zoom=(1.0, 1.05))), textured).still is None


def test_hero_cutout_sits_whole_and_unstretched_on_a_card(tmp_path: Path) -> None:
    path = cutout_png(tmp_path / "cut.png")  # a 400x800 opaque product with transparent margins
    prepared = prepare_visual(visual(motion=motion(MotionKind.STATIC, zoom=(1.0, 1.0))), path)
    frame = rgb(prepared.frame(0))
    left, top, right, bottom = colour_box(frame, RED)
    assert (right - left) / (bottom - top) == pytest.approx(0.5, abs=0.01)
    assert bottom - top == pytest.approx(0.62 * 1920, abs=3)  # trimmed: the product, not its margins
    assert abs((left + right) / 2 - 540) <= 2 and abs((top + bottom) / 2 - 960) <= 2
    corners = [frame[5, 5], frame[5, -5], frame[-5, 5], frame[-5, -5]]
    assert all(10 < c.max() < 100 for c in corners)  # dark card, not black, not product


def test_overlay_product_is_fitted_above_centre_over_a_dark_blurred_copy(tmp_path: Path) -> None:
    path = cutout_png(tmp_path / "cut.png")
    prepared = prepare_visual(visual(Archetype.OVERLAY, overlay_fx=OverlayFx()), path)
    frame = rgb(prepared.frame(0))
    left, top, right, bottom = colour_box(frame, RED, tolerance=2)
    assert (right - left) / (bottom - top) == pytest.approx(0.5, abs=0.01)
    assert bottom - top == pytest.approx(PRODUCT_MAX_H * 1920, abs=3)  # a tall product is capped by height
    assert abs((left + right) / 2 - 540) <= 1 and (top + bottom) / 2 == pytest.approx(PRODUCT_CENTRE_Y * 1920, abs=2)
    background = frame[top:bottom, 40:100]
    assert background.mean() < 0.6 * RED.mean()  # darkened
    assert background.std(axis=0).mean() < 40  # blurred: smooth, no hard product edge


def test_overlay_photo_is_contained_at_sixty_percent_with_shadow_and_glow(tmp_path: Path) -> None:
    photo = product_photo(tmp_path / "p.jpg", size=(1000, 1000))
    plain = rgb(prepare_visual(visual(Archetype.OVERLAY, overlay_fx=OverlayFx()), photo).frame(0))
    fancy = rgb(prepare_visual(visual(Archetype.OVERLAY, overlay_fx=OverlayFx(shadow=True, glow=True)), photo).frame(0))
    row = plain[int(PRODUCT_CENTRE_Y * 1920)]
    bright = np.nonzero(row.mean(axis=-1) > 180)[0]  # the photo's light backdrop
    assert bright.max() - bright.min() + 1 == pytest.approx(PRODUCT_MAX_W * 1080, abs=3)
    # Effects only change the surroundings of the product, never the product itself.
    centre = (slice(700, 900), slice(400, 680))
    assert np.array_equal(plain[centre], fancy[centre])
    assert np.abs(plain - fancy).mean() > 1.0


def test_cards_are_styled_never_flat_black() -> None:
    card = rgb(
        prepare_visual(visual(Archetype.MEME_TEXT, image_key=None, card_text="When it finally works"), None).frame(0)
    )
    assert card[:, :60].min() > 5 and card[-400:].min() > 5
    assert card[10].mean() > card[-10].mean() + 15  # vertical gradient
    text_band = card[int(0.1 * 1920) : int(0.4 * 1920)]
    assert (text_band.min(axis=-1) > 240).sum() > 5_000  # large white lettering
    plain = rgb(prepare_visual(visual(Archetype.PRODUCT_HERO, image_key=None), None).frame(0))
    assert plain.min() > 5 and (plain.min(axis=-1) > 240).sum() == 0


def test_images_are_upright_per_exif_and_only_known_formats_open(tmp_path: Path) -> None:
    upright = np.zeros((400, 200, 3), np.uint8)
    upright[:200] = (255, 0, 0)  # red on top of a portrait image
    upright[200:] = (0, 0, 255)
    stored = Image.fromarray(upright).rotate(90, expand=True)  # saved sideways, as phones do
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.size == (200, 400) and loaded.mode == "RGB"
    assert np.asarray(loaded)[50, 100, 0] > 200 and np.asarray(loaded)[350, 100, 2] > 200

    gif = tmp_path / "anim.gif"
    Image.new("RGB", (10, 10)).save(gif)
    with pytest.raises(UnidentifiedImageError):
        load_image(gif)


def test_opaque_png_with_alpha_channel_is_treated_as_a_photo(tmp_path: Path) -> None:
    path = tmp_path / "opaque.png"
    Image.new("RGBA", (300, 500), (10, 200, 30, 255)).save(path)
    assert load_image(path).mode == "RGB"


@pytest.mark.parametrize("archetype", list(Archetype))
def test_composition_stays_cheap(tmp_path: Path, archetype: Archetype) -> None:
    """A guard against per-frame decoding or scaling creeping in (real figures are in the report)."""
    prepared = prepare_visual(visual(archetype, count=60), product_photo(tmp_path / "p.jpg"))
    prepared.frame(0)
    started = time.process_time()
    for f in range(1, 11):
        prepared.frame(f)
    assert (time.process_time() - started) / 10 < 0.15
