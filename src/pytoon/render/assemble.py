"""Final assembly: join the segments by stream copy, add the audio track, write output.mp4.

The video is never re-encoded here: segments were encoded with identical settings so the concat demuxer
can join them packet for packet (about 0.2 s for 30 s of video instead of a full encode). Nor is it decoded:
the thumbnail is drawn by the segment that shows its frame (see thumbnail_segment).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from pytoon.models import FPS, RenderPlan
from pytoon.render.audio import AudioFacts
from pytoon.render.ffmpeg import media_input, output_target, run_ffmpeg
from pytoon.render.probe import Loudness, MediaInfo, count_video_frames, probe_media

ASSEMBLY_TIMEOUT_S = 300.0
OUTPUT_NAME = "output.mp4"


class AssemblyError(RuntimeError):
    pass


class OutputFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    output_path: Path
    media: MediaInfo
    frame_count: int
    duration_seconds: float
    loudness: Loudness
    loudness_on_target: bool
    # Seconds per assembly step: mux (concat + audio), verify.
    timings: dict[str, float]


def write_concat_list(segment_files: Sequence[Path]) -> Path:
    """The concat demuxer's list, next to the segments and naming them relatively, so the demuxer's
    default safe mode (no absolute paths, no protocols) accepts it."""
    folders = {path.parent.resolve() for path in segment_files}
    if len(folders) != 1:
        raise AssemblyError("All segment files must be in one directory")
    handle, name = tempfile.mkstemp(dir=folders.pop(), prefix=".concat-", suffix=".txt")
    with os.fdopen(handle, "w") as listing:
        for path in segment_files:
            quoted = path.name.replace("'", "'\\''")
            listing.write(f"file '{quoted}'\n")
    return Path(name)


def thumbnail_frame(plan: RenderPlan) -> int:
    """A representative frame: the middle of the first caption (the hook is on screen), else 1 s in, and
    never past the end (a 1 s video gets its middle frame)."""
    if plan.captions:
        first = min(plan.captions, key=lambda cue: cue.start_frame)
        frame = (first.start_frame + first.end_frame) // 2
    else:
        frame = min(FPS, plan.total_frames // 2)
    return max(0, min(frame, plan.total_frames - 1))


def thumbnail_segment(plan: RenderPlan) -> tuple[int, int]:
    """The index of the segment that shows the thumbnail frame, and the frame's number in it. That segment's
    render draws the thumbnail: the output carries the segments' frames unchanged."""
    frame = thumbnail_frame(plan)
    for segment in plan.segments:
        if segment.start_frame <= frame < segment.start_frame + segment.frame_count:
            return segment.index, frame - segment.start_frame
    raise AssemblyError(f"No segment of the plan shows frame {frame}")


def assemble_output(segment_files: Sequence[Path], plan: RenderPlan, audio: AudioFacts, out_dir: Path) -> OutputFacts:
    """Join the segments by stream copy, mux the soundtrack `build_audio` made, verify."""
    if not segment_files:
        raise AssemblyError("No segments to assemble")
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / OUTPUT_NAME
    timings: dict[str, float] = {}
    duration = plan.total_frames / FPS

    started = time.perf_counter()
    listing = write_concat_list(segment_files)
    partial = out_dir / f".{OUTPUT_NAME}.partial"
    try:
        _mux(listing, audio.path, duration, partial)
        timings["mux"] = time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe") as probing:
            # Two ffmpeg runs reading the same file, on two cores.
            probed = probing.submit(probe_media, partial)
            frames = count_video_frames(partial)
            media = probed.result()
        if frames != plan.total_frames:
            raise AssemblyError(f"Joined video has {frames} frames, the plan has {plan.total_frames}")
        timings["verify"] = time.perf_counter() - started
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
        listing.unlink(missing_ok=True)
    return OutputFacts(
        output_path=output,
        media=media,
        frame_count=frames,
        duration_seconds=duration,
        loudness=audio.loudness,
        loudness_on_target=audio.loudness_on_target,
        timings=timings,
    )


def _mux(listing: Path, audio: Path, duration: float, target: Path) -> None:
    run_ffmpeg(
        ["-f", "concat", *media_input(listing), *media_input(audio),
         "-map", "0:v:0", "-map", "1:a:0", "-c", "copy",
         "-t", f"{duration:.6f}", "-movflags", "+faststart", "-map_metadata", "-1",
         "-f", "mp4", "-y", output_target(target)],
        timeout=ASSEMBLY_TIMEOUT_S, label="assembly",
    )  # fmt: skip
