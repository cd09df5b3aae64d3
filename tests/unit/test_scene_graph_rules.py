"""Supplied scene graphs: a valid document survives a round trip unchanged, and a bad one is refused with
every problem listed at once (schema problems first; cross-field rules once the schema holds)."""

from __future__ import annotations

import copy

import pytest

from pytoon.models import TransitionKind
from pytoon.scenes import SceneGraph, SceneGraphError, parse_scene_graph


def scene_document(scene_id: int, **fields: object) -> dict:
    return {
        "id": scene_id,
        "description": f"Scene {scene_id}",
        "duration": 1500,
        "media": {"type": "image", "effect": "static"},
        "caption": "",
        "overlays": [],
        "transition": "fade",
    } | fields


FULL_DOCUMENT = {
    "version": "2.0",
    "scenes": [
        scene_document(
            1,
            media={"type": "image", "asset": "uploads/a/a.png", "effect": "slow_zoom_in"},
            caption="Meet Aurora.",
            style={"mood": "cinematic", "camera_motion": "slow zoom in", "lighting": "golden hour"},
            transition="fade_black",
        ),
        scene_document(
            2,
            duration=2000,
            media={"type": "video", "asset": "https://example.com/clip.mp4"},
            audio="uploads/s/whoosh.wav",
            overlays=[
                {"type": "logo", "asset": "uploads/l/logo.png", "position": "top-right", "scale": 0.5, "opacity": 0.8},
                {
                    "type": "text",
                    "asset": "Limited edition",
                    "position": "custom",
                    "scale": 1.0,
                    "opacity": 1.0,
                    "x": 0.5,
                    "y": 0.2,
                },
            ],
            transition="swipe_left",
        ),
        scene_document(3, media={"type": "video", "engine": "runway", "prompt": "A lake at dawn."}, transition="cut"),
        scene_document(4, caption="Order now."),
    ],
    "globalAudio": {"voiceScript": "Meet Aurora.", "backgroundMusic": "upbeat_pop"},
}


def problems_of(document: dict) -> list[str]:
    with pytest.raises(SceneGraphError) as caught:
        parse_scene_graph(document)
    assert str(caught.value) == "invalid scene graph: " + "; ".join(caught.value.problems)
    return caught.value.problems


def test_a_valid_document_round_trips_unchanged() -> None:
    graph = parse_scene_graph(copy.deepcopy(FULL_DOCUMENT))
    assert graph.document() == FULL_DOCUMENT
    assert parse_scene_graph(graph.document()) == graph
    assert graph.total_ms == 6500 and graph.global_audio.background_music == "upbeat_pop"
    assert [s.transition for s in graph.scenes] == [
        TransitionKind.FADE_BLACK,
        TransitionKind.SWIPE_LEFT,
        TransitionKind.CUT,
        TransitionKind.FADE,
    ]


def test_defaults_are_filled_in_and_kept_on_the_round_trip() -> None:
    minimal = {
        "version": "2.0",
        "scenes": [{"id": 1, "description": "Only", "duration": 1000, "media": {"type": "image"}, "caption": ""}],
    }
    graph = parse_scene_graph(minimal)
    scene = graph.scenes[0]
    assert (scene.transition, scene.overlays, scene.media.asset) == (TransitionKind.FADE, [], None)
    assert graph.document()["scenes"][0]["transition"] == "fade"
    assert parse_scene_graph(graph.document()) == graph
    assert SceneGraph.model_validate(graph.document()) == graph


def test_every_cross_field_violation_is_listed_at_once() -> None:
    document = {
        "version": "2.0",
        "scenes": [
            scene_document(1, duration=30_000),
            scene_document(1, duration=30_000, media={"type": "video", "engine": "pika"}),
            scene_document(2, media={"type": "video"}),
            scene_document(
                3,
                overlays=[
                    {"type": "graphic", "asset": "uploads/g/g.png", "position": "custom", "x": 0.5},
                    {"type": "text", "asset": "   "},
                ],
            ),
            scene_document(2, media={"type": "video", "engine": "local"}),
        ],
    }
    assert problems_of(document) == [
        "scene ids must be unique: [1, 2] repeat",
        "scene durations add up to 64500 ms, more than 60000 ms",
        "scenes/1/media: engine pika needs a prompt",
        "scenes/2/media: a video scene needs an asset, an engine or a prompt",
        "scenes/3/overlays/0: position custom needs x and y (fractions of the frame)",
        "scenes/3/overlays/1: a text overlay needs its words in asset",
    ]


@pytest.mark.parametrize(
    ("media", "problem"),
    [
        ({"type": "video", "engine": "runway", "prompt": "  "}, "scenes/0/media: engine runway needs a prompt"),
        ({"type": "video", "asset": None}, "scenes/0/media: a video scene needs an asset, an engine or a prompt"),
    ],
)
def test_each_media_rule_on_its_own(media: dict, problem: str) -> None:
    assert problems_of({"version": "2.0", "scenes": [scene_document(1, media=media)]}) == [problem]


@pytest.mark.parametrize(
    "media",
    [
        {"type": "video", "engine": "local"},
        {"type": "video", "prompt": "A lake."},
        {"type": "video", "engine": "luma", "prompt": "A lake."},
        {"type": "image"},
    ],
)
def test_media_that_say_what_they_are_pass(media: dict) -> None:
    assert parse_scene_graph({"version": "2.0", "scenes": [scene_document(1, media=media)]}).scenes[0].media.type


def test_every_schema_violation_is_listed_at_once() -> None:
    document = {
        "version": "2.0",
        "scenes": [
            scene_document(1, duration=500),
            scene_document(2, transition="wobble"),
            scene_document(0, media={"type": "gif", "effect": "spin"}),
            scene_document(4, description="", unknown=True),
            {"id": 5, "description": "No caption", "duration": 1000, "media": {"type": "image"}},
            scene_document(6, overlays=[{"type": "sticker", "asset": "x", "scale": 3, "opacity": -1}]),
        ],
        "globalAudio": {"voice_script": "snake_case is not the stored spelling"},
    }
    problems = problems_of(document)
    for where in (
        "globalAudio",
        "scenes/0/duration",
        "scenes/1/transition",
        "scenes/2/id",
        "scenes/2/media/type",
        "scenes/2/media/effect",
        "scenes/3/description",
        "scenes/3:",
        "scenes/4:",
        "scenes/5/overlays/0/type",
        "scenes/5/overlays/0/scale",
        "scenes/5/overlays/0/opacity",
    ):
        assert any(p.startswith(where) for p in problems), (where, problems)
    assert any("'caption' is a required property" in p for p in problems)
    assert any("'unknown' was unexpected" in p for p in problems)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"version": "2.0", "scenes": []}, "scenes: [] should be non-empty"),
        ({"version": "1.0", "scenes": [scene_document(1)]}, "version: '2.0' was expected"),
        ({"scenes": [scene_document(1)]}, "(root): 'version' is a required property"),
        ({"version": "2.0", "scenes": [scene_document(i + 1, duration=1000) for i in range(61)]}, "scenes: "),
        ({"version": "2.0", "scenes": [scene_document(1, duration=60_001)]}, "scenes/0/duration: 60001"),
        ([], "(root): [] is not of type 'object'"),
    ],
)
def test_documents_the_schema_refuses(document: object, problem: str) -> None:
    problems = problems_of(document)
    assert any(p.startswith(problem) for p in problems), problems


def test_the_longest_video_is_accepted_and_one_millisecond_more_is_not() -> None:
    sixty = [scene_document(i + 1, duration=1000) for i in range(60)]
    assert parse_scene_graph({"version": "2.0", "scenes": sixty}).total_ms == 60_000
    sixty[0]["duration"] = 1001
    assert problems_of({"version": "2.0", "scenes": sixty}) == [
        "scene durations add up to 60001 ms, more than 60000 ms"
    ]
