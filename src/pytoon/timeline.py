"""SceneGraph → Timeline: when everything happens, in exact milliseconds on whole frames.

Scene boundaries fall on frames (a boundary at frame f is at round(f × 1000 / 30) ms, and converting back
gives f exactly), so the timeline and the frame-exact render plan agree. Transitions are drawn inside the
scenes around each boundary: scenes never overlap and the total is the sum of the scene durations. The
renderer sees only what the timeline says: each scene's visual (layer 0: image with its camera move, clip
or designed card), its overlays (layers 1+), the caption cues and the audio tracks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from pytoon.models import FPS, CaptionCue, JobSpec, MotionKind, OverlayKind, TransitionKind, TransitionSpec
from pytoon.scene_planner import caption_parts
from pytoon.scenes import MAX_TOTAL_MS, Scene, SceneGraph, SceneGraphError, _Document

# Transition lengths the scene graph does not state: a fade follows the preset's crossfade; the others need
# time to read as what they are.
FADE_BLACK_MS = 600
SWIPE_MS = 400
DEFAULT_FADE_MS = 300
CARD_TEXT_CHARS = 80

VisualKind = Literal["image", "video", "card", "product_image", "logo", "text", "graphic"]


def ms(frame: int) -> int:
    return round(frame * 1000 / FPS)


def frames(milliseconds: int) -> int:
    """Whole frames, halves rounded up (150 ms is 5 frames): exact for every boundary `ms` produced."""
    return (milliseconds * FPS + 500) // 1000


class Transition(_Document):
    type: TransitionKind
    duration: int = Field(ge=0, le=2000)


class TimelineEntry(_Document):
    scene_id: int = Field(ge=1, alias="sceneId")
    start: int = Field(ge=0)
    end: int = Field(ge=1)
    transition: Transition | None = None


class Transform(_Document):
    position: str | None = None
    scale: float | None = Field(default=None, ge=0.01, le=5.0)
    opacity: float | None = Field(default=None, ge=0.0, le=1.0)
    x: float | None = None
    y: float | None = None


class VideoTrack(_Document):
    scene_id: int = Field(ge=1, alias="sceneId")
    kind: VisualKind
    asset: str | None = None
    # Layer 0: the camera move over an image (a MotionKind value); overlays: none.
    effect: str | None = None
    layer: int = Field(default=0, ge=0)
    transform: Transform | None = None
    # Designed cards: the words the card shows.
    text: str | None = None


class DuckRegion(_Document):
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    duck_amount: float = Field(default=-12.0, ge=-40, le=0, alias="duckAmount")
    fade_in: float = Field(default=0.2, ge=0, le=2, alias="fadeIn")
    fade_out: float = Field(default=0.2, ge=0, le=2, alias="fadeOut")


class AudioTrack(_Document):
    type: Literal["voiceover", "music", "sfx"]
    file: str | None = None
    start: int = Field(ge=0)
    end: int | None = None
    volume: float = Field(default=1.0, ge=0, le=2)
    duck_regions: list[DuckRegion] | None = Field(default=None, alias="duckRegions")
    # What the track is made from when it has no file yet: a voiceover's script, a library track's name.
    source: str | None = None


class CaptionTrack(_Document):
    text: str = Field(min_length=1)
    start: int = Field(ge=0)
    end: int = Field(ge=1)
    scene_id: int | None = Field(default=None, alias="sceneId")
    style: str | None = None


class Tracks(_Document):
    video: list[VideoTrack]
    audio: list[AudioTrack]
    captions: list[CaptionTrack]


class Timeline(_Document):
    version: Literal["2.0"] = "2.0"
    total_duration: int = Field(ge=1000, le=MAX_TOTAL_MS, alias="totalDuration")
    timeline: list[TimelineEntry] = Field(min_length=1)
    tracks: Tracks

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def layers(self, scene_id: int) -> list[VideoTrack]:
        return sorted((t for t in self.tracks.video if t.scene_id == scene_id), key=lambda t: t.layer)


_PANS = {
    "pan left": MotionKind.PAN_LEFT,
    "pan right": MotionKind.PAN_RIGHT,
    "pan up": MotionKind.PAN_UP,
    "pan down": MotionKind.PAN_DOWN,
    "orbit": MotionKind.PAN_RIGHT,
}


def motion_kind(effect: str | None, camera_motion: str | None, index: int) -> MotionKind:
    """The camera move over a still image: the scene's effect, with the direction of a pan from its camera
    motion; where neither says, zooms and pans alternate in and out, right and left, scene by scene."""
    match effect:
        case "static":
            return MotionKind.STATIC
        case "slow_zoom_in":
            return MotionKind.ZOOM_IN
        case "slow_zoom_out":
            return MotionKind.ZOOM_OUT
        case "ken_burns_pan":
            default = MotionKind.PAN_RIGHT if index % 2 == 0 else MotionKind.PAN_LEFT
            return _PANS.get((camera_motion or "").lower(), default)
    return MotionKind.ZOOM_IN if index % 2 == 0 else MotionKind.ZOOM_OUT


def transition_ms(kind: TransitionKind, preset: TransitionSpec) -> int:
    """How long a transition takes: a fade follows the preset's crossfade, the others their own lengths."""
    match kind:
        case TransitionKind.CUT:
            return 0
        case TransitionKind.FADE:
            return preset.duration_ms if preset.type == "crossfade" and preset.duration_ms else DEFAULT_FADE_MS
        case TransitionKind.FADE_BLACK:
            return FADE_BLACK_MS
    return SWIPE_MS


def _volume(level_db: float) -> float:
    return round(10 ** (level_db / 20), 4)


def build_timeline(graph: SceneGraph, spec: JobSpec, job_captions: Sequence[CaptionCue] | None = None) -> Timeline:
    """The timeline of a scene graph. `job_captions`, when given (V1 jobs, and jobs with a voiceover), are
    cues over the whole video instead of one per scene."""
    bounds = [0]
    elapsed = 0
    for scene in graph.scenes:
        elapsed += scene.duration
        bounds.append(frames(elapsed))
    entries, video, captions = [], [], []
    for index, scene in enumerate(graph.scenes):
        start, end = bounds[index], bounds[index + 1]
        last = index == len(graph.scenes) - 1
        transition = None
        if not last:
            following = bounds[index + 2] - end
            # A transition takes at most half of either scene it joins.
            length = min(
                frames(transition_ms(scene.transition, spec.preset.transitions)), (end - start) // 2, following // 2
            )
            kind = scene.transition if length else TransitionKind.CUT
            transition = Transition(type=kind, duration=ms(end) - ms(end - length))
        entries.append(TimelineEntry(scene_id=scene.id, start=ms(start), end=ms(end), transition=transition))
        video.append(_visual_track(graph, index, card_text(scene, spec, job_captions)))
        for layer, overlay in enumerate(scene.overlays, start=1):
            is_text = overlay.type is OverlayKind.TEXT
            video.append(
                VideoTrack(
                    scene_id=scene.id,
                    kind=overlay.type.value,
                    asset=None if is_text else overlay.asset,
                    text=overlay.asset if is_text else None,
                    layer=layer,
                    transform=Transform(
                        position=overlay.position,
                        scale=overlay.scale,
                        opacity=overlay.opacity,
                        x=overlay.x,
                        y=overlay.y,
                    ),
                )
            )
        if job_captions is None and scene.caption.strip():
            cue_start = start
            for text, count in caption_parts(scene.caption, end - start):
                captions.append(
                    CaptionTrack(text=text, start=ms(cue_start), end=ms(cue_start + count), scene_id=scene.id)
                )
                cue_start += count
    if job_captions is not None:
        captions = [
            CaptionTrack(text=c.text, start=ms(c.start_frame), end=ms(c.end_frame)) for c in job_captions if c.text
        ]
    total = ms(bounds[-1])
    timeline = Timeline(
        total_duration=total,
        timeline=entries,
        tracks=Tracks(video=video, audio=_audio_tracks(spec, total), captions=captions),
    )
    check_timeline(timeline)
    return timeline


def card_text(scene: Scene, spec: JobSpec, job_captions: Sequence[CaptionCue] | None) -> str:
    """What a designed card says: its scene's caption (or description), also in a V2 job whose captions are its
    voiceover's. In a V1 job the caption track says it and the card stays plain, unless it has no captions."""
    if job_captions is None or spec.api_version == 2:
        return (scene.caption or scene.description).strip()
    return "" if job_captions else spec.prompt.strip()[:CARD_TEXT_CHARS]


def _visual_track(graph: SceneGraph, index: int, text: str) -> VideoTrack:
    scene = graph.scenes[index]
    media = scene.media
    if media.asset and media.type == "video":
        return VideoTrack(scene_id=scene.id, kind="video", asset=media.asset)
    if media.asset:
        camera = scene.style.camera_motion if scene.style else None
        kind = motion_kind(media.effect, camera, index)
        return VideoTrack(scene_id=scene.id, kind="image", asset=media.asset, effect=kind.value)
    # No media of its own (also a generated scene whose engine is not available): a designed card.
    return VideoTrack(scene_id=scene.id, kind="card", text=text or None)


def _audio_tracks(spec: JobSpec, total: int) -> list[AudioTrack]:
    """The music bed and the voiceover, each from its file or, without one, what it is made from."""
    from pytoon.planner import audio_plan

    plan = audio_plan(spec)
    sources = [
        ("music", plan.music_key, spec.music_name, plan.music_level_db),
        ("voiceover", plan.voice_key, spec.voice_script, plan.voice_level_db),
    ]
    return [
        AudioTrack(
            type=kind, file=file, source=None if file else made_from, start=0, end=total, volume=_volume(level_db)
        )
        for kind, file, made_from, level_db in sources
        if file or made_from
    ]


def check_timeline(timeline: Timeline) -> None:
    """Ordering rules: entries back to back from 0 to the total, captions inside their scenes. That the
    document matches the timeline_v2 schema holds by construction of the typed models (the tests validate
    timelines of every layer, transition, preset and planner path): validating it again on every job would
    import jsonschema into the planner: over a third of a short job's planning time."""
    problems: list[str] = []
    entries = timeline.timeline
    if entries[0].start != 0 or entries[-1].end != timeline.total_duration:
        problems.append("scenes do not cover the video exactly")
    for previous, entry in zip(entries, entries[1:], strict=False):
        if entry.start != previous.end:
            problems.append(f"scene {entry.scene_id} does not start where scene {previous.scene_id} ends")
    spans = {e.scene_id: (e.start, e.end) for e in entries}
    for cue in timeline.tracks.captions:
        if cue.end <= cue.start:
            problems.append(f"caption {cue.text[:20]!r} ends before it starts")
        span = spans.get(cue.scene_id) if cue.scene_id is not None else None
        if span and not (span[0] <= cue.start and cue.end <= span[1]):
            problems.append(f"caption {cue.text[:20]!r} lies outside scene {cue.scene_id}")
    if problems:
        raise SceneGraphError(problems)
