"""Render one segment: compose each frame (visual, crossfade, captions) and stream it into x264."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from PIL import Image
from pydantic import BaseModel, ConfigDict

from pytoon.models import FPS, CaptionCue, CaptionLayout, SegmentPlan, Visual
from pytoon.render.captions import render_caption_image
from pytoon.render.ffmpeg import FrameEncoder
from pytoon.render.frames import PreparedVisual, prepare_visual

SEGMENT_TIMEOUT_S = 300.0


class SegmentFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    path: Path
    frames: int
    duration_seconds: float
    render_seconds: float
    # CPU time of this process: image preparation, composition, piping (x264 runs in its own process).
    compose_cpu_seconds: float


class PlacedCaption:
    """A cue's caption, rendered once per segment, pasted on the frames the cue covers."""

    def __init__(self, cue: CaptionCue, layout: CaptionLayout) -> None:
        self.cue = cue
        self.image, self.position = render_caption_image(cue.text, layout)

    def covers(self, global_frame: int) -> bool:
        return self.cue.start_frame <= global_frame < self.cue.end_frame

    def draw(self, frame: Image.Image) -> None:
        frame.paste(self.image, self.position, self.image)


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


class SegmentComposer:
    """Everything prepared once for a segment; `frame(f)` composes global frame f."""

    def __init__(self, plan: SegmentPlan, layout: CaptionLayout, image_files: Mapping[str, Path]) -> None:
        self.plan = plan
        self.visual = prepare_visual(plan.visual, image_file_for(plan.visual, image_files))
        self.crossfade_frames = min(plan.crossfade_frames, plan.frame_count) if plan.crossfade_from else 0
        self.previous: PreparedVisual | None = None
        if plan.crossfade_from is not None and self.crossfade_frames:
            self.previous = prepare_visual(plan.crossfade_from, image_file_for(plan.crossfade_from, image_files))
        self._outgoing: tuple[float, Image.Image] | None = None
        end = plan.start_frame + plan.frame_count
        self.captions = [
            PlacedCaption(cue, layout)
            for cue in plan.captions
            if cue.text.strip() and cue.start_frame < end and cue.end_frame > plan.start_frame
        ]

    def frame(self, global_frame: int) -> Image.Image:
        frame = self.visual.frame(global_frame)
        k = global_frame - self.plan.start_frame
        if self.previous is not None and k < self.crossfade_frames:
            frame = Image.blend(self.outgoing(global_frame), frame, crossfade_alpha(k, self.crossfade_frames))
        for caption in self.captions:
            if caption.covers(global_frame):
                caption.draw(frame)
        return frame

    def outgoing(self, global_frame: int) -> Image.Image:
        """The previous visual's frame. During a crossfade it is past its own end, where its camera holds:
        the same picture every frame, so it is drawn once (blending reads it, never changes it)."""
        assert self.previous is not None
        progress = self.previous.progress(global_frame)
        if self._outgoing is None or self._outgoing[0] != progress:
            self._outgoing = (progress, self.previous.frame(global_frame))
        return self._outgoing[1]


def render_segment(
    plan: SegmentPlan,
    layout: CaptionLayout,
    image_files: Mapping[str, Path],
    out_path: Path,
    *,
    timeout: float = SEGMENT_TIMEOUT_S,
) -> SegmentFacts:
    """Encode the segment's frames to out_path (published atomically: complete or absent)."""
    started = time.perf_counter()
    cpu_started = time.process_time()
    composer = SegmentComposer(plan, layout, image_files)
    with FrameEncoder(out_path, timeout=timeout, label=f"segment {plan.index} encode") as encoder:
        for global_frame in range(plan.start_frame, plan.start_frame + plan.frame_count):
            encoder.write(composer.frame(global_frame).tobytes())
    return SegmentFacts(
        index=plan.index,
        path=out_path,
        frames=encoder.frames_written,
        duration_seconds=encoder.frames_written / FPS,
        render_seconds=time.perf_counter() - started,
        compose_cpu_seconds=time.process_time() - cpu_started,
    )
