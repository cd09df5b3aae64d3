"""JobSpec → RenderPlan: frame-exact segments, motion, transitions, caption cues and the audio plan.

The plan is deterministic for a given spec, so a retried planner writes the same plan and a retried
segment renders the same frames.
"""

from __future__ import annotations

import hashlib
import json
import math
import re

from pytoon.engines import choose_engine
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
    RenderPlan,
    SegmentPlan,
    TransitionSpec,
    Visual,
)
from pytoon.render.captions import caption_layout

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
    travel, pan, kinds = _PROFILES[profile]
    kind = kinds[index % len(kinds)]
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
    return Motion(kind=MotionKind.STATIC, zoom_start=1.0, zoom_end=1.0)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def derived_texts(prompt: str, room: int = MAX_CAPTIONS_PER_JOB) -> list[str]:
    """The captions a prompt gives, in order: hook = first sentence, beats = the middle ones, CTA = the last
    one. With fewer than three sentences there is no natural CTA, so a neutral one is added if the video
    has `room` for one more caption."""
    sentences = [s.strip() for s in _SENTENCE_END.split(prompt.strip()) if s.strip()]
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


def crossfade_frames(transition: TransitionSpec) -> int:
    if transition.type == "cut":
        return 0
    return int(transition.duration_ms * FPS / 1000 + 0.5)


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


def build_plan(spec: JobSpec) -> RenderPlan:
    total_frames = spec.target_duration_seconds * FPS
    counts = segment_frame_counts(total_frames, len(spec.image_keys))
    room = total_frames // MIN_CUE_FRAMES
    captions = spec.captions if spec.captions is not None else derive_captions(spec.prompt, room)
    cues = caption_cues(captions, total_frames)
    layout = caption_layout(spec.preset.caption_style)
    overlay_fx = spec.preset.overlay_fx if spec.archetype is Archetype.OVERLAY else None
    # A card without an image still says something when the job has no captions to show.
    card_text = spec.prompt.strip()[:80] if not cues else ""
    fade = crossfade_frames(spec.preset.transitions)
    profile = effective_motion_profile(spec)
    engine = choose_engine(spec.engine_policy)

    segments: list[SegmentPlan] = []
    start = 0
    previous: Visual | None = None
    for index, count in enumerate(counts):
        image_key = spec.image_keys[index % len(spec.image_keys)] if spec.image_keys else None
        visual = Visual(
            archetype=spec.archetype,
            image_key=image_key,
            motion=motion_for(profile, index),
            start_frame=start,
            frame_count=count,
            card_text=card_text if image_key is None else "",
            overlay_fx=overlay_fx,
        )
        fade_in = min(fade, count // 2, previous.frame_count // 2) if previous else 0
        seg_cues = [c for c in cues if c.start_frame < start + count and c.end_frame > start]
        body = {
            "index": index,
            "start_frame": start,
            "frame_count": count,
            "visual": visual.model_dump(mode="json"),
            "crossfade_from": previous.model_dump(mode="json") if fade_in else None,
            "crossfade_frames": fade_in,
            "captions": [c.model_dump(mode="json") for c in seg_cues],
            "layout": layout.model_dump(mode="json"),
            "engine": engine.engine,
        }
        segments.append(
            SegmentPlan(
                index=index,
                start_frame=start,
                frame_count=count,
                visual=visual,
                crossfade_from=previous if fade_in else None,
                crossfade_frames=fade_in,
                captions=seg_cues,
                engine=engine.engine,
                fallback_reason=engine.fallback_reason,
                spec_hash=_spec_hash(body),
            )
        )
        previous = visual
        start += count

    return RenderPlan(
        job_id=spec.job_id,
        spec=spec,
        total_frames=total_frames,
        segments=segments,
        captions=cues,
        caption_layout=layout,
        audio=audio_plan(spec),
    )
