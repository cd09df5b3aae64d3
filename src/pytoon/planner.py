"""Timeline → RenderPlan: frame-exact segments, camera motion, transitions, caption cues and the audio plan.

The plan is deterministic for a given timeline, so a retried planner writes the same plan and a retried
segment renders the same frames. It also holds the V1 rules the V1 scene graph is made with: segments of
about three seconds and captions as contiguous cues over the whole video.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence

from pytoon.engines import EngineChoice
from pytoon.limits import MAX_CAPTIONS_PER_JOB, MIN_CAPTION_SECONDS
from pytoon.models import (
    FPS,
    Archetype,
    AudioPlan,
    CaptionCue,
    Captions,
    JobSpec,
    Motion,
    MotionKind,
    MotionProfile,
    OverlayPlan,
    RenderPlan,
    SegmentPlan,
    TransitionKind,
    Visual,
)
from pytoon.render.captions import caption_layout
from pytoon.scene_planner import sentences as split_sentences
from pytoon.timeline import Timeline, VideoTrack, frames

SEGMENT_SECONDS = 3
MAX_SEGMENTS = 60
MIN_CUE_FRAMES = FPS * MIN_CAPTION_SECONDS
FALLBACK_CTA = "Learn more"

# Per motion profile: (zoom travel, pan travel as a fraction of the free margin, kinds cycled per segment).
_PROFILES: dict[str, tuple[float, float, tuple[MotionKind, ...]]] = {
    "minimal": (0.03, 0.0, (MotionKind.ZOOM_IN, MotionKind.ZOOM_OUT)),
    "subtle": (0.08, 0.0, (MotionKind.ZOOM_IN, MotionKind.ZOOM_OUT)),
    "smooth": (0.10, 0.6, (MotionKind.ZOOM_IN, MotionKind.PAN_UP, MotionKind.ZOOM_OUT, MotionKind.PAN_DOWN)),
    "punchy": (
        0.20,
        0.8,
        (MotionKind.ZOOM_IN, MotionKind.PAN_LEFT, MotionKind.ZOOM_OUT, MotionKind.PAN_RIGHT),
    ),
    "chaotic": (
        0.25,
        1.0,
        (
            MotionKind.ZOOM_IN,
            MotionKind.PAN_RIGHT,
            MotionKind.PAN_UP,
            MotionKind.ZOOM_OUT,
            MotionKind.PAN_LEFT,
        ),
    ),
}


def segment_frame_counts(total_frames: int, image_count: int) -> list[int]:
    """Split the video into near-equal segments of about three seconds, at least one per image."""
    by_length = math.ceil(total_frames / (SEGMENT_SECONDS * FPS))
    by_images = min(image_count, total_frames // FPS)
    count = max(1, min(MAX_SEGMENTS, max(by_length, by_images)))
    base, extra = divmod(total_frames, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


def motion_for(profile: MotionProfile, index: int) -> Motion:
    """A V1 segment's camera: the profile's moves, cycled segment by segment."""
    kinds = _PROFILES[profile][2]
    return motion_of(kinds[index % len(kinds)], profile)


def motion_of(kind: MotionKind, profile: MotionProfile) -> Motion:
    """A camera move of the given kind, with the travel of the motion profile."""
    travel, pan, _ = _PROFILES[profile]
    # Pans need some zoom to have room to move; they hold a steady zoom in the middle of the travel.
    held = 1.0 + travel
    match kind:
        case MotionKind.ZOOM_IN:
            return Motion(kind=kind, zoom_start=1.0, zoom_end=1.0 + travel)
        case MotionKind.ZOOM_OUT:
            return Motion(kind=kind, zoom_start=1.0 + travel, zoom_end=1.0)
        case MotionKind.PAN_UP:
            return Motion(kind=kind, zoom_start=held, zoom_end=held, pan_y_start=pan, pan_y_end=-pan)
        case MotionKind.PAN_DOWN:
            return Motion(kind=kind, zoom_start=held, zoom_end=held, pan_y_start=-pan, pan_y_end=pan)
        case MotionKind.PAN_LEFT:
            return Motion(kind=kind, zoom_start=held, zoom_end=held, pan_x_start=pan, pan_x_end=-pan)
        case MotionKind.PAN_RIGHT:
            return Motion(kind=kind, zoom_start=held, zoom_end=held, pan_x_start=-pan, pan_x_end=pan)
    return STILL


STILL = Motion(kind=MotionKind.STATIC, zoom_start=1.0, zoom_end=1.0)


def derived_texts(prompt: str, room: int = MAX_CAPTIONS_PER_JOB) -> list[str]:
    """The captions a prompt gives, in order: hook = first sentence, beats = the middle ones, CTA = the last
    one. With fewer than three sentences there is no natural CTA, so a neutral one is added if the video
    has `room` for one more caption."""
    sentences = split_sentences(prompt)
    return sentences + [FALLBACK_CTA] if 0 < len(sentences) < min(3, room) else sentences


def derive_captions(prompt: str, room: int = MAX_CAPTIONS_PER_JOB) -> Captions:
    texts = derived_texts(prompt, room)
    if len(texts) < 2:
        return Captions(hook="".join(texts))
    return Captions(hook=texts[0], beats=texts[1:-1], cta=texts[-1])


def caption_cues(captions: Captions, total_frames: int) -> list[CaptionCue]:
    """Contiguous, equal slots from the first to the last frame, each at least a second long.

    Requests with more captions than whole seconds are refused (pytoon.caption_rules); none is ever dropped.
    """
    texts = captions.texts()
    if len(texts) > max(1, total_frames // MIN_CUE_FRAMES):
        raise ValueError(f"{len(texts)} captions cannot all be shown in {total_frames / FPS:g} s")
    count = len(texts)
    return [
        CaptionCue(
            index=i + 1,
            start_frame=round(i * total_frames / count),
            end_frame=round((i + 1) * total_frames / count),
            text=text,
        )
        for i, text in enumerate(texts)
    ]


def _spec_hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def audio_plan(spec: JobSpec) -> AudioPlan:
    """The soundtrack depends on the spec alone, so it can be built while the video is still being planned."""
    return AudioPlan(
        music_key=spec.music_key,
        voice_key=spec.voice_key,
        music_level_db=spec.preset.audio.music_level_db,
        voice_level_db=spec.preset.audio.voice_level_db,
        fade_out_seconds=min(1.5, spec.target_duration_seconds / 4),
    )


def effective_motion_profile(spec: JobSpec) -> MotionProfile:
    """Brand-safe jobs never get the chaotic profile (it reads as a glitch on a brand's feed): smooth instead."""
    profile = spec.preset.motion_profile
    return "smooth" if spec.brand_safe and profile == "chaotic" else profile


def caption_at_starts(cues: Sequence[CaptionCue], frame_counts: Sequence[int]) -> list[str]:
    """The caption on screen at the first frame of each segment ("" where none is)."""
    texts, start = [], 0
    for count in frame_counts:
        texts.append(next((c.text for c in cues if c.start_frame <= start < c.end_frame), ""))
        start += count
    return texts


def v1_caption_cues(spec: JobSpec) -> list[CaptionCue]:
    """A V1 job's captions (its own, else the prompt's sentences) as contiguous cues over the whole video."""
    total_frames = spec.target_duration_seconds * FPS
    captions = (
        spec.captions if spec.captions is not None else derive_captions(spec.prompt, total_frames // MIN_CUE_FRAMES)
    )
    return caption_cues(captions, total_frames)


def _visual(track: VideoTrack, overlays: list[VideoTrack], spec: JobSpec, start: int, count: int) -> Visual:
    profile = effective_motion_profile(spec)
    return Visual(
        archetype=spec.archetype,
        image_key=track.asset if track.kind == "image" else None,
        clip_key=track.asset if track.kind == "video" else None,
        motion=motion_of(MotionKind(track.effect), profile) if track.kind == "image" and track.effect else STILL,
        start_frame=start,
        frame_count=count,
        card_text=track.text or "" if track.kind == "card" else "",
        card=spec.preset.card,
        overlay_fx=spec.preset.overlay_fx if spec.archetype is Archetype.OVERLAY else None,
        overlays=[
            OverlayPlan(
                kind=overlay.kind,
                image_key=overlay.asset,
                text=overlay.text,
                position=overlay.transform.position if overlay.transform else "center",
                scale=overlay.transform.scale if overlay.transform and overlay.transform.scale else 1.0,
                opacity=overlay.transform.opacity
                if overlay.transform and overlay.transform.opacity is not None
                else 1.0,
                x=overlay.transform.x if overlay.transform else None,
                y=overlay.transform.y if overlay.transform else None,
            )
            for overlay in overlays
        ],
    )


def build_plan(
    spec: JobSpec, timeline: Timeline, engines: Sequence[EngineChoice], prompts: Sequence[str]
) -> RenderPlan:
    """The frame-exact render plan of a timeline: one segment per scene. `engines[i]` is how scene i is made,
    `prompts[i]` what an external engine is asked for when it generates it."""
    layout = caption_layout(spec.preset.caption_style)
    cues = [
        CaptionCue(index=i + 1, start_frame=frames(c.start), end_frame=frames(c.end), text=c.text)
        for i, c in enumerate(timeline.tracks.captions)
    ]
    entries = timeline.timeline
    visuals = []
    for entry in entries:
        start, end = frames(entry.start), frames(entry.end)
        base, *overlays = timeline.layers(entry.scene_id)
        visuals.append(_visual(base, overlays, spec, start, end - start))

    segments: list[SegmentPlan] = []
    for index, (entry, visual) in enumerate(zip(entries, visuals, strict=True)):
        incoming = entries[index - 1].transition if index else None
        kind = incoming.type if incoming else TransitionKind.CUT
        length = frames(incoming.duration) if incoming else 0
        following = entry.transition
        fade_out = frames(following.duration) // 2 if following and following.type is TransitionKind.FADE_BLACK else 0
        transition_frames = length - length // 2 if kind is TransitionKind.FADE_BLACK else length
        previous = (
            visuals[index - 1]
            if kind in (TransitionKind.FADE, TransitionKind.SWIPE_LEFT, TransitionKind.SWIPE_RIGHT) and length
            else None
        )
        start, stop = visual.start_frame, visual.start_frame + visual.frame_count
        # A card that already shows its caption does not burn it in a second time (the SRT still has it).
        seg_cues = [
            c
            for c in cues
            if c.start_frame < stop and c.end_frame > start and not (visual.card_text and c.text in visual.card_text)
        ]
        fields = {
            "index": index,
            "start_frame": start,
            "frame_count": visual.frame_count,
            "visual": visual,
            "transition": kind if length else TransitionKind.CUT,
            "transition_frames": transition_frames,
            "previous": previous,
            "fade_out_frames": fade_out,
            "captions": seg_cues,
            "engine": engines[index].engine,
            "fallback_reason": engines[index].fallback_reason,
            "generate_with": list(engines[index].chain),
            "generation_prompt": prompts[index] if engines[index].chain else None,
            "generation_image_key": visual.image_key if engines[index].chain else None,
        }
        body = {
            name: value.model_dump(mode="json") if hasattr(value, "model_dump") else value
            for name, value in fields.items()
        }
        body["captions"] = [c.model_dump(mode="json") for c in seg_cues]
        body["layout"] = layout.model_dump(mode="json")
        segments.append(SegmentPlan(**fields, spec_hash=_spec_hash(body)))

    return RenderPlan(
        job_id=spec.job_id,
        spec=spec,
        total_frames=frames(timeline.total_duration),
        segments=segments,
        captions=cues,
        caption_layout=layout,
        audio=audio_plan(spec),
    )
