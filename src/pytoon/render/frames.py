"""One visual as a function of the global frame number.

`prepare_visual` does all per-image work once (decode, EXIF orientation, scaling, blur, shadows, text);
`PreparedVisual.frame` then only resamples and pastes, so a frame costs a few tens of milliseconds.

Camera motion resamples a pre-scaled source with `Image.resize(..., box=...)`: an affine scale-and-
translate from a fractional source box, so it is sub-pixel smooth. Being separable it costs about half
of `Image.transform(AFFINE, BILINEAR)` (measured: ~25 vs ~55 ms a frame), and it low-pass filters when it
shrinks, so fine textures do not shimmer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from pytoon.fonts import font_path
from pytoon.models import HEIGHT, WIDTH, Archetype, Motion, OverlayFx, Visual
from pytoon.render.captions import fit_text, load_font

FRAME_SIZE = (WIDTH, HEIGHT)
IMAGE_FORMATS = ["PNG", "JPEG", "WEBP"]
# Full-frame images are pre-scaled for the closest zoom, so each frame shrinks them by 1-1.15x. There
# the box filter is exact area averaging (plain linear interpolation at 1x), as smooth as bilinear, whose
# kernel widens with the shrink factor and costs ~25% more. The blurred OVERLAY background is enlarged
# 4x per frame, which needs a real interpolating filter: bilinear.
SHRINK_FILTER = Image.Resampling.BOX
ENLARGE_FILTER = Image.Resampling.BILINEAR

# Styled cards (no image, or behind a cut-out product): a vertical gradient between two dark tones.
CARD_TOP = (44, 38, 84)
CARD_BOTTOM = (12, 12, 26)
CARD_FONT = "Anton"
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
# The blurred background is computed at 1/BG_DOWNSCALE of the frame size, then upscaled per frame.
BG_DOWNSCALE = 4
BG_BLUR_RADIUS = 14  # at the downscaled size: ~56 px at full size
BG_BRIGHTNESS = 0.55


class PreparedVisual:
    """A visual ready to draw: `frame(f)` returns a new RGB 1080x1920 image for global frame f."""

    def __init__(self, visual: Visual) -> None:
        self.visual = visual
        # Set when the picture never changes (a card, a camera that does not move): drawn once, copied.
        self.still: Image.Image | None = None

    def progress(self, global_frame: int) -> float:
        """Eased motion progress in [0, 1]. Frames past the end (the next segment's crossfade) hold the
        last position: smoothstep has zero speed at 1, so holding there is seamless."""
        span = max(1, self.visual.frame_count - 1)
        p = min(max((global_frame - self.visual.start_frame) / span, 0.0), 1.0)
        return p * p * (3.0 - 2.0 * p)

    def frame(self, global_frame: int) -> Image.Image:
        if self.still is not None:
            return self.still.copy()
        return self.draw(Camera.at(self.visual.motion, self.progress(global_frame)))

    def draw(self, camera: Camera) -> Image.Image:
        raise NotImplementedError

    def hold_if_static(self) -> None:
        """A camera that never moves sees one picture: draw it once."""
        start, end = Camera.at(self.visual.motion, 0.0), Camera.at(self.visual.motion, 1.0)
        if start == end:
            self.still = self.draw(start)


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
        upright = ImageOps.exif_transpose(image)
        has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
        converted = upright.convert("RGBA" if has_alpha else "RGB")
    if not has_transparency(converted):
        return converted if converted.mode == "RGB" else converted.convert("RGB")
    visible = converted.getchannel("A").getbbox()
    return converted.crop(visible) if visible else converted


def has_transparency(image: Image.Image) -> bool:
    return image.mode == "RGBA" and image.getchannel("A").getextrema()[0] < 255


def scale_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def cover_size(image_size: tuple[int, int], box: tuple[float, float]) -> tuple[int, int]:
    scale = max(box[0] / image_size[0], box[1] / image_size[1])
    return max(1, round(image_size[0] * scale)), max(1, round(image_size[1] * scale))


def contain_size(image_size: tuple[int, int], box: tuple[float, float]) -> tuple[int, int]:
    scale = min(box[0] / image_size[0], box[1] / image_size[1])
    return max(1, round(image_size[0] * scale)), max(1, round(image_size[1] * scale))


def gradient_card(size: tuple[int, int] = FRAME_SIZE) -> Image.Image:
    ramp = np.linspace(0.0, 1.0, size[1], dtype=np.float32)[:, None]
    column = np.array(CARD_TOP, np.float32) * (1 - ramp) + np.array(CARD_BOTTOM, np.float32) * ramp
    strip = Image.fromarray(np.round(column).astype(np.uint8)[:, None, :].repeat(1, axis=1), "RGB")
    return strip.resize(size, Image.Resampling.NEAREST)


def cutout_on_card(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A transparent product shot, contain-fitted and centred on a dark card of the given size."""
    card = gradient_card(size)
    product = scale_to(image, contain_size(image.size, (size[0] * CUTOUT_MAX_W, size[1] * CUTOUT_MAX_H)))
    card.paste(product, ((size[0] - product.width) // 2, (size[1] - product.height) // 2), product)
    return card


# --- archetypes ----------------------------------------------------------------------------------------


class KenBurnsVisual(PreparedVisual):
    """Full-frame image (PRODUCT_HERO, MEME_TEXT with an image) with eased zoom and pan."""

    def __init__(self, visual: Visual, image: Image.Image) -> None:
        super().__init__(visual)
        zoom = max_zoom(visual.motion)
        target = (WIDTH * zoom, HEIGHT * zoom)
        if image.mode == "RGBA":
            self.source = cutout_on_card(image, (round(target[0]), round(target[1])))
        else:
            # Sized so the closest zoom samples ~1 source pixel per output pixel: no upscaling blur.
            self.source = scale_to(image, cover_size(image.size, target))
        self.hold_if_static()

    def draw(self, camera: Camera) -> Image.Image:
        return self.source.resize(FRAME_SIZE, SHRINK_FILTER, box=camera.window(self.source.size))


class OverlayVisual(PreparedVisual):
    """The product, fitted and lifted off a blurred, darkened copy of itself that drifts with the camera.

    The product itself stays still: it is pasted pixel-for-pixel as prepared, so labels and logos stay
    sharp (per-frame resampling would soften them), and the frame costs one background resample.
    """

    def __init__(self, visual: Visual, image: Image.Image) -> None:
        super().__init__(visual)
        self.background = blurred_background(image, max_zoom(visual.motion))
        self.sprite = product_sprite(image, visual.overlay_fx or OverlayFx())
        self.origin = (
            round((WIDTH - self.sprite.width) / 2),
            round(PRODUCT_CENTRE_Y * HEIGHT - self.sprite.height / 2),
        )
        self.hold_if_static()

    def draw(self, camera: Camera) -> Image.Image:
        frame = self.background.resize(FRAME_SIZE, ENLARGE_FILTER, box=camera.window(self.background.size))
        frame.paste(self.sprite, self.origin, self.sprite)
        return frame


def blurred_background(image: Image.Image, zoom: float) -> Image.Image:
    """Cover-fit, heavily blurred and darkened, computed once at a fraction of the frame size."""
    flat = image if image.mode == "RGB" else flatten(image, CARD_BOTTOM)
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
    mean = np.asarray(product.convert("RGB").resize((16, 16), Image.Resampling.BOX), np.float32).mean((0, 1))
    r, g, b = (round(0.4 * c + 0.6 * 255) for c in mean)
    return r, g, b


class CardVisual(PreparedVisual):
    """A styled card: dark gradient plus optional large text. Static, so it is drawn once."""

    def __init__(self, visual: Visual) -> None:
        super().__init__(visual)
        self.still = gradient_card()
        if visual.card_text.strip():
            draw_card_text(self.still, visual.card_text)


def draw_card_text(card: Image.Image, text: str) -> None:
    """Large centred text in the card font, wrapped in up to 3 lines, shrunk to fit."""
    font_file = str(font_path(CARD_FONT))

    def stroke(size: int) -> int:
        return max(2, size // 24)

    def measure_at(size: int) -> Callable[[str], float]:
        font = load_font(font_file, size)
        return lambda line: font.getlength(line) + 2 * stroke(size)

    sizes = range(CARD_TEXT_MAX_PX, CARD_TEXT_MIN_PX - 1, -4)
    size, lines = fit_text(text, sizes, measure_at, CARD_TEXT_WIDTH, CARD_TEXT_MAX_LINES)
    font, line_height = load_font(font_file, size), round(size * 1.18)
    draw = ImageDraw.Draw(card)
    top = CARD_TEXT_CENTRE_Y - len(lines) * line_height / 2
    for i, line in enumerate(lines):
        draw.text(
            (WIDTH / 2, top + (i + 0.5) * line_height),
            line,
            font=font,
            fill=(255, 255, 255),
            anchor="mm",
            stroke_width=stroke(size),
            stroke_fill=(0, 0, 0),
        )


def prepare_visual(visual: Visual, image_file: Path | None) -> PreparedVisual:
    if image_file is None:
        return CardVisual(visual)
    if visual.archetype is Archetype.OVERLAY:
        return OverlayVisual(visual, load_image(image_file, max(PRODUCT_MAX_W * WIDTH, PRODUCT_MAX_H * HEIGHT)))
    return KenBurnsVisual(visual, load_image(image_file, HEIGHT * max_zoom(visual.motion)))
