"""Overlays: images and text drawn over a visual on every frame of it, each prepared once as an RGBA picture.

An overlay's size is its `scale` times its kind's base size:

  product_image  contain-fitted in PRODUCT_BOX (60 % of the frame width, 42 % of its height: OVERLAY's product box)
  logo           contain-fitted in LOGO_BOX (a square of 22 % of the frame width: the logo's longer side)
  graphic        contain-fitted in GRAPHIC_BOX (the whole frame)
  text           TEXT_BASE_PX font size, drawn by the caption machinery (every script, emoji, white outlined in
                 black), wrapped to the safe area's width and shrunk like a caption; placed by its ink

and never larger than the frame (a graphic at scale > 1 stays the whole frame). `opacity` scales the
picture's alpha (a transparent PNG keeps its own transparency on top of that).

Its position is an anchor inside the platforms' safe area (the zones their UI covers are left clear: see
pytoon.render.captions): `center` is the safe area's centre, a corner puts the overlay's corner in the safe
area's corner. `custom` puts the overlay's centre at (x, y), fractions of the frame, moved as little as
needed to keep the whole overlay on the frame. segment.py pastes overlays into a still visual's picture
(no per-frame work at all) or has ffmpeg overlay them on a moving one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pytoon.models import HEIGHT, WIDTH, CaptionLayout, OverlayKind, OverlayPlan
from pytoon.render.captions import UI_BOTTOM_PX, UI_SIDE_PX, UI_TOP_PX, render_caption_image
from pytoon.render.frames import contain_size, load_image, scale_to

from PIL import Image  # isort: skip  (after pytoon.render.captions, which loads libfribidi)

# Base boxes (width, height) in frame pixels, by kind; the overlay's picture is contain-fitted in scale x box.
PRODUCT_BOX = (0.60 * WIDTH, 0.42 * HEIGHT)
LOGO_BOX = (0.22 * WIDTH, 0.22 * WIDTH)
GRAPHIC_BOX = (float(WIDTH), float(HEIGHT))
BASE_BOX: dict[OverlayKind, tuple[float, float]] = {
    OverlayKind.PRODUCT_IMAGE: PRODUCT_BOX,
    OverlayKind.LOGO: LOGO_BOX,
    OverlayKind.GRAPHIC: GRAPHIC_BOX,
}
# Text: the font size at scale 1 (the "large" caption size), and the smallest size any scale draws at.
TEXT_BASE_PX = 72
TEXT_MIN_PX = 12
# The safe area overlays are anchored in: the frame less the platforms' UI zones.
SAFE_LEFT, SAFE_TOP, SAFE_RIGHT, SAFE_BOTTOM = UI_SIDE_PX, UI_TOP_PX, WIDTH - UI_SIDE_PX, HEIGHT - UI_BOTTOM_PX


@dataclass(frozen=True)
class PreparedOverlay:
    """An overlay ready to composite: RGBA `image` (its opacity applied) with its top-left corner at `origin`."""

    image: Image.Image
    origin: tuple[int, int]


def overlay_picture(overlay: OverlayPlan, image_file: Path | None, font: str) -> Image.Image:
    """The overlay drawn at its size, RGBA, opacity applied."""
    if overlay.kind is OverlayKind.TEXT:
        text = (overlay.text or "").strip()
        if not text:
            raise ValueError("A text overlay needs text")
        size = max(TEXT_MIN_PX, round(TEXT_BASE_PX * overlay.scale))
        layout = CaptionLayout(font=font, size_px=size, position="center", safe_margin_px=0, boxed=False)
        lettering, _ = render_caption_image(text, layout)
        # Trimmed to its ink (the caption's line boxes leave room above and below): anchors place the letters.
        picture = lettering.crop(lettering.getchannel("A").getbbox())
    else:
        if image_file is None:
            raise ValueError(f"A {overlay.kind.value} overlay needs an image")
        box_w, box_h = BASE_BOX[overlay.kind]
        box = (min(box_w * overlay.scale, WIDTH), min(box_h * overlay.scale, HEIGHT))
        image = load_image(image_file, max(box))
        picture = scale_to(image, contain_size(image.size, box)).convert("RGBA")
    if overlay.opacity < 1:
        alpha = picture.getchannel("A").point(lambda v: round(v * overlay.opacity))
        picture.putalpha(alpha)
    return picture


def overlay_origin(overlay: OverlayPlan, size: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of an overlay of `size` at its position (see the module docstring)."""
    w, h = size
    if overlay.position == "custom":
        cx = (0.5 if overlay.x is None else overlay.x) * WIDTH
        cy = (0.5 if overlay.y is None else overlay.y) * HEIGHT
        x, y = round(cx - w / 2), round(cy - h / 2)
    else:
        vertical, _, horizontal = overlay.position.partition("-")
        if overlay.position == "center":
            x = round((SAFE_LEFT + SAFE_RIGHT - w) / 2)
            y = round((SAFE_TOP + SAFE_BOTTOM - h) / 2)
        else:
            x = SAFE_LEFT if horizontal == "left" else SAFE_RIGHT - w
            y = SAFE_TOP if vertical == "top" else SAFE_BOTTOM - h
    return _on_frame(x, w, WIDTH), _on_frame(y, h, HEIGHT)


def _on_frame(start: int, length: int, frame: int) -> int:
    """`start` moved as little as needed for [start, start + length) to lie on [0, frame)."""
    return min(max(start, 0), frame - length) if length <= frame else (frame - length) // 2


def prepare_overlays(overlays: list[OverlayPlan], files: Mapping[str, Path], font: str) -> list[PreparedOverlay]:
    """Every visible overlay (opacity > 0) of a visual, in drawing order (later ones on top)."""
    prepared = []
    for overlay in overlays:
        if overlay.opacity <= 0:
            continue
        image_file = None
        if overlay.kind is not OverlayKind.TEXT:
            if overlay.image_key is None:
                raise ValueError(f"A {overlay.kind.value} overlay needs an image")
            try:
                image_file = files[overlay.image_key]
            except KeyError:
                raise KeyError(f"No overlay image file for key {overlay.image_key!r}") from None
        picture = overlay_picture(overlay, image_file, font)
        prepared.append(PreparedOverlay(picture, overlay_origin(overlay, picture.size)))
    return prepared


def paste_overlays(picture: Image.Image, overlays: list[PreparedOverlay]) -> None:
    """Composite the overlays into an RGB picture of the frame, in place."""
    for overlay in overlays:
        picture.paste(overlay.image, overlay.origin, overlay.image)
