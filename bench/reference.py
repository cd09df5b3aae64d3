"""The fixed reference jobs of the benchmark, and their generated inputs (deterministic, nothing downloaded).

15 s job: 5 segments, 5 images of mixed sizes up to 4096 px, captions, 150 ms crossfades, music + voice.
60 s job: 20 segments, the same inputs cycled.
V2 job: a 16 s prompt job of 8 scenes (one sentence each, all of one length, so each scene lasts 2 s), the
images with a 1920x1080 H.264 clip as the 4th scene's media, music.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from pytoon.render.ffmpeg import run_ffmpeg

IMAGE_SIZES = [(4096, 2731), (1080, 1920), (3000, 3000), (2048, 1536), (1600, 4096)]
CAPTIONS = {
    "hook": "Meet Aurora",
    "beats": ["Cold for 24 hours", "Brushed steel, leak-proof", "Three colours"],
    "cta": "Order yours today",
}
PRESET = "product_hero_clean"
V2_SENTENCES = [
    "Meet Aurora today.",
    "Cold for a day.",
    "Brushed steel body.",
    "Watch it in use.",
    "Leak-proof lid.",
    "Three new colours.",
    "Fits every bag.",
    "Order yours now.",
]
V2_CLIP_SCENE = 3  # the index of the scene whose media is the clip


@dataclass(frozen=True)
class ReferenceJob:
    name: str
    seconds: int
    images: list[Path]
    music: Path
    voice: Path


@dataclass(frozen=True)
class V2ReferenceJob:
    name: str
    seconds: int
    prompt: str
    media: list[Path]  # one per scene, in scene order
    music: Path


def _image(path: Path, size: tuple[int, int], seed: int) -> None:
    width, height = size
    image = Image.new("RGB", size, (30 + 40 * seed % 200, 40, 90 + 30 * seed % 160))
    draw = ImageDraw.Draw(image)
    for i in range(
        0, max(size), max(size) // 24
    ):  # detail everywhere, so motion and scaling cost what real photos cost
        draw.line([(i, 0), (0, i)], fill=(200, 180 - seed * 20, 120), width=max(2, width // 300))
    draw.ellipse([width // 4, height // 3, 3 * width // 4, 2 * height // 3], fill=(235, 235, 240))
    image.filter(ImageFilter.GaussianBlur(2)).save(path, quality=90)


def write_inputs(folder: Path) -> tuple[list[Path], Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for i, size in enumerate(IMAGE_SIZES):
        path = folder / f"image_{i}.jpg"
        if not path.exists():
            _image(path, size, i)
        images.append(path)
    music, voice = folder / "music.mp3", folder / "voice.wav"
    if not music.exists():
        run_ffmpeg(
            [
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=196:duration=30",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=294:duration=30",
                "-filter_complex",
                "[0][1]amix=inputs=2,tremolo=f=2:d=0.6[a]",
                "-map",
                "[a]",
                "-ac",
                "2",
                str(music),
            ],
            timeout=120,
        )
    if not voice.exists():
        # Speech-like bursts: band-limited noise switched on and off, so ducking has something to follow.
        run_ffmpeg(
            [
                "-f",
                "lavfi",
                "-i",
                "anoisesrc=d=12:c=pink:a=0.5",
                "-af",
                "bandpass=f=900:width_type=h:w=1400,volume='if(lt(mod(t,3),2),1,0)':eval=frame",
                "-ac",
                "1",
                str(voice),
            ],
            timeout=120,
        )
    return images, music, voice


def reference_jobs(folder: Path) -> list[ReferenceJob]:
    images, music, voice = write_inputs(folder)
    return [
        ReferenceJob("15s-5seg", 15, images, music, voice),
        ReferenceJob("60s-20seg", 60, images, music, voice),
    ]


def write_clip(path: Path, seconds: int = 4) -> Path:
    """A landscape phone-like clip: 1920x1080 H.264 at 30 fps with motion in every frame, no audio."""
    if not path.exists():
        run_ffmpeg(
            ["-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}", "-c:v", "libx264",
             "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", str(path)],
            timeout=120,
        )  # fmt: skip
    return path


def v2_reference_job(folder: Path) -> V2ReferenceJob:
    images, music, _ = write_inputs(folder)
    media: list[Path] = [images[i % len(images)] for i in range(len(V2_SENTENCES) - 1)]
    media.insert(V2_CLIP_SCENE, write_clip(folder / "clip.mp4"))
    return V2ReferenceJob("v2-8scene", 2 * len(V2_SENTENCES), " ".join(V2_SENTENCES), media, music)
