from __future__ import annotations

import math
import resource
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

from pytoon.models import Archetype, CaptionStyle, CardStyle, MotionKind, OverlayFx, SegmentPlan, Visual
from pytoon.render.captions import caption_layout
from pytoon.render.frames import (
    PRODUCT_CENTRE_Y,
    PRODUCT_MAX_H,
    PRODUCT_MAX_W,
    CardVisual,
    KenBurnsVisual,
    OverlayVisual,
    Picture,
    camera_progress,
    load_image,
    prepare_visual,
    resize_in_bands,
)
from pytoon.render.segment import render_segment
from tests.media import LOOK, cutout_png, graph_frames, motion, product_photo, save_png, segment, textured_image, visual

RED = np.array([200, 60, 80])
LAYOUT = caption_layout(CaptionStyle(font="Inter", size_rules="auto", position="lower_third", safe_margin_px=120))


def frames_of(vis: Visual, image: Path | None, work: Path, frames: range | None = None) -> list[np.ndarray]:
    """The visual drawn on the given global frames (default: its first) by the segment's ffmpeg graph."""
    frames = frames or range(vis.start_frame, vis.start_frame + 1)
    plan = SegmentPlan(index=0, start_frame=frames.start, frame_count=len(frames), visual=vis, spec_hash="t")
    return graph_frames(plan, LAYOUT, {"img": image} if image else {}, work)


def rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    frame = np.asarray(image)
    assert frame.shape == (1920, 1080, 3) and frame.dtype == np.uint8
    return frame.astype(np.int16)


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


def test_ken_burns_moves_every_frame_and_never_shows_an_edge(textured: Path, tmp_path: Path) -> None:
    vis = visual(count=30, motion=motion(zoom=(1.0, 1.2), pan_x_start=-1, pan_x_end=1))
    frames = [rgb(f) for f in frames_of(vis, textured, tmp_path, range(0, 36))]  # 6 past the end: a crossfade
    for previous, current in zip(frames[1:28], frames[2:29], strict=True):
        assert np.abs(current - previous).mean() > 0.3
    for frame in frames:
        edges = [frame[0], frame[-1], frame[:, 0], frame[:, -1]]
        assert min(edge.mean(axis=-1).min() for edge in edges) > 40  # the image is >= 60 everywhere
    assert np.array_equal(frames[29], frames[35])  # past the end the camera holds still


def test_motion_is_eased_and_held_outside_the_visual() -> None:
    vis = visual(start=100, count=31)
    progress = [camera_progress(vis, f) for f in range(95, 140)]
    assert progress[:6] == [0.0] * 6 and progress[-10:] == [1.0] * 10
    steps = np.diff(progress[5:36])
    assert (steps >= 0).all()
    assert steps[0] < steps[15] / 5 and steps[-1] < steps[15] / 5  # slow in, slow out
    assert camera_progress(vis, 115) == pytest.approx(0.5)


def test_static_zoom_one_is_a_centred_cover_fit(tmp_path: Path) -> None:
    # Left third red, middle green, right third blue; a cover fit of a landscape image keeps the middle.
    image = np.zeros((600, 1800, 3), np.uint8)
    image[:, :600] = (255, 0, 0)
    image[:, 600:1200] = (0, 255, 0)
    image[:, 1200:] = (0, 0, 255)
    path = tmp_path / "wide.png"
    Image.fromarray(image).save(path)
    frame = rgb(frames_of(visual(motion=motion(MotionKind.STATIC, zoom=(1.0, 1.0))), path, tmp_path)[0])
    assert frame[:, 200:880].mean(axis=(0, 1)) == pytest.approx([0, 255, 0], abs=2)


def test_a_still_camera_is_drawn_once_and_repeated(textured: Path, tmp_path: Path) -> None:
    still = visual(motion=motion(MotionKind.STATIC, zoom=(1.05, 1.05)))
    prepared = prepare_visual(still, textured)
    assert not prepared.moving and prepared.windows == [] and prepared.source.size == (1080, 1920)
    frames = [rgb(f) for f in frames_of(still, textured, tmp_path, range(0, 5))]
    assert all(np.array_equal(frame, frames[0]) for frame in frames[1:])
    assert np.abs(frames[0] - rgb(prepared.source)).mean() < 2  # the finished frame, only converted to YUV
    moving = visual(count=30, motion=motion(zoom=(1.0, 1.05)))
    assert prepare_visual(moving, textured).moving
    # Past its end (a crossfade into the next segment) the camera holds: one finished frame again.
    assert not prepare_visual(moving, textured, range(30, 36)).moving


def test_hero_cutout_sits_whole_and_unstretched_on_a_card(tmp_path: Path) -> None:
    path = cutout_png(tmp_path / "cut.png")  # a 400x800 opaque product with transparent margins
    frame = rgb(frames_of(visual(motion=motion(MotionKind.STATIC, zoom=(1.0, 1.0))), path, tmp_path)[0])
    left, top, right, bottom = colour_box(frame, RED)
    assert (right - left) / (bottom - top) == pytest.approx(0.5, abs=0.01)
    assert bottom - top == pytest.approx(0.62 * 1920, abs=3)  # trimmed: the product, not its margins
    assert abs((left + right) / 2 - 540) <= 2 and abs((top + bottom) / 2 - 960) <= 2
    corners = [frame[5, 5], frame[5, -5], frame[-5, 5], frame[-5, -5]]
    assert all(10 < c.max() < 100 for c in corners)  # dark card, not black, not product


def test_overlay_product_is_fitted_above_centre_over_a_dark_blurred_copy(tmp_path: Path) -> None:
    path = cutout_png(tmp_path / "cut.png")
    frame = rgb(frames_of(visual(Archetype.OVERLAY, overlay_fx=OverlayFx()), path, tmp_path)[0])
    # Overlaid as prepared: exact but for 4:2:0 chroma (within 2 of RED inside, 3 on its edge rows)
    left, top, right, bottom = colour_box(frame, RED, tolerance=4)
    assert (right - left) / (bottom - top) == pytest.approx(0.5, abs=0.01)
    assert bottom - top == pytest.approx(PRODUCT_MAX_H * 1920, abs=3)  # a tall product is capped by height
    assert abs((left + right) / 2 - 540) <= 1 and (top + bottom) / 2 == pytest.approx(PRODUCT_CENTRE_Y * 1920, abs=2)
    background = frame[top:bottom, 40:100]
    assert background.mean() < 0.6 * RED.mean()  # darkened
    assert background.std(axis=0).mean() < 40  # blurred: smooth, no hard product edge


def test_overlay_photo_is_contained_at_sixty_percent_with_shadow_and_glow(tmp_path: Path) -> None:
    photo = product_photo(tmp_path / "p.jpg", size=(1000, 1000))
    plain = rgb(frames_of(visual(Archetype.OVERLAY, overlay_fx=OverlayFx()), photo, tmp_path / "plain")[0])
    fancy_visual = visual(Archetype.OVERLAY, overlay_fx=OverlayFx(shadow=True, glow=True))
    fancy = rgb(frames_of(fancy_visual, photo, tmp_path / "fancy")[0])
    row = plain[int(PRODUCT_CENTRE_Y * 1920)]
    bright = np.nonzero(row.mean(axis=-1) > 180)[0]  # the photo's light backdrop
    assert bright.max() - bright.min() + 1 == pytest.approx(PRODUCT_MAX_W * 1080, abs=3)
    # Effects only change the surroundings of the product, never the product itself.
    centre = (slice(700, 900), slice(400, 680))
    assert np.array_equal(plain[centre], fancy[centre])
    assert np.abs(plain - fancy).mean() > 1.0


def test_cards_are_styled_never_flat_black(tmp_path: Path) -> None:
    card = rgb(
        frames_of(visual(Archetype.MEME_TEXT, image_key=None, card_text="When it finally works"), None, tmp_path)[0]
    )
    assert card[:, :60].min() > 5 and card[-400:].min() > 5
    assert card[10].mean() > card[-10].mean() + 15  # vertical gradient
    text_band = card[int(0.1 * 1920) : int(0.4 * 1920)]
    assert (text_band.min(axis=-1) > 240).sum() > 5_000  # large white lettering
    plain = rgb(frames_of(visual(Archetype.PRODUCT_HERO, image_key=None), None, tmp_path / "plain")[0])
    assert plain.min() > 5 and (plain.min(axis=-1) > 240).sum() == 0


def test_cards_and_cutout_backdrops_use_the_visuals_card_style(tmp_path: Path) -> None:
    style = CardStyle(font="Archivo Black", top="#c01830", bottom="#102a80", text="#ffe030")
    card = rgb(frames_of(visual(image_key=None, card_text="Big summer sale", card=style), None, tmp_path / "card")[0])
    save_png(card.astype(np.uint8), LOOK / "card_custom_style.png")
    assert card[2, 2] == pytest.approx([192, 24, 48], abs=3) and card[-3, 2] == pytest.approx([16, 42, 128], abs=3)
    assert card[960, 2] == pytest.approx([(192 + 16) / 2, (24 + 42) / 2, (48 + 128) / 2], abs=3)  # a straight ramp
    text_band = card[int(0.1 * 1920) : int(0.4 * 1920)]
    lettering = (np.abs(text_band - [255, 224, 48]).max(axis=-1) < 20).sum()
    assert lettering > 5_000  # the text in the style's colour
    default = rgb(frames_of(visual(image_key=None, card_text="Big summer sale"), None, tmp_path / "default")[0])
    assert (np.abs(default[int(0.1 * 1920) : int(0.4 * 1920)] - [255, 224, 48]).max(axis=-1) < 20).sum() == 0
    assert not np.array_equal(default[200:700], card[200:700])  # another font draws other letters
    # A cut-out product sits on the same card.
    cutout = rgb(
        frames_of(
            visual(card=style, motion=motion(MotionKind.STATIC, zoom=(1.0, 1.0))),
            cutout_png(tmp_path / "c.png"),
            tmp_path / "cut",
        )[0]
    )
    assert cutout[2, 2] == pytest.approx([192, 24, 48], abs=3)


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
def test_rendering_stays_cheap(tmp_path: Path, archetype: Archetype) -> None:
    """A guard against per-frame decoding, scaling or Python work creeping in (real figures are in the report)."""

    def cpu() -> tuple[float, float]:
        """CPU seconds of this process and of its finished children (ffmpeg)."""
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time(), children.ru_utime + children.ru_stime

    photo = product_photo(tmp_path / "p.jpg")
    started = cpu()
    render_segment(segment(visual(archetype, count=60)), LAYOUT, {"img": photo}, tmp_path / "seg.mp4")
    python, ffmpeg = (now - then for now, then in zip(cpu(), started, strict=True))
    assert python / 60 < 0.01  # Python prepares pictures once; it does nothing per frame
    assert (python + ffmpeg) / 60 < 0.15  # the whole frame, x264 included


@pytest.mark.parametrize("archetype", [Archetype.PRODUCT_HERO, Archetype.OVERLAY])
def test_a_moving_cameras_picture_enlarged_by_ffmpeg_matches_pillows(
    archetype: Archetype, textured: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vis, frames = visual(archetype, count=30), range(0, 30, 7)
    prepared = prepare_visual(vis, textured, range(30))
    assert prepared.enlargement is not None and prepared.source.width < prepared.enlargement.size[0]
    drawn = np.stack(frames_of(vis, textured, tmp_path / "ffmpeg", frames)).astype(np.int16)
    monkeypatch.setattr(Picture, "enlarges", property(lambda _: False))  # Pillow enlarges, Python writes the result
    assert prepare_visual(vis, textured, range(30)).enlargement is None
    reference = np.stack(frames_of(vis, textured, tmp_path / "pillow", frames)).astype(np.int16)
    difference = np.abs(drawn - reference)
    psnr = 10 * math.log10(255**2 / float((difference.astype(np.float64) ** 2).mean()))
    assert psnr > 45 and difference.mean() < 1  # the same filter, in YUV rather than RGB


def test_a_landscape_photo_is_enlarged_by_pillow_only_where_the_camera_looks(tmp_path: Path) -> None:
    # Its whole picture would be over three times what the camera visits: ffmpeg is not handed that.
    wide = textured_image(tmp_path / "wide.jpg", size=(1600, 900))
    prepared = prepare_visual(visual(count=30), wide, range(30))
    assert prepared.enlargement is None
    assert prepared.source.height >= 2 * 1920 and prepared.source.width < 2 * prepared.source.height


@pytest.mark.parametrize(
    ("size", "box"),
    [
        ((2333, 4148), (0.4, 0.7, 1079.6, 1919.3)),  # a moving camera's picture: an enlargement
        ((1800, 3000), (10.5, 20.25, 2990.0, 4980.5)),  # a slight reduction of a large photo
    ],
)
def test_a_large_picture_resampled_in_bands_matches_one_resize(
    size: tuple[int, int], box: tuple[float, float, float, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 3)
    width, height = math.ceil(box[2]), math.ceil(box[3])
    image = Image.fromarray(np.random.default_rng(7).integers(0, 256, (height, width, 3), np.uint8))
    # int16: the differences fit, and four full-size arrays stay at about 60 MB each.
    whole = np.asarray(image.resize(size, Image.Resampling.LANCZOS, box=box)).astype(np.int16)
    resized = []
    resize = Image.Image.resize
    monkeypatch.setattr(Image.Image, "resize", lambda im, *a, **k: resized.append(a[0]) or resize(im, *a, **k))
    banded = np.asarray(resize_in_bands(image, size, Image.Resampling.LANCZOS, box)).astype(np.int16)
    assert sum(rows for _, rows in resized) == size[1] and len(resized) == 3
    assert banded.shape == whole.shape
    assert np.abs(banded - whole).max() <= 1
    assert np.count_nonzero(banded != whole) < banded.size // 100  # float rounding of the bands' boxes


def test_a_reduction_past_the_reducing_gap_is_resampled_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    monkeypatch.setattr("pytoon.render.frames.BANDED_RESIZE_MIN_PIXELS", 100_000)
    image = Image.fromarray(np.random.default_rng(3).integers(0, 256, (3000, 2500, 3), np.uint8))
    box = (3.3, 1.7, 2499.0, 2998.5)
    banded = resize_in_bands(image, (330, 400), Image.Resampling.LANCZOS, box)
    assert banded.tobytes() == image.resize((330, 400), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0).tobytes()
