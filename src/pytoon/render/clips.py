"""Video clips as segment visuals: the ffmpeg input and filters that turn any accepted clip (MP4/MOV/WebM, any
frame rate, size and rotation, with or without audio) into 1080x1920 frames at 30 fps CFR.

Clip frame j (its 30 fps timeline: frame 0 is the clip's first frame) shows on global frame
`visual.start_frame + j`; after its last frame the clip holds that frame. The chain, per segment:

  -ss (input seek, only when the frames wanted start well into the clip) -> autorotate (ffmpeg's own)
  -> fps=30 (from t=0: a late first frame is repeated back to 0) -> hold the last frame (tpad)
  -> trim to the frames wanted -> centre crop to 9:16 (display aspect, so anamorphic clips keep their shape)
  -> scale to 1080x1920, BT.709 limited range, 4:2:0

The crop comes before the scale, so only the part that is shown is resampled; a 1080x1920 clip is not
resampled at all. The clip's audio, subtitles and data streams are not even read, and decoding stops
with the last frame wanted. A clip visual has no camera (its `motion` does not apply: the footage moves
on its own) and its archetype does not change how it is drawn. Colours are converted by matrix and range
to BT.709 limited range (an untagged clip is read as BT.601, as ffmpeg does); HDR transfer curves (PQ,
HLG) are not tone-mapped.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

from pytoon.models import FPS, HEIGHT, WIDTH
from pytoon.render.ffmpeg import BT709_TV, media_input, run_ffmpeg

# Seek this many frames before the first frame wanted (decoded and dropped), so the frame-rate conversion
# lands on the same clip frames as a run from the start; and never closer to the clip's end than this, so a
# seek always finds frames to hold.
SEEK_LEAD_FRAMES = 3
SEEK_END_MARGIN_FRAMES = 15
SCAN_TIMEOUT_S = 120.0


def video_end_seconds(path: Path) -> float | None:
    """Where the clip's first video stream ends (last packet's time plus duration, on the timeline `-ss`
    seeks on), from its packets without decoding anything; None if it has none."""
    result = run_ffmpeg(
        [*media_input(path), "-map", "0:V:0", "-c", "copy", "-f", "framecrc", "pipe:1"],
        timeout=SCAN_TIMEOUT_S,
        label="clip scan",
    )
    time_base: Fraction | None = None
    end = None
    for line in result.stdout.decode("ascii", "replace").splitlines():
        if line.startswith("#tb 0:"):
            time_base = Fraction(line.split(":", 1)[1].strip())
        elif line and not line.startswith("#"):
            _, _, pts, duration, *_ = (field.strip() for field in line.split(","))
            end = max(end or 0, int(pts) + int(duration))
    if time_base is None or end is None:
        return None
    return float(end * time_base)


def clip_source(path: Path, first: int, count: int) -> tuple[list[str], str]:
    """Input options and filters for clip frames [first, first + count): the `-i` arguments, and the chain
    that follows the input's video stream label (ending in yuv420p, 1080x1920, 30 fps, `count` frames)."""
    first = max(first, 0)
    seek = max(first - SEEK_LEAD_FRAMES, 0)
    if seek:
        end = video_end_seconds(path)
        seek = max(0, min(seek, math.floor((end or 0) * FPS) - SEEK_END_MARGIN_FRAMES))
    options = ["-an", "-sn", "-dn"] + (["-ss", f"{seek / FPS:.6f}"] if seek else [])
    skip = first - seek
    shown = [
        # The 9:16 middle of the picture as displayed (a pixel is `sar` wide), then scaled to the frame.
        f"crop=w='min(iw,ih*{WIDTH}/{HEIGHT}/sar)':h='min(ih,iw*sar*{HEIGHT}/{WIDTH})'",
        f"scale={WIDTH}:{HEIGHT}:flags=bicubic:{BT709_TV}",
        "setsar=1",
        "format=yuv420p",
    ]
    hold = "tpad=stop=-1:stop_mode=clone"
    if skip:
        # The wanted frames may lie past the clip's end: hold before trimming (held frames are each scaled,
        # but this is only a transition's few frames of a clip that is over).
        chain = [f"fps={FPS}:start_time=0", hold, f"trim=start_frame={skip}:end_frame={skip + count}"]
        chain += ["setpts=PTS-STARTPTS", *shown]
    else:
        # Decode and scale at most `count` frames; a short clip's last frame is then repeated as it is.
        chain = [f"fps={FPS}:start_time=0", f"trim=end_frame={count}", *shown, hold, f"trim=end_frame={count}"]
    return media_input(path, *options), ",".join(chain)
