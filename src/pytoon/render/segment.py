"""Render one segment in one ffmpeg run: Python prepares each picture once, ffmpeg draws every frame.

The filter graph for a segment of N frames:

  visual      an image: raw RGB picture -> BT.709 YUV, once (and enlarged, if frames.py says so) -> `loop`: N
              frames of that one decoded picture
                moving camera: -> crop the frame's window -> area-scale to 1080x1920 (see frames.py)
                OVERLAY: -> overlay the product sprite
              a clip: decoded, 30 fps CFR, cover-fitted, held on its last frame (see clips.py)
              a card: the finished picture, repeated
              then its overlays: pasted into a still picture once, or overlaid by ffmpeg (see overlays.py)
  transition  on the first `transition_frames` frames, from the previous visual (evaluated past its end,
              overlays and all): fade (it is blended out), swipe (pushed out by the incoming picture) or
              fade_black (the incoming visual rises from black); and on the last `fade_out_frames` frames,
              the first half of a fade_black into the next segment (darkening to black)
  captions    each caption overlaid on the frames its cue covers (above transitions: they do not fade)
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

from pytoon.models import FPS, HEIGHT, WIDTH, CaptionLayout, SegmentPlan, TransitionKind, Visual
from pytoon.render.captions import render_caption_image
from pytoon.render.clips import clip_source
from pytoon.render.ffmpeg import (
    FfmpegError,
    filtered_segment_args,
    media_input,
    output_target,
    rgb_to_yuv,
    run_ffmpeg,
)
from pytoon.render.frames import Enlargement, Window, prepare_visual
from pytoon.render.overlays import PreparedOverlay, paste_overlays, prepare_overlays

SEGMENT_TIMEOUT_S = 300.0
RAW_PIX_FMTS = {"RGB": "rgb24", "RGBA": "rgba"}
SWIPES = {TransitionKind.SWIPE_LEFT: True, TransitionKind.SWIPE_RIGHT: False}  # kind -> content moves left


class SegmentFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    path: Path
    frames: int
    duration_seconds: float
    render_seconds: float


def stored_file(files: Mapping[str, Path], key: str, what: str) -> Path:
    try:
        return files[key]
    except KeyError:
        raise KeyError(f"No {what} file for key {key!r}") from None


def crossfade_alpha(k: int, crossfade_frames: int) -> float:
    """Weight of the incoming visual on the k-th crossfade frame: 1/(n+1) .. n/(n+1), so every crossfade
    frame is a true mix and neither the first nor the last equals a neighbour."""
    return (k + 1) / (crossfade_frames + 1)


def swipe_progress(k: int, frames: int) -> float:
    """How far the incoming picture has pushed in on the k-th swipe frame (0..1 of the frame width): the
    eased (smoothstep) crossfade_alpha, so no swipe frame shows either picture alone."""
    p = crossfade_alpha(k, frames)
    return p * p * (3 - 2 * p)


class Graph:
    """One segment's ffmpeg inputs and filter chains. Pictures are written to `work` as raw files and
    each becomes a single-frame input: decoded once, however many frames show it."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.inputs: list[str] = []
        self.chains: list[str] = []
        self._count = 0

    def _input(self, args: list[str]) -> int:
        self.inputs += args
        self._count += 1
        return self._count - 1

    def picture(self, image: Image.Image, filters: str) -> str:
        """Add `image` (RGB or RGBA) as an input; returns the label of its stream after `filters`."""
        path = self.work / f"picture_{self._count}.{image.mode.lower()}"
        header = 0
        if image.mode == "RGB":
            # Pillow's PPM encoder writes the pixels straight to the file: a third of the time of tobytes()
            # and a write, and no copy of a moving camera's 29 MB picture. ffmpeg reads the pixels as raw
            # video past the header (its PPM decoder would copy the frame once more).
            image.save(path, "PPM")
            header = path.stat().st_size - image.width * image.height * 3
        else:
            path.write_bytes(image.tobytes())
        # fmt: off
        index = self._input(media_input(
            path,
            "-skip_initial_bytes", str(header),
            "-f", "rawvideo",
            "-pix_fmt", RAW_PIX_FMTS[image.mode],
            "-video_size", f"{image.width}x{image.height}",
            "-framerate", str(FPS),
        ))
        # fmt: on
        return self.chain(f"[{index}:v]{filters}")

    def clip(self, path: Path, first: int, count: int) -> str:
        """Add clip frames [first, first + count) (see clips.py) as a yuv420p stream; returns its label."""
        args, filters = clip_source(path, first, count)
        return self.chain(f"[{self._input(args)}:V:0]{filters}")

    def split(self, stream: str) -> tuple[str, str]:
        """Two copies of a stream (frames are shared, not copied)."""
        first = f"[s{len(self.chains)}a]"
        second = self.chain(f"{stream}split{first}")
        return first, second

    def chain(self, filters: str) -> str:
        """Add a filter chain (starting with its input labels); returns the label of its output."""
        label = f"[s{len(self.chains)}]"
        self.chains.append(filters + label)
        return label

    def script(self) -> str:
        return ";\n".join(self.chains)


def visual_stream(
    graph: Graph, visual: Visual, frames: range, files: Mapping[str, Path], name: str, pix_fmt: str = "yuv420p"
) -> str:
    """A stream of the visual with its overlays in `pix_fmt`: one frame for each of `frames` (global frame
    numbers, possibly past the visual's end)."""
    overlays = prepare_overlays(visual.overlays, files, visual.card.font)
    if visual.clip_key is not None:
        clip = graph.clip(stored_file(files, visual.clip_key, "clip"), frames.start - visual.start_frame, len(frames))
        return overlaid(graph, clip, overlays, pix_fmt)
    image_file = stored_file(files, visual.image_key, "image") if visual.image_key is not None else None
    prepared = prepare_visual(visual, image_file, frames)
    repeat = f"loop=loop={len(frames) - 1}:size=1"
    if not prepared.moving:
        # The finished frame, overlays pasted in, converted once and repeated: no per-frame work at all.
        paste_overlays(prepared.source, overlays)
        return graph.picture(prepared.source, f"{rgb_to_yuv(pix_fmt)},{repeat}")
    # 4:4:4 until the frame is scaled, so a window can start on any pixel (4:2:0 snaps crops to even ones).
    picture = graph.picture(prepared.source, f"{rgb_to_yuv('yuv444p')}{enlarged(prepared.enlargement)},{repeat}")
    if prepared.sprite is None:
        stream = graph.chain(f"{picture}{camera(prepared.windows, name)},format=yuv420p")
    else:
        background = graph.chain(f"{picture}{camera(prepared.windows, name)},format=yuv444p")
        sprite = graph.picture(prepared.sprite, rgb_to_yuv("yuva444p"))
        x, y = prepared.origin
        # Composed in 4:4:4, then subsampled: the coloured product's soft edges mix as they would in RGB.
        stream = graph.chain(f"{background}{sprite}overlay=x={x}:y={y}:format=yuv444,scale=flags=area,format=yuv420p")
    return overlaid(graph, stream, overlays, pix_fmt)


def enlarged(enlargement: Enlargement | None) -> str:
    """Filters making a moving camera's picture of its image (see frames.Enlargement), or none."""
    if enlargement is None:
        return ""
    (width, height), (x, y, w, h) = enlargement.size, enlargement.box
    return f",scale={width}:{height}:flags={enlargement.flags}+accurate_rnd,crop={w}:{h}:{x}:{y}"


def overlaid(graph: Graph, stream: str, overlays: list[PreparedOverlay], pix_fmt: str) -> str:
    """The yuv420p stream with each overlay drawn on every frame (the overlay filter repeats a one-frame
    input), then in `pix_fmt`."""
    for overlay in overlays:
        image, (x, y) = on_even_pixels(overlay.image, overlay.origin)
        stream = graph.chain(f"{stream}{graph.picture(image, rgb_to_yuv('yuva420p'))}overlay=x={x}:y={y}")
    return graph.chain(f"{stream}format={pix_fmt}") if pix_fmt != "yuv420p" else stream


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


def swipe(graph: Graph, outgoing: str, incoming: str, frames: int, total: int, leftwards: bool) -> str:
    """The incoming stream (`total` frames) pushing the outgoing one (`frames` frames) out over its first
    `frames` frames, then the rest of the incoming stream untouched.

    Both pictures stand side by side on a strip twice the frame's width, seen through a window that moves
    by swipe_progress (crop evaluates its position on every frame; 4:2:0 snaps it to even pixels). The
    strip exists only for the swipe's frames: the incoming stream's head is trimmed off for it and the rest
    concatenated after.
    """
    head, rest = (incoming, None) if total <= frames else graph.split(incoming)
    if rest is not None:
        head = graph.chain(f"{head}trim=end_frame={frames}")
        rest = graph.chain(f"{rest}trim=start_frame={frames},setpts=PTS-STARTPTS")
    p = f"(n+1)/{frames + 1}"
    eased = f"{p}*{p}*(3-2*{p})"
    strip, x = (f"{outgoing}{head}", f"{WIDTH}*{eased}") if leftwards else (f"{head}{outgoing}", f"{WIDTH}*(1-{eased})")
    pushed = graph.chain(f"{strip}hstack,crop=w={WIDTH}:h={HEIGHT}:x='{x}':y=0")
    if rest is None:
        return pushed
    # concat puts the rest after the swipe's last frame; the frames are then renumbered on the 30 fps grid.
    return graph.chain(f"{pushed}{rest}concat=n=2:v=1:a=0,setpts=N/{FPS}/TB")


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


def segment_command(plan: SegmentPlan, layout: CaptionLayout, files: Mapping[str, Path], work: Path) -> list[str]:
    """ffmpeg inputs, graph and mapping that draw the segment's frames (output options go after them), from
    `files`: a local path for each of plan.asset_keys(). The pictures and the graph script go to `work`."""
    frames = range(plan.start_frame, plan.start_frame + plan.frame_count)
    graph = Graph(work)
    stream = visual_stream(graph, plan.visual, frames, files, "camera")
    transition = min(plan.transition_frames, plan.frame_count)
    if transition and plan.transition in (TransitionKind.FADE, *SWIPES) and plan.previous is None:
        raise ValueError(f"segment {plan.index}: a {plan.transition.value} transition needs the previous visual")
    if transition and plan.transition is TransitionKind.FADE:
        outgoing_frames = range(frames.start - 1, frames.start + transition)
        outgoing = visual_stream(graph, plan.previous, outgoing_frames, files, "outgoing", "yuva420p")
        stream = crossfade(graph, outgoing, stream, transition)
    elif transition and plan.transition in SWIPES:
        outgoing_frames = range(frames.start, frames.start + transition)
        outgoing = visual_stream(graph, plan.previous, outgoing_frames, files, "outgoing")
        stream = swipe(graph, outgoing, stream, transition, plan.frame_count, SWIPES[plan.transition])
    elif transition and plan.transition is TransitionKind.FADE_BLACK:
        # From black on the first frame (the boundary), rising by 1/n a frame.
        stream = graph.chain(f"{stream}fade=type=in:nb_frames={transition}")
    # Down to black on the last frame (the boundary) from 1 - 1/m on the m-th last; the first frame keeps
    # its full brightness, so a segment of n frames darkens over at most its last n - 1.
    fade_out = min(plan.fade_out_frames, plan.frame_count - 1)
    if fade_out:
        darkening = f"fade=type=out:start_frame={plan.frame_count - fade_out - 1}:nb_frames={fade_out}"
        stream = graph.chain(f"{stream}{darkening}")
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
    files: Mapping[str, Path],
    out_path: Path,
    *,
    timeout: float = SEGMENT_TIMEOUT_S,
) -> SegmentFacts:
    """Encode the segment to out_path (published atomically: complete or absent) within `timeout`, drawing
    it from `files`: a local path for each of plan.asset_keys() (images, clips, overlay images)."""
    started = time.perf_counter()
    label = f"segment {plan.index} render"
    # Pictures and the partial file live beside the output and vanish with this directory, whatever happens.
    with tempfile.TemporaryDirectory(prefix=f".{out_path.name}.", dir=out_path.parent) as scratch:
        work = Path(scratch)
        command = segment_command(plan, layout, files, work)
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
