"""Render one segment in one ffmpeg run: Python prepares each picture once, ffmpeg draws every frame.

The filter graph for a segment of N frames:

  visual     raw RGB picture -> BT.709 YUV, once -> `loop`: N frames of that one decoded picture
             moving camera: -> crop the frame's window -> area-scale to 1080x1920 (see frames.py)
             OVERLAY: -> overlay the product sprite
  crossfade  the previous visual overlaid on the first n frames, its alpha fading out
  captions   each caption overlaid on the frames its cue covers
  -> x264 with the settings every segment shares
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from PIL import Image
from pydantic import BaseModel, ConfigDict

from pytoon.models import FPS, HEIGHT, WIDTH, CaptionLayout, SegmentPlan, Visual
from pytoon.render.captions import render_caption_image
from pytoon.render.ffmpeg import (
    FfmpegError,
    filtered_segment_args,
    media_input,
    output_target,
    rgb_to_yuv,
    run_ffmpeg,
)
from pytoon.render.frames import PreparedVisual, Window, prepare_visual

SEGMENT_TIMEOUT_S = 300.0
RAW_PIX_FMTS = {"RGB": "rgb24", "RGBA": "rgba"}


class SegmentFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    path: Path
    frames: int
    duration_seconds: float
    render_seconds: float


def image_file_for(visual: Visual, image_files: Mapping[str, Path]) -> Path | None:
    if visual.image_key is None:
        return None
    try:
        return image_files[visual.image_key]
    except KeyError:
        raise KeyError(f"No image file for key {visual.image_key!r}") from None


def crossfade_alpha(k: int, crossfade_frames: int) -> float:
    """Weight of the incoming visual on the k-th crossfade frame: 1/(n+1) .. n/(n+1), so every crossfade
    frame is a true mix and neither the first nor the last equals a neighbour."""
    return (k + 1) / (crossfade_frames + 1)


class Graph:
    """One segment's ffmpeg inputs and filter chains. Pictures are written to `work` as raw files and
    each becomes a single-frame input: decoded once, however many frames show it."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.inputs: list[str] = []
        self.chains: list[str] = []
        self._pictures = 0

    def picture(self, image: Image.Image, filters: str) -> str:
        """Add `image` (RGB or RGBA) as an input; returns the label of its stream after `filters`."""
        index = self._pictures
        self._pictures += 1
        path = self.work / f"picture_{index}.{image.mode.lower()}"
        path.write_bytes(image.tobytes())
        # fmt: off
        self.inputs += media_input(
            path,
            "-f", "rawvideo",
            "-pix_fmt", RAW_PIX_FMTS[image.mode],
            "-video_size", f"{image.width}x{image.height}",
            "-framerate", str(FPS),
        )
        # fmt: on
        return self.chain(f"[{index}:v]{filters}")

    def chain(self, filters: str) -> str:
        """Add a filter chain (starting with its input labels); returns the label of its output."""
        label = f"[s{len(self.chains)}]"
        self.chains.append(filters + label)
        return label

    def script(self) -> str:
        return ";\n".join(self.chains)


def visual_stream(graph: Graph, prepared: PreparedVisual, name: str, pix_fmt: str = "yuv420p") -> str:
    """A stream of the visual in `pix_fmt`: one frame for each of `prepared.frames`."""
    repeat = f"loop=loop={len(prepared.frames) - 1}:size=1"
    if not prepared.moving:
        # The finished frame, converted once and repeated: no per-frame work at all.
        return graph.picture(prepared.source, f"{rgb_to_yuv(pix_fmt)},{repeat}")
    # 4:4:4 until the frame is scaled, so a window can start on any pixel (4:2:0 snaps crops to even ones).
    picture = graph.picture(prepared.source, f"{rgb_to_yuv('yuv444p')},{repeat}")
    if prepared.sprite is None:
        return graph.chain(f"{picture}{camera(prepared.windows, name)},format={pix_fmt}")
    background = graph.chain(f"{picture}{camera(prepared.windows, name)},format=yuv444p")
    sprite = graph.picture(prepared.sprite, rgb_to_yuv("yuva444p"))
    x, y = prepared.origin
    # Composed in 4:4:4, then subsampled: the coloured product's soft edges mix as they would in RGB.
    return graph.chain(f"{background}{sprite}overlay=x={x}:y={y}:format=yuv444,scale=flags=area,format={pix_fmt}")


def camera(windows: list[Window], name: str) -> str:
    """Filters cropping each frame's window and area-averaging it down to the frame size.

    crop evaluates its size once, so `sendcmd` sets each frame's window as that frame passes (commands for
    frame i fire from i - 0.5 frames: its timestamp is i frames). A window of a new size changes crop's
    output link in place, where scale would not notice; the `null` behind crop keeps a link at the first
    size, against which scale sees each new size and re-initialises for it.
    """
    target = f"crop@{name}"
    commands = [
        f"{(i - 0.5) / FPS:.6f} {target} w {w}, {target} h {h}, {target} x {x}, {target} y {y};"
        for i, (x, y, w, h) in enumerate(windows)
        if i and windows[i] != windows[i - 1]
    ]
    filters = [f"sendcmd=c='{' '.join(commands)}'"] if commands else []
    x, y, w, h = windows[0]
    filters += [f"{target}=w={w}:h={h}:x={x}:y={y}", "null", f"scale={WIDTH}:{HEIGHT}:flags=area"]
    return ",".join(filters)


def crossfade(graph: Graph, outgoing: str, incoming: str, frames: int) -> str:
    """The first `frames` frames of the incoming stream with the outgoing one blended over them.

    The outgoing stream (YUVA, starting one frame before the segment) fades its alpha out linearly over
    frames + 1 frames; without its first frame, frame k keeps (frames - k) / (frames + 1) of it, so the
    incoming stream weighs crossfade_alpha(k) = (k + 1) / (frames + 1). Then the outgoing stream ends and
    the incoming one passes on untouched. (xfade would do this only in 4:4:4, converting every frame.)
    """
    fading = f"fade=type=out:nb_frames={frames + 1}:alpha=1,trim=start_frame=1,setpts=PTS-STARTPTS"
    faded = graph.chain(f"{outgoing}{fading}")
    return graph.chain(f"{incoming}{faded}overlay=eof_action=pass")


def on_even_pixels(image: Image.Image, position: tuple[int, int]) -> tuple[Image.Image, tuple[int, int]]:
    """The RGBA image and position, with a transparent column or row in front if needed to put it on even
    coordinates: a 4:2:0 overlay rounds its position down to even pixels (its chroma grid)."""
    x, y = position
    dx, dy = x % 2, y % 2
    if not (dx or dy):
        return image, position
    padded = Image.new("RGBA", (image.width + dx, image.height + dy), (0, 0, 0, 0))
    padded.paste(image, (dx, dy))
    return padded, (x - dx, y - dy)


def segment_command(plan: SegmentPlan, layout: CaptionLayout, image_files: Mapping[str, Path], work: Path) -> list[str]:
    """ffmpeg inputs, graph and mapping that draw the segment's frames (output options go after them).
    The pictures and the graph script are written to `work`."""
    frames = range(plan.start_frame, plan.start_frame + plan.frame_count)
    graph = Graph(work)
    visual = prepare_visual(plan.visual, image_file_for(plan.visual, image_files), frames)
    stream = visual_stream(graph, visual, "camera")
    fade = min(plan.crossfade_frames, plan.frame_count) if plan.crossfade_from else 0
    if plan.crossfade_from is not None and fade:
        outgoing_frames = range(frames.start - 1, frames.start + fade)
        outgoing = prepare_visual(
            plan.crossfade_from, image_file_for(plan.crossfade_from, image_files), outgoing_frames
        )
        stream = crossfade(graph, visual_stream(graph, outgoing, "outgoing", "yuva420p"), stream, fade)
    for cue in plan.captions:
        if not cue.text.strip() or cue.start_frame >= frames.stop or cue.end_frame <= frames.start:
            continue
        image, (x, y) = on_even_pixels(*render_caption_image(cue.text, layout))
        first, last = max(cue.start_frame, frames.start), min(cue.end_frame, frames.stop) - 1
        # Captions are white and black (no chroma), so blending them in 4:2:0 equals blending in RGB.
        caption = graph.picture(image, rgb_to_yuv("yuva420p"))
        shown = f"enable='between(n,{first - frames.start},{last - frames.start})'"
        stream = graph.chain(f"{stream}{caption}overlay=x={x}:y={y}:{shown}")
    script = work / "graph.txt"
    script.write_text(graph.script())
    # fmt: off
    return [
        *graph.inputs,
        # One thread per filter: the graph costs a fraction of x264, which has the other cores.
        "-filter_complex_threads", "1",
        "-/filter_complex", output_target(script),
        "-map", stream,
        "-frames:v", str(plan.frame_count),
    ]
    # fmt: on


def render_segment(
    plan: SegmentPlan,
    layout: CaptionLayout,
    image_files: Mapping[str, Path],
    out_path: Path,
    *,
    timeout: float = SEGMENT_TIMEOUT_S,
) -> SegmentFacts:
    """Encode the segment to out_path (published atomically: complete or absent) within `timeout`."""
    started = time.perf_counter()
    label = f"segment {plan.index} render"
    # Pictures and the partial file live beside the output and vanish with this directory, whatever happens.
    with tempfile.TemporaryDirectory(prefix=f".{out_path.name}.", dir=out_path.parent) as scratch:
        work = Path(scratch)
        command = segment_command(plan, layout, image_files, work)
        partial = work / out_path.name
        remaining = timeout - (time.perf_counter() - started)
        if remaining <= 0:
            raise FfmpegError(label, f"timed out after {timeout:g} s")
        run_ffmpeg([*command, *filtered_segment_args(), "-y", output_target(partial)], timeout=remaining, label=label)
        os.replace(partial, out_path)
    return SegmentFacts(
        index=plan.index,
        path=out_path,
        frames=plan.frame_count,
        duration_seconds=plan.frame_count / FPS,
        render_seconds=time.perf_counter() - started,
    )
