"""The V2 views of a render plan: the scene graph (what each scene shows) and the timeline (when, in ms).

Every job gets both, whatever surface created it: V1 segments and V2 scenes are the same list.
Both documents are validated against the JSON Schemas in `pytoon/schemas/` before they are stored, plus the
cross-field rules a schema cannot express (unique ids, ordering, totals).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator

from pytoon.limits import MAX_DURATION_SECONDS
from pytoon.models import FPS, Archetype, MotionKind, RenderPlan, SegmentPlan

MAX_TOTAL_MS = MAX_DURATION_SECONDS * 1000
_EFFECTS = {
    MotionKind.STATIC: "static",
    MotionKind.ZOOM_IN: "slow_zoom_in",
    MotionKind.ZOOM_OUT: "slow_zoom_out",
    MotionKind.PAN_UP: "ken_burns_pan",
    MotionKind.PAN_DOWN: "ken_burns_pan",
    MotionKind.PAN_LEFT: "ken_burns_pan",
    MotionKind.PAN_RIGHT: "ken_burns_pan",
}
OVERLAY_PRODUCT_SCALE = 0.6  # the OVERLAY archetype's product width, as a fraction of the frame


class SceneGraphError(ValueError):
    pass


def ms(frame: int) -> int:
    return round(frame * 1000 / FPS)


@cache
def _validator(name: str) -> Draft7Validator:
    schema = json.loads(resources.files("pytoon.schemas").joinpath(f"{name}.json").read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def validate(document: dict[str, Any], name: str) -> None:
    """Raise SceneGraphError listing every violation of the named schema (`scene_graph_v2`, `timeline_v2`)."""
    errors = sorted(_validator(name).iter_errors(document), key=lambda e: list(e.path))
    if errors:
        details = "; ".join(f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors[:5])
        raise SceneGraphError(f"{name} invalid: {details}")


def _caption_at(plan: RenderPlan, frame: int) -> str:
    return next((c.text for c in plan.captions if c.start_frame <= frame < c.end_frame), "")


def _transition(segment: SegmentPlan | None) -> str:
    return "fade" if segment is not None and segment.crossfade_frames else "cut"


def scene_graph(plan: RenderPlan) -> dict[str, Any]:
    spec = plan.spec
    scenes = []
    for i, segment in enumerate(plan.segments):
        following = plan.segments[i + 1] if i + 1 < len(plan.segments) else None
        caption = _caption_at(plan, segment.start_frame)
        visual = segment.visual
        scene: dict[str, Any] = {
            "id": i + 1,
            "description": (caption or spec.prompt or f"Scene {i + 1}")[:120],
            "duration": ms(segment.start_frame + segment.frame_count) - ms(segment.start_frame),
            "media": {
                "type": "image",
                "asset": visual.image_key,
                "engine": "local",
                "prompt": None,
                "effect": _EFFECTS[visual.motion.kind],
            },
            "caption": caption,
            "overlays": [],
            "transition": _transition(following),
        }
        if visual.archetype is Archetype.OVERLAY and visual.image_key:
            scene["overlays"].append(
                {
                    "type": "product_image",
                    "asset": visual.image_key,
                    "position": "center",
                    "scale": OVERLAY_PRODUCT_SCALE,
                }
            )
        scenes.append(scene)
    document = {
        "version": "2.0",
        "scenes": scenes,
        "globalAudio": {"voiceScript": None, "voiceFile": spec.voice_key, "backgroundMusic": spec.music_key},
    }
    validate(document, "scene_graph_v2")
    if sum(s["duration"] for s in scenes) > MAX_TOTAL_MS:
        raise SceneGraphError("scene durations add up to more than 60 s")
    return document


def _volume(level_db: float) -> float:
    return round(10 ** (level_db / 20), 4)


def timeline(plan: RenderPlan) -> dict[str, Any]:
    entries, video = [], []
    for i, segment in enumerate(plan.segments):
        following = plan.segments[i + 1] if i + 1 < len(plan.segments) else None
        entry: dict[str, Any] = {
            "sceneId": i + 1,
            "start": ms(segment.start_frame),
            "end": ms(segment.start_frame + segment.frame_count),
            "transition": None,
        }
        if following is not None:
            # Crossfades are rendered inside the next scene's first frames: scenes never overlap and the
            # total is the requested duration.
            entry["transition"] = {"type": _transition(following), "duration": ms(following.crossfade_frames)}
        entries.append(entry)
        effect = _EFFECTS[segment.visual.motion.kind]
        video.append({"sceneId": i + 1, "asset": segment.visual.image_key, "effect": effect, "layer": 0})
        if segment.visual.archetype is Archetype.OVERLAY and segment.visual.image_key:
            video.append(
                {
                    "sceneId": i + 1,
                    "asset": segment.visual.image_key,
                    "effect": "static",
                    "layer": 1,
                    "transform": {"position": "center", "scale": OVERLAY_PRODUCT_SCALE, "opacity": 1.0},
                }
            )
    total = ms(plan.total_frames)
    audio = []
    if plan.audio.music_key:
        music = {"type": "music", "file": plan.audio.music_key, "start": 0, "end": total}
        audio.append(music | {"volume": _volume(plan.audio.music_level_db)})
    if plan.audio.voice_key:
        voice = {"type": "voiceover", "file": plan.audio.voice_key, "start": 0, "end": total}
        audio.append(voice | {"volume": _volume(plan.audio.voice_level_db)})
    document = {
        "version": "2.0",
        "totalDuration": max(1000, total),
        "timeline": entries,
        "tracks": {
            "video": video,
            "audio": audio,
            "captions": [
                {"text": c.text, "start": ms(c.start_frame), "end": ms(c.end_frame), "sceneId": None, "style": None}
                for c in plan.captions
            ],
        },
    }
    validate(document, "timeline_v2")
    _check_order(entries, total)
    return document


def _check_order(entries: list[dict[str, Any]], total: int) -> None:
    for previous, entry in zip(entries, entries[1:], strict=False):
        if entry["start"] < previous["end"] - (previous["transition"] or {}).get("duration", 0):
            raise SceneGraphError(f"scene {entry['sceneId']} overlaps the previous one")
    if entries[-1]["end"] != total or entries[0]["start"] != 0:
        raise SceneGraphError("scenes do not cover the video exactly")
