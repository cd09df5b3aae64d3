"""The clips the fake engines deliver: real H.264 MP4s of one flat colour, so a test can find their frames."""

from __future__ import annotations

from pathlib import Path

from pytoon.render.ffmpeg import output_target, run_ffmpeg

# A few seconds of one colour at 720p encode in well under a second.
ENCODE_TIMEOUT_SECONDS = 60.0


def solid_clip(path: Path, *, seconds: float, fps: int, size: tuple[int, int], colour: tuple[int, int, int]) -> Path:
    """An MP4 of `seconds` at `fps`, every frame `colour` (RGB), written with the bundled ffmpeg."""
    red, green, blue = colour
    width, height = size
    source = f"color=c=0x{red:02x}{green:02x}{blue:02x}:s={width}x{height}:r={fps}:d={seconds}"
    run_ffmpeg(
        ["-f", "lavfi", "-i", source, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
         "-y", output_target(path)],
        timeout=ENCODE_TIMEOUT_SECONDS,
    )  # fmt: skip
    return path
