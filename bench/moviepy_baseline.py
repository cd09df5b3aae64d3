"""The reference job written the way MoviePy users write it (runs in bench/.venv-moviepy).

moviepy_baseline.py JOB INPUTS OUT.mp4
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from moviepy import AudioFileClip, CompositeAudioClip, CompositeVideoClip, ImageClip, TextClip, afx, vfx

WIDTH, HEIGHT, FPS = 1080, 1920, 30
CAPTIONS = [
    "Meet Aurora",
    "Cold for 24 hours",
    "Brushed steel, leak-proof",
    "Three colours",
    "Order yours today",
]
OVERLAP = 5 / FPS


def cover_clip(path: Path, start: float, duration: float) -> ImageClip:
    clip = ImageClip(str(path)).with_duration(duration)
    scale = max(WIDTH / clip.w, HEIGHT / clip.h)
    clip = clip.resized(scale)
    clip = clip.cropped(x_center=clip.w / 2, y_center=clip.h / 2, width=WIDTH, height=HEIGHT)
    clip = clip.resized(lambda t: 1 + 0.08 * t / duration).with_position("center")
    return clip.with_start(start).with_effects([vfx.CrossFadeIn(OVERLAP)] if start else [])


def main() -> None:
    job, inputs, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    seconds = 15 if job.startswith("15") else 60
    font = (
        Path(sys.argv[4])
        if len(sys.argv) > 4
        else next(Path(__file__).parent.parent.glob("src/pytoon/fonts/Inter-SemiBold.ttf"))
    )
    images = sorted(inputs.glob("image_*.jpg"))
    count = seconds // 3
    clips = [
        cover_clip(images[i % len(images)], max(0.0, 3 * i - OVERLAP), 3 + (OVERLAP if i else 0)) for i in range(count)
    ]
    slot = seconds / len(CAPTIONS)
    for i, text in enumerate(CAPTIONS):
        caption = TextClip(
            font=str(font),
            text=text,
            font_size=56,
            color="white",
            stroke_color="black",
            stroke_width=3,
            method="caption",
            size=(900, None),
        )
        clips.append(caption.with_start(i * slot).with_duration(slot).with_position(("center", HEIGHT - 420)))
    video = CompositeVideoClip(clips, size=(WIDTH, HEIGHT)).with_duration(seconds)
    music = AudioFileClip(str(inputs / "music.mp3")).with_effects(
        [afx.AudioLoop(duration=seconds), afx.AudioFadeOut(1.5)]
    )
    voice = AudioFileClip(str(inputs / "voice.wav"))
    video = video.with_audio(CompositeAudioClip([music.with_volume_scaled(0.126), voice.with_volume_scaled(0.5)]))
    started = time.monotonic()
    video.write_videofile(
        str(out), fps=FPS, codec="libx264", preset="veryfast", audio_codec="aac", threads=2, logger=None
    )
    print(json.dumps({"seconds": time.monotonic() - started}))


if __name__ == "__main__":
    main()
