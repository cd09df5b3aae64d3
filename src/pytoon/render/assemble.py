"""Final assembly: join the segments by stream copy, add the audio track, write output.mp4 and a thumbnail.

The video is never re-encoded here: segments were encoded with identical settings so the concat demuxer
can join them packet for packet (about 0.2 s for 30 s of video instead of a full encode).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from PIL import Image
from pydantic import BaseModel, ConfigDict

from pytoon.models import FPS, HEIGHT, WIDTH, RenderPlan
from pytoon.render.audio import AudioFacts
from pytoon.render.ffmpeg import media_input, output_target, run_ffmpeg
from pytoon.render.probe import Loudness, MediaInfo, count_video_frames, probe_media

ASSEMBLY_TIMEOUT_S = 300.0
THUMBNAIL_QUALITY = 90
OUTPUT_NAME, THUMBNAIL_NAME = "output.mp4", "thumbnail.jpg"


class AssemblyError(RuntimeError):
    pass


class OutputFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    output_path: Path
    thumbnail_path: Path
    media: MediaInfo
    frame_count: int
    duration_seconds: float
    loudness: Loudness
    loudness_on_target: bool
    # Seconds per assembly step: mux (concat + audio), verify, thumbnail.
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


def thumbnail_source(segment_files: Sequence[Path], plan: RenderPlan) -> tuple[Path, int]:
    """The segment file that shows the thumbnail frame, and the frame's number in it. The output carries the
    segments' packets unchanged and every segment starts on a keyframe, so this decodes the output's pixels."""
    frame = thumbnail_frame(plan)
    for path, segment in zip(segment_files, plan.segments, strict=False):
        if segment.start_frame <= frame < segment.start_frame + segment.frame_count:
            return path, frame - segment.start_frame
    raise AssemblyError(f"No segment of the plan shows frame {frame}")


def assemble_output(segment_files: Sequence[Path], plan: RenderPlan, audio: AudioFacts, out_dir: Path) -> OutputFacts:
    """Join the segments by stream copy, mux the soundtrack `build_audio` made, verify, write a thumbnail."""
    if not segment_files:
        raise AssemblyError("No segments to assemble")
    out_dir.mkdir(parents=True, exist_ok=True)
    output, thumbnail = out_dir / OUTPUT_NAME, out_dir / THUMBNAIL_NAME
    timings: dict[str, float] = {}
    duration = plan.total_frames / FPS

    def thumbnail_from_its_segment() -> None:
        started = time.perf_counter()
        write_thumbnail(*thumbnail_source(segment_files, plan), thumbnail)
        timings["thumbnail"] = time.perf_counter() - started

    started = time.perf_counter()
    listing = write_concat_list(segment_files)
    partial = out_dir / f".{OUTPUT_NAME}.partial"
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbnail") as thumbnailing:
        # Decoded from its segment on another core while the segments are joined and checked.
        thumbnail_written = thumbnailing.submit(thumbnail_from_its_segment)
        try:
            _mux(listing, audio.path, duration, partial)
            timings["mux"] = time.perf_counter() - started

            started = time.perf_counter()
            frames = count_video_frames(partial)
            if frames != plan.total_frames:
                raise AssemblyError(f"Joined video has {frames} frames, the plan has {plan.total_frames}")
            media = probe_media(partial)
            timings["verify"] = time.perf_counter() - started
            thumbnail_written.result()
            os.replace(partial, output)
        except BaseException:
            wait([thumbnail_written])
            thumbnail.unlink(missing_ok=True)  # nothing is published unless everything is
            raise
        finally:
            partial.unlink(missing_ok=True)
            listing.unlink(missing_ok=True)
    return OutputFacts(
        output_path=output,
        thumbnail_path=thumbnail,
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


def write_thumbnail(video: Path, frame: int, target: Path) -> None:
    """Decode one frame to RGB (BT.709, limited range, as the segments were encoded) and save a JPEG."""
    result = run_ffmpeg(
        [*media_input(video, "-ss", f"{frame / FPS:.6f}"), "-frames:v", "1",
         "-vf", "scale=in_color_matrix=bt709:in_range=tv,format=rgb24",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
        timeout=ASSEMBLY_TIMEOUT_S, label="thumbnail",
    )  # fmt: skip
    if len(result.stdout) != WIDTH * HEIGHT * 3:
        raise AssemblyError(f"Thumbnail extraction returned {len(result.stdout)} bytes, not one frame")
    partial = target.with_name(f".{target.name}.partial")
    Image.frombytes("RGB", (WIDTH, HEIGHT), result.stdout).save(
        partial, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True
    )
    os.replace(partial, target)
