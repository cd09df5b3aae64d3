"""The bundled example: product shots and a music bed generated on the spot (nothing to download)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from pytoon.fonts import font_path
from pytoon.render.ffmpeg import run_ffmpeg

DEMO_PROMPT = (
    "Meet Aurora, the bottle that keeps drinks cold for 24 hours. "
    "Brushed steel, leak-proof lid. "
    "Three colours for every day. "
    "Order yours today."
)
_COLOURS = [((28, 44, 84), (94, 160, 255)), ((72, 22, 48), (255, 120, 150)), ((16, 60, 52), (80, 220, 170))]


@dataclass(frozen=True)
class DemoAssets:
    images: list[Path]
    music: Path


def _product_shot(
    path: Path, background: tuple[int, int, int], accent: tuple[int, int, int], size: tuple[int, int]
) -> None:
    width, height = size
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    for y in range(height):  # soft vertical light falloff
        shade = int(40 * (1 - y / height))
        draw.line([(0, y), (width, y)], fill=tuple(min(255, c + shade) for c in background))
    bottle_w, bottle_h = width // 4, int(height * 0.55)
    left, top = (width - bottle_w) // 2, (height - bottle_h) // 2
    shadow = Image.new("L", size, 0)
    ImageDraw.Draw(shadow).ellipse(
        [left - 40, top + bottle_h - 30, left + bottle_w + 40, top + bottle_h + 50], fill=160
    )
    image.paste((0, 0, 0), mask=shadow.filter(ImageFilter.GaussianBlur(25)))
    draw.rounded_rectangle([left, top, left + bottle_w, top + bottle_h], radius=bottle_w // 3, fill=accent)
    draw.rounded_rectangle(
        [left + bottle_w // 4, top - bottle_h // 10, left + 3 * bottle_w // 4, top + 20],
        radius=18,
        fill=(235, 235, 240),
    )
    draw.rectangle(
        [left + bottle_w // 6, top + bottle_h // 5, left + bottle_w // 4, top + 4 * bottle_h // 5],
        fill=(255, 255, 255),
    )
    label = ImageFont.truetype(str(font_path("Bebas Neue")), size=bottle_w // 3)
    draw.text((width // 2, top + bottle_h // 2), "AURORA", font=label, fill=(255, 255, 255), anchor="mm")
    image.save(path, quality=92)


def write_demo_assets(folder: Path) -> DemoAssets:
    # Mixed sizes and orientations on purpose: the renderer must fit each without stretching.
    sizes = [(1600, 2400), (2400, 1600), (1200, 1200)]
    images = []
    for i, ((background, accent), size) in enumerate(zip(_COLOURS, sizes, strict=True)):
        path = folder / f"aurora_{i + 1}.jpg"
        _product_shot(path, background, accent, size)
        images.append(path)
    music = folder / "music.wav"
    # A gentle chord pad with a pulse: three sines, tremolo, a little echo.
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=220:duration=20",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=277.18:duration=20",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=329.63:duration=20",
            "-filter_complex",
            "[0][1][2]amix=inputs=3,tremolo=f=4:d=0.5,aecho=0.8:0.6:250:0.3,volume=2[a]",
            "-map",
            "[a]",
            "-ar",
            "48000",
            "-ac",
            "2",
            str(music),
        ],
        timeout=60,
    )
    return DemoAssets(images=images, music=music)
