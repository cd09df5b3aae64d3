"""Every plan has V2 views (scene graph, timeline) that satisfy the repo's JSON Schemas."""

from __future__ import annotations

import pytest

from pytoon.planner import build_plan
from pytoon.presets import all_presets
from pytoon.scene_graph import SceneGraphError, scene_graph, timeline, validate
from tests.factories import make_spec


def _plan(**request: object):
    body = {"preset_id": "overlay_glow", "prompt": "Meet Aurora. Cold all day. Order now."} | request
    return build_plan(make_spec(job_id="j", **body))


@pytest.mark.parametrize("seconds", [1, 2, 7, 15, 59, 60])
def test_views_validate_for_every_preset(seconds: int) -> None:
    for preset in all_presets():
        # One caption per sentence and at least a second each: short jobs get a one-sentence prompt.
        prompt = "Meet Aurora. Cold all day. Order now." if seconds >= 3 else "Meet Aurora."
        plan = _plan(preset_id=preset.id, prompt=prompt, target_duration_seconds=seconds, image_uris=["a.png", "b.png"])
        graph, line = scene_graph(plan), timeline(plan)
        assert len(graph["scenes"]) == len(plan.segments) == len(line["timeline"])
        assert sum(s["duration"] for s in graph["scenes"]) == line["totalDuration"] == seconds * 1000
        assert [e["start"] for e in line["timeline"]] == sorted(e["start"] for e in line["timeline"])


def test_timeline_carries_transitions_audio_and_captions() -> None:
    plan = _plan(target_duration_seconds=9, image_uris=["a.png"], music_uri="m.mp3", voice_uri="v.wav")
    line = timeline(plan)
    assert [e["transition"] for e in line["timeline"]] == [{"type": "fade", "duration": 167}] * 2 + [None]
    assert [(t["type"], t["file"]) for t in line["tracks"]["audio"]] == [("music", "m.mp3"), ("voiceover", "v.wav")]
    assert [c["text"] for c in line["tracks"]["captions"]] == ["Meet Aurora.", "Cold all day.", "Order now."]
    assert {t["layer"] for t in line["tracks"]["video"]} == {0, 1}  # OVERLAY: background and product layers
    graph = scene_graph(plan)
    assert graph["scenes"][0]["overlays"][0]["type"] == "product_image"
    assert graph["globalAudio"] == {"voiceScript": None, "voiceFile": "v.wav", "backgroundMusic": "m.mp3"}


def test_cut_presets_have_cut_transitions() -> None:
    graph = scene_graph(_plan(preset_id="meme_fast", target_duration_seconds=6))
    assert {s["transition"] for s in graph["scenes"]} == {"cut"}


def test_schema_violations_are_reported() -> None:
    graph = scene_graph(_plan())
    graph["scenes"][0]["duration"] = 500
    graph["scenes"][0]["media"]["effect"] = "wobble"
    with pytest.raises(SceneGraphError, match="duration") as error:
        validate(graph, "scene_graph_v2")
    assert "wobble" in str(error.value)
