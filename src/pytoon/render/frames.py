"""One visual over the frames of a segment, prepared once for ffmpeg to play back.

`prepare_visual` does all image work once (decode, EXIF orientation, fitting, blur, shadows, text) and
returns a `PreparedVisual`: an RGB `source` picture, the crop `windows` of it that the camera shows on
each frame and, for OVERLAY, the product `sprite` that stays put over the drifting background. segment.py
turns that into one ffmpeg graph: no Python runs per frame.

A camera that holds still over the frames asked for (cards, STATIC motion, the outgoing visual of a
crossfade, which is past its end) gets the finished frame, drawn here once; ffmpeg only repeats it.

A moving camera gets the part of its picture that it visits, rendered at SUPERSAMPLE (2) pixels per frame
pixel at the closest zoom. A frame's window is its exact camera box rounded to whole source pixels, so
each edge is off by at most half a source pixel, a quarter of a frame pixel, and ffmpeg area-averages the
window down to the frame: the picture moves by sub-pixel amounts that follow the eased camera (no frame
stands still between moving neighbours), and area averaging of a 2x source keeps fine textures from
shimmering. Where that picture enlarges its image, ffmpeg does the enlarging (see Enlargement).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# The plugins of IMAGE_FORMATS by name: else the first open imports all of PIL's (~25 ms). Pillow only: a render
# loads numpy (about 40 ms with OpenBLAS) only if it speaks a voiceover.
from PIL import (  # noqa: F401
    Image,
    ImageDraw,
    ImageFilter,
    ImageOps,
    ImageStat,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

from pytoon.models import HEIGHT, WIDTH, Archetype, CardStyle, Motion, OverlayFx, Visual
from pytoon.render.captions import fit_text
from pytoon.render.text import TextStyle

FRAME_SIZE = (WIDTH, HEIGHT)
IMAGE_FORMATS = ["PNG", "JPEG", "WEBP"]
# Source pixels per frame pixel at a moving camera's closest zoom: whole-pixel crops then move the
# picture in steps of at most 1/(2 * SUPERSAMPLE) frame pixel.
SUPERSAMPLE = 2
# Pillow's resize first reduces by whole blocks while the result stays REDUCING_GAP times the size asked
# (much faster for large downscales, indistinguishable). Results of BANDED_RESIZE_MIN_PIXELS or more are
# resampled in bands of at least BAND_MIN_ROWS rows, one per core.
REDUCING_GAP = 3.0
BANDED_RESIZE_MIN_PIXELS, BAND_MIN_ROWS = 4_000_000, 256

# Styled cards (no image, or behind a cut-out product): a vertical gradient between the two colours of the
# visual's CardStyle (the preset's), its text in the CardStyle's font and colour.
CARD_TEXT_MAX_PX, CARD_TEXT_MIN_PX = 132, 56
# Card text sits in the upper-middle band so a centred caption below it never collides with it.
CARD_TEXT_CENTRE_Y, CARD_TEXT_WIDTH, CARD_TEXT_MAX_LINES = 0.25 * HEIGHT, 0.84 * WIDTH, 3

# A cut-out product on a HERO/MEME card fills at most this much of the frame (contain fit, never cropped).
CUTOUT_MAX_W, CUTOUT_MAX_H = 0.82, 0.62

# OVERLAY: the product box (fraction of the frame) and where its centre sits: slightly above the middle,
# clear of both upper-third and lower-third captions (see captions.ANCHOR_Y).
PRODUCT_MAX_W, PRODUCT_MAX_H = 0.60, 0.42
PRODUCT_CENTRE_Y = 0.44
PRODUCT_CORNER_RADIUS = 28
SHADOW_OFFSET, SHADOW_BLUR, SHADOW_OPACITY = 26, 30, 0.65
GLOW_BLUR, GLOW_OPACITY = 46, 0.85
# The blurred background is computed at 1/BG_DOWNSCALE of the frame size, then enlarged (bilinear: a
# blur has no detail to keep).
BG_DOWNSCALE = 4
BG_BLUR_RADIUS = 14  # at the downscaled size: ~56 px at full size
BG_BRIGHTNESS = 0.55

Box = tuple[float, float, float, float]  # left, top, right, bottom
Window = tuple[int, int, int, int]  # x, y, width, height: a crop of PreparedVisual.source


def camera_progress(visual: Visual, global_frame: int) -> float:
    """Eased motion progress in [0, 1]. Frames past the end (the next segment's crossfade) hold the last
    position: smoothstep has zero speed at 1, so holding there is seamless."""
    span = max(1, visual.frame_count - 1)
    p = min(max((global_frame - visual.start_frame) / span, 0.0), 1.0)
    return p * p * (3.0 - 2.0 * p)


@dataclass(frozen=True)
class Camera:
    zoom: float
    pan_x: float
    pan_y: float

    @classmethod
    def at(cls, motion: Motion, eased: float) -> Camera:
        def lerp(a: float, b: float) -> float:
            return a + (b - a) * eased

        return cls(
            lerp(motion.zoom_start, motion.zoom_end),
            lerp(motion.pan_x_start, motion.pan_x_end),
            lerp(motion.pan_y_start, motion.pan_y_end),
        )

    def window(self, source_size: tuple[int, int]) -> tuple[float, float, float, float]:
        """The source box shown in the frame. zoom 1 is a cover fit of the whole source, so the box always
        lies inside the source; pans are fractions (-1..1, +x right, +y down) of the free travel."""
        sw, sh = source_size
        cover = max(WIDTH / sw, HEIGHT / sh)
        ww, wh = WIDTH / (cover * self.zoom), HEIGHT / (cover * self.zoom)
        cx = sw / 2 + self.pan_x * (sw - ww) / 2
        cy = sh / 2 + self.pan_y * (sh - wh) / 2
        left, top = min(max(cx - ww / 2, 0.0), sw - ww), min(max(cy - wh / 2, 0.0), sh - wh)
        return left, top, left + ww, top + wh


def max_zoom(motion: Motion) -> float:
    return max(motion.zoom_start, motion.zoom_end)


@dataclass(frozen=True)
class Enlargement:
    """How ffmpeg makes a moving camera's picture of its `source` when that means enlarging it: scaled to `size`
    with `flags` (swscale's filter), then cut to `box`, the part the camera visits. swscale enlarges a photo to a
    2333x4148 picture in 4:4:4 in about 20 ms, where Pillow takes over 100, and Python writes the image, not the
    picture, for ffmpeg to read."""

    size: tuple[int, int]
    box: Window
    flags: str


# ffmpeg enlarges the whole image, then crops: only where that picture is at most this many times the part the
# camera visits (a 9:16 photo's is about 1; a landscape photo's, over 3, is enlarged by Pillow, part only).
WHOLE_ENLARGEMENT_MAX_SHARE = 2
# Pillow's filters by the name swscale gives the same one.
SWSCALE_FILTERS = {Image.Resampling.LANCZOS: "lanczos", Image.Resampling.BILINEAR: "bilinear"}


@dataclass(frozen=True)
class Picture:
    """What a camera looks at: `image` stretched to `size` (by rounding only). Pillow resamples only the parts
    a camera needs, so a 4096 px photo is never enlarged whole; ffmpeg enlarges a smaller image whole only where
    the camera visits most of it (see Enlargement)."""

    image: Image.Image
    size: tuple[int, int]
    resample: Image.Resampling

    @property
    def enlarges(self) -> bool:
        return self.size != self.image.size and self.size[0] >= self.image.width and self.size[1] >= self.image.height

    def render(self, box: Box, size: tuple[int, int]) -> Image.Image:
        """The picture inside `box` (picture pixels), resampled to `size`."""
        if self.image.size == self.size and all(float(v).is_integer() for v in box):
            if (box[2] - box[0], box[3] - box[1]) == size:
                return self.image.crop(tuple(int(v) for v in box))  # 1:1, nothing to resample
        sx, sy = self.image.width / self.size[0], self.image.height / self.size[1]
        source = (box[0] * sx, box[1] * sy, min(box[2] * sx, self.image.width), min(box[3] * sy, self.image.height))
        return resize_in_bands(self.image, size, self.resample, source)


def resize_in_bands(image: Image.Image, size: tuple[int, int], resample: Image.Resampling, box: Box) -> Image.Image:
    """`image.resize(size, resample, box=box)` with the rows of a large result shared among the cores: Pillow
    resamples without holding the GIL, and a moving camera's picture (2333x4148 at a 1.08 zoom) is the
    longest step before a segment's ffmpeg starts. Each band resamples its rows' share of `box`, so a pixel
    can differ from a single resize by one level (float rounding of the band's box)."""
    left, top, right, bottom = box
    bands = min(os.cpu_count() or 1, size[1] // BAND_MIN_ROWS)
    # Past REDUCING_GAP Pillow first reduces by whole blocks, aligned to each band's box: one resize then.
    reduces = max((right - left) / size[0], (bottom - top) / size[1]) >= 2 * REDUCING_GAP
    if bands < 2 or size[0] * size[1] < BANDED_RESIZE_MIN_PIXELS or reduces:
        return image.resize(size, resample, box=box, reducing_gap=REDUCING_GAP)
    rows = [round(size[1] * k / bands) for k in range(bands + 1)]
    step = (bottom - top) / size[1]

    def band(k: int) -> Image.Image:
        first, last = rows[k], rows[k + 1]
        share = (left, top + first * step, right, top + last * step)
        return image.resize((size[0], last - first), resample, box=share, reducing_gap=REDUCING_GAP)

    result = Image.new(image.mode, size)
    with ThreadPoolExecutor(max_workers=bands, thread_name_prefix="resize") as pool:
        for first, part in zip(rows, pool.map(band, range(bands)), strict=False):
            result.paste(part, (0, first))
    return result


class PreparedVisual:
    """A visual ready to draw over `frames` (global frame numbers).

    `source` is RGB. A still visual's is the finished frame and `windows` is empty. A moving one's
    `windows[i]` is the part of its picture shown on frames[i], to be scaled to the frame size: the picture is
    `source` itself or, given an `enlargement`, what ffmpeg makes of it first. `sprite` (RGBA) then goes over
    every frame at `origin`.
    """

    def __init__(self, visual: Visual, frames: range) -> None:
        self.visual = visual
        self.frames = frames
        self.cameras = [Camera.at(visual.motion, camera_progress(visual, f)) for f in frames]
        self.moving = any(camera != self.cameras[0] for camera in self.cameras)
        self.source: Image.Image  # set by each archetype
        self.windows: list[Window] = []
        self.enlargement: Enlargement | None = None
        self.sprite: Image.Image | None = None
        self.origin = (0, 0)

    def picture_size(self) -> tuple[int, int]:
        """Where a full-frame picture covers the frame at the closest zoom with one pixel per frame pixel
        (a still camera: the finished frame is drawn from it), or SUPERSAMPLE for a moving camera."""
        scale = max_zoom(self.visual.motion) * (SUPERSAMPLE if self.moving else 1)
        return round(WIDTH * scale), round(HEIGHT * scale)

    def film(self, picture: Picture) -> None:
        """Point the camera at `picture`: the finished frame if it holds still, else the region it visits
        and each frame's window in it, rounded to whole pixels."""
        boxes = [camera.window(picture.size) for camera in self.cameras]
        if not self.moving:
            self.source = picture.render(boxes[0], FRAME_SIZE)
            return
        left, top = math.floor(min(b[0] for b in boxes)), math.floor(min(b[1] for b in boxes))
        right = min(math.ceil(max(b[2] for b in boxes)), picture.size[0])
        bottom = min(math.ceil(max(b[3] for b in boxes)), picture.size[1])
        width, height = right - left, bottom - top
        if picture.enlarges and picture.size[0] * picture.size[1] <= WHOLE_ENLARGEMENT_MAX_SHARE * width * height:
            self.source = picture.image
            visited: Window = (left, top, width, height)
            self.enlargement = Enlargement(picture.size, visited, SWSCALE_FILTERS[picture.resample])
        else:
            self.source = picture.render((left, top, right, bottom), (width, height))
        self.windows = [crop_window(box, (left, top)) for box in boxes]


def crop_window(box: Box, origin: tuple[int, int]) -> Window:
    """The box with each edge rounded to the nearest whole pixel, relative to `origin`."""
    left, top, right, bottom = (round(v) for v in box)
    return left - origin[0], top - origin[1], right - left, bottom - top


# --- image loading and fitting -------------------------------------------------------------------------


def load_image(path: Path, min_side: float | None = None) -> Image.Image:
    """Decode PNG/JPEG/WebP only, upright per EXIF: RGB for a photo, RGBA for a cut-out (an image with
    transparent pixels), trimmed to its visible pixels: margins are not product, so fits measure the
    product itself.

    `min_side` lets a large JPEG decode at 1/2, 1/4 or 1/8 scale as long as both sides stay at least that
    long (a square request, because the EXIF rotation is applied after decoding).
    """
    with Image.open(path, formats=IMAGE_FORMATS) as image:
        if min_side is not None:
            image.draft("RGB", (math.ceil(min_side), math.ceil(min_side)))
        # Turned upright in place and converted only if needed: no full copies of a large photo.
        ImageOps.exif_transpose(image, in_place=True)
        image.load()  # while the file is open
        has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        mode = "RGBA" if has_alpha else "RGB"
        converted = image if image.mode == mode else image.convert(mode)
    if not has_transparency(converted):
        return converted if converted.mode == "RGB" else converted.convert("RGB")
    visible = converted.getchannel("A").getbbox()
    return converted.crop(visible) if visible else converted


def has_transparency(image: Image.Image) -> bool:
    return image.mode == "RGBA" and image.getchannel("A").getextrema()[0] < 255


def scale_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


def cover_size(image_size: tuple[int, int], box: tuple[float, float]) -> tuple[int, int]:
    scale = max(box[0] / image_size[0], box[1] / image_size[1])
    return max(1, round(image_size[0] * scale)), max(1, round(image_size[1] * scale))


def contain_size(image_size: tuple[int, int], box: tuple[float, float]) -> tuple[int, int]:
    scale = min(box[0] / image_size[0], box[1] / image_size[1])
    return max(1, round(image_size[0] * scale)), max(1, round(image_size[1] * scale))


def hex_colour(value: str) -> tuple[int, int, int]:
    """'#rrggbb' (CardStyle's colours) as an RGB tuple."""
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def gradient_card(style: CardStyle, size: tuple[int, int] = FRAME_SIZE) -> Image.Image:
    top, bottom = hex_colour(style.top), hex_colour(style.bottom)
    rows = size[1]
    ramp = [row / (rows - 1) for row in range(rows)] if rows > 1 else [0.0]
    column = bytes(round(t * (1 - r) + b * r) for r in ramp for t, b in zip(top, bottom, strict=True))
    return Image.frombytes("RGB", (1, rows), column).resize(size, Image.Resampling.NEAREST)


def cutout_on_card(image: Image.Image, style: CardStyle, size: tuple[int, int]) -> Image.Image:
    """A transparent product shot, contain-fitted and centred on a card of the given size."""
    card = gradient_card(style, size)
    product = scale_to(image, contain_size(image.size, (size[0] * CUTOUT_MAX_W, size[1] * CUTOUT_MAX_H)))
    card.paste(product, ((size[0] - product.width) // 2, (size[1] - product.height) // 2), product)
    return card


# --- archetypes ----------------------------------------------------------------------------------------


class KenBurnsVisual(PreparedVisual):
    """Full-frame image (PRODUCT_HERO, MEME_TEXT with an image) with eased zoom and pan."""

    def __init__(self, visual: Visual, image_file: Path, frames: range) -> None:
        super().__init__(visual, frames)
        size = self.picture_size()
        image = load_image(image_file, size[1])
        if image.mode == "RGBA":
            self.film(Picture(cutout_on_card(image, visual.card, size), size, Image.Resampling.LANCZOS))
        else:
            # Covering `size`: the closest zoom samples at least one source pixel per frame pixel.
            self.film(Picture(image, cover_size(image.size, size), Image.Resampling.LANCZOS))


class OverlayVisual(PreparedVisual):
    """The product, fitted and lifted off a blurred, darkened copy of itself that drifts with the camera.

    The product itself stays still: ffmpeg overlays it pixel-for-pixel as prepared, so labels and logos
    stay sharp (per-frame resampling would soften them).
    """

    def __init__(self, visual: Visual, image_file: Path, frames: range) -> None:
        super().__init__(visual, frames)
        image = load_image(image_file, max(PRODUCT_MAX_W * WIDTH, PRODUCT_MAX_H * HEIGHT))
        background = blurred_background(image, max_zoom(visual.motion), hex_colour(visual.card.bottom))
        enlarge = BG_DOWNSCALE * SUPERSAMPLE if self.moving else 1
        self.film(
            Picture(background, (background.width * enlarge, background.height * enlarge), Image.Resampling.BILINEAR)
        )
        self.sprite = product_sprite(image, visual.overlay_fx or OverlayFx())
        self.origin = (
            round((WIDTH - self.sprite.width) / 2),
            round(PRODUCT_CENTRE_Y * HEIGHT - self.sprite.height / 2),
        )
        if not self.moving:
            self.source.paste(self.sprite, self.origin, self.sprite)
            self.sprite = None


def blurred_background(image: Image.Image, zoom: float, matte: tuple[int, int, int]) -> Image.Image:
    """Cover-fit, heavily blurred and darkened, computed once at a fraction of the frame size (a cut-out's
    transparent parts over `matte`)."""
    flat = image if image.mode == "RGB" else flatten(image, matte)
    small = scale_to(flat, cover_size(flat.size, (WIDTH * zoom / BG_DOWNSCALE, HEIGHT * zoom / BG_DOWNSCALE)))
    blurred = small.filter(ImageFilter.GaussianBlur(BG_BLUR_RADIUS))
    return blurred.point(lambda v: round(v * BG_BRIGHTNESS))


def product_sprite(image: Image.Image, fx: OverlayFx) -> Image.Image:
    """Product (contain fit, rounded corners when it is a rectangular photo) with its glow and shadow, on a
    transparent canvas large enough for the blurred effects."""
    size = contain_size(image.size, (WIDTH * PRODUCT_MAX_W, HEIGHT * PRODUCT_MAX_H))
    product = scale_to(image, size).convert("RGBA")
    if image.mode == "RGB":
        mask = Image.new("L", size, 0)
        ImageDraw.Draw(mask).rounded_rectangle((0, 0, size[0] - 1, size[1] - 1), PRODUCT_CORNER_RADIUS, fill=255)
        product.putalpha(mask)
    pad = 2 * max(GLOW_BLUR, SHADOW_BLUR) + SHADOW_OFFSET
    canvas = Image.new("RGBA", (size[0] + 2 * pad, size[1] + 2 * pad), (0, 0, 0, 0))
    alpha = Image.new("L", canvas.size, 0)
    alpha.paste(product.getchannel("A"), (pad, pad))
    if fx.glow:
        # The blurred edge is at half strength; doubling makes the glow solid at the edge, fading outwards.
        glow_alpha = alpha.filter(ImageFilter.GaussianBlur(GLOW_BLUR)).point(
            lambda v: min(255, round(v * 2 * GLOW_OPACITY))
        )
        canvas = Image.alpha_composite(canvas, _tinted(glow_alpha, _glow_colour(product)))
    if fx.shadow:
        shadow_alpha = Image.new("L", canvas.size, 0)
        shadow_alpha.paste(alpha.filter(ImageFilter.GaussianBlur(SHADOW_BLUR)), (0, SHADOW_OFFSET))
        canvas = Image.alpha_composite(
            canvas, _tinted(shadow_alpha.point(lambda v: round(v * SHADOW_OPACITY)), (0, 0, 0))
        )
    canvas.alpha_composite(product, (pad, pad))
    return canvas


def flatten(image: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    """An RGBA image composited over a solid colour."""
    return Image.alpha_composite(Image.new("RGBA", image.size, (*colour, 255)), image).convert("RGB")


def _tinted(alpha: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    layer = Image.new("RGBA", alpha.size, colour + (0,))
    layer.putalpha(alpha)
    return layer


def _glow_colour(product: Image.Image) -> tuple[int, int, int]:
    """The product's average colour lifted towards white: a glow that belongs to the product."""
    mean = ImageStat.Stat(product.convert("RGB").resize((16, 16), Image.Resampling.BOX)).mean
    r, g, b = (round(0.4 * c + 0.6 * 255) for c in mean)
    return r, g, b


class CardVisual(PreparedVisual):
    """A designed card: the CardStyle's gradient plus optional large text. It has no camera: always still."""

    def __init__(self, visual: Visual, frames: range) -> None:
        super().__init__(visual, frames)
        self.moving = False
        self.source = gradient_card(visual.card)
        if visual.card_text.strip():
            draw_card_text(self.source, visual.card_text, visual.card)


def draw_card_text(card: Image.Image, text: str, style: CardStyle) -> None:
    """Large centred text in the card's font and colour (with the caption fallbacks, outlined in black),
    wrapped in up to 3 lines, shrunk to fit."""
    font, colour = style.font, hex_colour(style.text)

    def stroke(size: int) -> int:
        return max(2, size // 24)

    def measure_at(size: int) -> Callable[[str], float]:
        text_style = TextStyle.for_text(font, size, text)
        return lambda line: text_style.measure(line) + 2 * stroke(size)

    sizes = range(CARD_TEXT_MAX_PX, CARD_TEXT_MIN_PX - 1, -4)
    size, lines = fit_text(text, sizes, measure_at, CARD_TEXT_WIDTH, CARD_TEXT_MAX_LINES)
    text_style, line_height = TextStyle.for_text(font, size, text), round(size * 1.18)
    ascent, descent = text_style.metrics(lines)
    draw = ImageDraw.Draw(card)
    top = CARD_TEXT_CENTRE_Y - len(lines) * line_height / 2
    for i, line in enumerate(lines):
        baseline = top + (i + 0.5) * line_height + (ascent - descent) / 2
        x = (WIDTH - text_style.measure(line)) / 2
        text_style.draw_line(draw, x, baseline, line, fill=colour, stroke=stroke(size), stroke_fill=(0, 0, 0))


def prepare_visual(visual: Visual, image_file: Path | None, frames: range | None = None) -> PreparedVisual:
    """The visual prepared for `frames` (global frame numbers; by default its own)."""
    if frames is None:
        frames = range(visual.start_frame, visual.start_frame + visual.frame_count)
    if image_file is None:
        return CardVisual(visual, frames)
    if visual.archetype is Archetype.OVERLAY:
        return OverlayVisual(visual, image_file, frames)
    return KenBurnsVisual(visual, image_file, frames)
