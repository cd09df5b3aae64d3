"""JobSpec → SceneGraph: the first link of every job's chain.

A V1 job's scenes are its segments (about three seconds each, at least one per image, images cycled, the
preset's motion profile cycled). A V2 job's scenes come from its prompt: one per `<SHOT n>` block, else one
per sentence, merged down to `max_scenes`; its media are assigned in order (cycled when there are fewer
than scenes, extra scenes when there are more). Durations add up exactly to the job's length, in whole
frames. A supplied scene graph is taken as given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pytoon.content_rules import engine_prompt
from pytoon.engines import requested_engine
from pytoon.errors import PytoonError
from pytoon.limits import DEFAULT_SCENE_SECONDS, MAX_DURATION_SECONDS, MAX_SCENES, MIN_SCENE_MS
from pytoon.models import FPS, JobSpec, MediaKind, MotionKind, TransitionKind
from pytoon.scenes import GlobalAudio, Scene, SceneEffect, SceneGraph, SceneMedia, SceneStyle, parse_scene_graph

MIN_SCENE_FRAMES = MIN_SCENE_MS * FPS // 1000
DESCRIPTION_CHARS = 120
# Scene length follows its caption's length plus this many characters, so short captions are not flashed.
READING_WEIGHT_CHARS = 20

_SHOT_MARKER = re.compile(r"<\s*SHOT\s*\d+\s*>", re.IGNORECASE)
# Latin sentences end at a stop followed by a space; Chinese and Japanese ones at their full-width stops, which
# no space follows (a run of stops, or one before a closing bracket, ends one sentence).
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])(?![。！？」』）])\s*")
# A part ending in one of these (or in a capital initial such as "J.") continues into the next: "Meet Dr. Smith."
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc inc ltd co corp no approx dept est fig e.g i.e u.s u.k a.m p.m".split()
)

# Style keywords, first match wins (scene text first, then the whole prompt).
_MOODS = ("cinematic", "dramatic", "warm", "cool", "upbeat", "fun", "elegant", "neon", "calm", "energetic", "luxury")
_CAMERA_MOTIONS: tuple[tuple[str, str], ...] = (
    ("slow zoom out", "slow zoom out"),
    ("zoom out", "slow zoom out"),
    ("slow zoom", "slow zoom in"),
    ("zoom in", "slow zoom in"),
    ("dolly", "slow dolly in"),
    ("push in", "slow dolly in"),
    ("pan left", "pan left"),
    ("pan right", "pan right"),
    ("pan up", "pan up"),
    ("tilt up", "pan up"),
    ("pan down", "pan down"),
    ("tilt down", "pan down"),
    ("orbit", "orbit"),
    ("static", "static"),
    ("still shot", "static"),
)
_LIGHTING = ("golden hour", "studio", "natural", "soft", "bright", "neon", "moody", "low-key", "backlit")

# What a camera motion makes of a still image.
_EFFECT_FOR_CAMERA: dict[str, SceneEffect] = {
    "slow zoom in": "slow_zoom_in",
    "slow dolly in": "slow_zoom_in",
    "slow zoom out": "slow_zoom_out",
    "pan left": "ken_burns_pan",
    "pan right": "ken_burns_pan",
    "pan up": "ken_burns_pan",
    "pan down": "ken_burns_pan",
    "orbit": "ken_burns_pan",
    "static": "static",
}
# A V1 segment's motion as a scene effect plus the camera motion that carries its direction.
_V1_MOTION: dict[MotionKind, tuple[SceneEffect, str | None]] = {
    MotionKind.STATIC: ("static", "static"),
    MotionKind.ZOOM_IN: ("slow_zoom_in", "slow zoom in"),
    MotionKind.ZOOM_OUT: ("slow_zoom_out", "slow zoom out"),
    MotionKind.PAN_UP: ("ken_burns_pan", "pan up"),
    MotionKind.PAN_DOWN: ("ken_burns_pan", "pan down"),
    MotionKind.PAN_LEFT: ("ken_burns_pan", "pan left"),
    MotionKind.PAN_RIGHT: ("ken_burns_pan", "pan right"),
}


class ScenePlanningError(PytoonError):
    """The request cannot become scenes (too many for its length, more media than max_scenes allows)."""


@dataclass(frozen=True)
class PlannedMedia:
    """One media file of the job, resolved: a stored key and what it is."""

    key: str
    kind: MediaKind


def _continues(part: str) -> bool:
    last = part.rsplit(maxsplit=1)[-1].rstrip(".")
    return part.endswith(".") and (last.lower() in _ABBREVIATIONS or (len(last) == 1 and last.isupper()))


def sentences(text: str) -> list[str]:
    joined: list[str] = []
    for part in (" ".join(p.split()) for p in _SENTENCE_END.split(text.strip()) if p.strip()):
        if joined and _continues(joined[-1]):
            joined[-1] = f"{joined[-1]} {part}"
        else:
            joined.append(part)
    return joined


def scene_texts(prompt: str) -> list[str]:
    """The prompt's scene texts: the blocks between `<SHOT n>` markers, else its sentences."""
    if _SHOT_MARKER.search(prompt):
        return [" ".join(part.split()) for part in _SHOT_MARKER.split(prompt) if part.strip()]
    return sentences(prompt)


def caption_parts(caption: str, frame_count: int) -> list[tuple[str, int]]:
    """A scene's caption as cues (text, frames): one per sentence, each on screen at least a second (merged
    when the scene is too short for all of them), lasting as long as their length asks."""
    parts = sentences(caption) or [caption.strip()]
    parts = merge_texts(parts, max(1, min(len(parts), frame_count // MIN_SCENE_FRAMES)))
    shortest = min(MIN_SCENE_FRAMES, frame_count // len(parts))
    counts = fit_frames([len(p) + READING_WEIGHT_CHARS for p in parts], frame_count, shortest)
    return list(zip(parts, counts, strict=True))


def merge_texts(texts: Sequence[str], count: int) -> list[str]:
    """Consecutive texts joined into `count` groups of similar length: nothing is dropped."""
    if len(texts) <= count:
        return list(texts)
    total = sum(len(t) for t in texts)
    groups: list[list[str]] = [[]]
    done = 0
    for index, text in enumerate(texts):
        groups_left = count - len(groups)
        # A new group opens once this one holds its share of the characters, or when every text left must
        # open one for all `count` groups to exist.
        share_reached = done + len(text) / 2 > total * len(groups) / count
        if groups[-1] and groups_left > 0 and (share_reached or len(texts) - index <= groups_left):
            groups.append([])
        groups[-1].append(text)
        done += len(text)
    return [" ".join(group) for group in groups]


def v2_scene_count(prompt: str, media_count: int, max_scenes: int | None) -> int:
    """How many scenes a V2 prompt job has: its scene texts merged to `max_scenes`, or one per media file
    when there are more files."""
    texts = scene_texts(prompt)
    # Without max_scenes every sentence is a scene: more than fit is refused (by v2_duration_seconds), not merged.
    cap = max_scenes or max(len(texts), media_count, 1)
    if media_count > cap:
        raise ScenePlanningError(
            f"{media_count} media files need {media_count} scenes, but max_scenes allows {cap}; "
            "send fewer files or raise max_scenes"
        )
    return max(min(len(texts), cap), media_count, 1)


def v2_duration_seconds(requested: int | None, scene_count: int) -> int:
    """The job's length: as requested, else DEFAULT_SCENE_SECONDS per scene (at most the longest job)."""
    length = requested if requested is not None else min(MAX_DURATION_SECONDS, DEFAULT_SCENE_SECONDS * scene_count)
    fit = min(length * 1000 // MIN_SCENE_MS, MAX_SCENES)
    if scene_count > fit:
        raise ScenePlanningError(
            f"{scene_count} scenes cannot fit in {length} s: at most {fit} fit (each scene lasts at least "
            f"{MIN_SCENE_MS // 1000} s); set max_scenes to merge sentences, or ask for a longer video"
        )
    return length


def fit_frames(weights: Sequence[float], total_frames: int, min_frames: int = MIN_SCENE_FRAMES) -> list[int]:
    """Whole-frame durations, each at least `min_frames`, proportional to `weights` and adding up exactly to
    `total_frames` (largest remainders get the spare frames)."""
    count = len(weights)
    if count * min_frames > total_frames:
        raise ScenePlanningError(f"{count} scenes cannot fit in {total_frames / FPS:g} s")
    spare = total_frames - count * min_frames
    total_weight = sum(weights)
    shares = [spare * w / total_weight if total_weight else spare / count for w in weights]
    frames = [min_frames + int(share) for share in shares]
    order = sorted(range(count), key=lambda i: shares[i] - int(shares[i]), reverse=True)
    for i in order[: total_frames - sum(frames)]:
        frames[i] += 1
    return frames


def durations_ms(frame_counts: Sequence[int]) -> list[int]:
    """Scene durations in ms whose running sums fall exactly on the frame boundaries."""
    bounds, total = [0], 0
    for count in frame_counts:
        total += count
        bounds.append(round(total * 1000 / FPS))
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]


def _keyword(text: str, options: Sequence[str]) -> str | None:
    lowered = text.lower()
    return next((o for o in options if re.search(rf"\b{re.escape(o)}\b", lowered)), None)


def scene_style(text: str, prompt: str) -> SceneStyle | None:
    def find(options: Sequence[str]) -> str | None:
        return _keyword(text, options) or _keyword(prompt, options)

    camera_key = find([k for k, _ in _CAMERA_MOTIONS])
    camera = dict(_CAMERA_MOTIONS)[camera_key] if camera_key else None
    style = SceneStyle(mood=find(_MOODS), camera_motion=camera, lighting=find(_LIGHTING))
    return style if any((style.mood, style.camera_motion, style.lighting)) else None


def preset_transition(spec: JobSpec) -> TransitionKind:
    return TransitionKind.CUT if spec.preset.transitions.type == "cut" else TransitionKind.FADE


def generated_media(spec: JobSpec, text: str) -> SceneMedia | None:
    """What a scene without media of its own shows when the job asks for an engine: a clip generated from the
    scene's text (None when the job asks for none: the scene is its designed card)."""
    engine = requested_engine(spec)
    if engine is None:
        return None
    prompt = engine_prompt(text or spec.prompt, brand_safe=spec.brand_safe)
    return SceneMedia(type="video", engine=engine, prompt=prompt)


def v2_scene_graph(spec: JobSpec, media: Sequence[PlannedMedia]) -> SceneGraph:
    """The rule planner: scenes from the prompt's shots or sentences, media in order, styles from keywords."""
    if spec.scene_graph is not None:
        return parse_scene_graph(spec.scene_graph)
    count = v2_scene_count(spec.prompt, len(media), spec.max_scenes)
    texts = merge_texts(scene_texts(spec.prompt), count)
    # Longer captions stay longer on screen; scenes that only show a media file get an average share.
    weights = [len(text) + READING_WEIGHT_CHARS for text in texts]
    average = sum(weights) / len(weights) if weights else 1.0
    frames = fit_frames(weights + [average] * (count - len(texts)), spec.target_duration_seconds * FPS)
    transition = preset_transition(spec)
    scenes = []
    for index, duration in enumerate(durations_ms(frames)):
        text = texts[index] if index < len(texts) else ""
        item = media[index % len(media)] if media else None
        style = scene_style(text, spec.prompt)
        camera = style.camera_motion if style else None
        if item is not None and item.kind is MediaKind.VIDEO:
            scene_media = SceneMedia(type="video", asset=item.key)
        elif item is not None:
            effect = _EFFECT_FOR_CAMERA.get(camera or "", "ken_burns_zoom")
            scene_media = SceneMedia(type="image", asset=item.key, effect=effect)
        else:
            scene_media = generated_media(spec, text) or SceneMedia(type="image", effect="static")
        label = "Clip" if item is not None and item.kind is MediaKind.VIDEO else "Product image"
        scenes.append(
            Scene(
                id=index + 1,
                description=(text or f"{label} {index % max(1, len(media)) + 1}")[:DESCRIPTION_CHARS],
                duration=duration,
                media=scene_media,
                caption=text,
                style=style,
                transition=transition,
            )
        )
    return SceneGraph(scenes=scenes, global_audio=global_audio(spec))


def global_audio(spec: JobSpec) -> GlobalAudio | None:
    audio = GlobalAudio(
        voice_script=spec.voice_script, voice_file=spec.voice_key, background_music=spec.music_name or spec.music_key
    )
    return audio if any((audio.voice_script, audio.voice_file, audio.background_music)) else None


def v1_scene_graph(spec: JobSpec, caption_at: Sequence[str]) -> SceneGraph:
    """A V1 job's segments as scenes. `caption_at[i]` is the caption on screen when scene i starts (V1
    captions are cues over the whole video, carried by the timeline)."""
    from pytoon.planner import effective_motion_profile, motion_for, segment_frame_counts

    counts = segment_frame_counts(spec.target_duration_seconds * FPS, len(spec.image_keys))
    profile = effective_motion_profile(spec)
    transition = preset_transition(spec)
    scenes = []
    for index, duration in enumerate(durations_ms(counts)):
        image = spec.image_keys[index % len(spec.image_keys)] if spec.image_keys else None
        effect, camera = _V1_MOTION[motion_for(profile, index).kind] if image else ("static", None)
        caption = caption_at[index]
        scenes.append(
            Scene(
                id=index + 1,
                description=(caption or spec.prompt or f"Scene {index + 1}")[:DESCRIPTION_CHARS],
                duration=duration,
                media=SceneMedia(type="image", asset=image, engine="local", effect=effect),
                caption=caption,
                style=SceneStyle(camera_motion=camera) if camera else None,
                transition=transition,
            )
        )
    return SceneGraph(scenes=scenes, global_audio=global_audio(spec))
