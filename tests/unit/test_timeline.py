"""SceneGraph → Timeline: how long each transition takes (never more than half a scene), scenes back to back
adding up to the video, one caption cue per sentence inside its scene, and documents that match the schema."""

from __future__ import annotations

import pytest

from pytoon.chain import plan_documents
from pytoon.models import FPS, OverlayKind, Preset, TransitionKind, TransitionSpec
from pytoon.presets import all_presets
from pytoon.scenes import Scene, SceneGraph, SceneMedia, SceneOverlay, schema_validator
from pytoon.timeline import (
    DEFAULT_FADE_MS,
    FADE_BLACK_MS,
    SWIPE_MS,
    build_timeline,
    frames,
    ms,
    transition_ms,
)
from tests.factories import make_spec
from tests.unit.test_scene_planner import images, v2_spec

CROSSFADE = TransitionSpec(type="crossfade", duration_ms=150)
SPEC = v2_spec("Any prompt.", target_duration_seconds=1)
CUT_PRESET_SPEC = v2_spec("Any prompt.", preset_id="meme_fast", target_duration_seconds=1)


def scene(scene_id: int, duration: int, transition: TransitionKind = TransitionKind.FADE, **fields: object) -> Scene:
    fields = {"media": SceneMedia(type="image", effect="static"), "caption": ""} | fields
    return Scene(id=scene_id, description=f"Scene {scene_id}", duration=duration, transition=transition, **fields)


def graph(*scenes: Scene) -> SceneGraph:
    return SceneGraph(scenes=list(scenes))


@pytest.mark.parametrize("frame", [0, 1, 2, 5, 29, 30, 31, 89, 1799, 1800])
def test_ms_and_frames_round_trip_on_every_frame(frame: int) -> None:
    assert frames(ms(frame)) == frame


@pytest.mark.parametrize(("milliseconds", "frame"), [(0, 0), (16, 0), (17, 1), (150, 5), (1000, 30), (1010, 30)])
def test_milliseconds_round_to_the_nearest_frame(milliseconds: int, frame: int) -> None:
    assert frames(milliseconds) == frame


@pytest.mark.parametrize(
    ("kind", "preset", "length"),
    [
        (TransitionKind.CUT, CROSSFADE, 0),
        (TransitionKind.FADE, CROSSFADE, 150),
        (TransitionKind.FADE, TransitionSpec(type="crossfade", duration_ms=800), 800),
        (TransitionKind.FADE, TransitionSpec(type="crossfade", duration_ms=0), DEFAULT_FADE_MS),
        (TransitionKind.FADE, TransitionSpec(type="cut", duration_ms=0), DEFAULT_FADE_MS),
        (TransitionKind.FADE_BLACK, CROSSFADE, FADE_BLACK_MS),
        (TransitionKind.SWIPE_LEFT, CROSSFADE, SWIPE_MS),
        (TransitionKind.SWIPE_RIGHT, TransitionSpec(type="cut", duration_ms=0), SWIPE_MS),
    ],
)
def test_transition_lengths(kind: TransitionKind, preset: TransitionSpec, length: int) -> None:
    assert transition_ms(kind, preset) == length
    assert (DEFAULT_FADE_MS, FADE_BLACK_MS, SWIPE_MS) == (300, 600, 400)


@pytest.mark.parametrize(
    ("kind", "spec", "length"),
    [
        (TransitionKind.CUT, SPEC, 0),
        # The preset's 150 ms crossfade is 5 frames: 167 ms on the timeline.
        (TransitionKind.FADE, SPEC, 167),
        (TransitionKind.FADE, CUT_PRESET_SPEC, 300),
        (TransitionKind.FADE_BLACK, SPEC, 600),
        (TransitionKind.SWIPE_LEFT, SPEC, 400),
        (TransitionKind.SWIPE_RIGHT, SPEC, 400),
    ],
)
def test_each_transition_takes_its_length_between_long_scenes(kind: TransitionKind, spec, length: int) -> None:
    timeline = build_timeline(graph(scene(1, 3000, kind), scene(2, 3000, kind)), spec)
    first, last = timeline.timeline
    assert (first.transition.type, first.transition.duration) == (kind if length else TransitionKind.CUT, length)
    assert last.transition is None
    assert (first.start, first.end, last.start, last.end, timeline.total_duration) == (0, 3000, 3000, 6000, 6000)


@pytest.mark.parametrize(
    ("durations", "kind", "length"),
    [
        # Half of a one-second scene is 15 frames (500 ms): fade_black's 600 ms is cut to that.
        ((1000, 1000), TransitionKind.FADE_BLACK, 500),
        ((5000, 1000), TransitionKind.FADE_BLACK, 500),
        ((1000, 5000), TransitionKind.FADE_BLACK, 500),
        # 1100 ms is 33 frames: half is 16 frames, 533 ms.
        ((1100, 5000), TransitionKind.FADE_BLACK, 533),
        ((1000, 1000), TransitionKind.SWIPE_LEFT, 400),
        ((1000, 1000), TransitionKind.FADE, 167),
    ],
)
def test_a_transition_takes_at_most_half_of_either_scene(
    durations: tuple[int, int], kind: TransitionKind, length: int
) -> None:
    timeline = build_timeline(graph(scene(1, durations[0], kind), scene(2, durations[1])), SPEC)
    assert timeline.timeline[0].transition.duration == length
    assert timeline.total_duration == sum(durations)


def test_a_long_preset_fade_is_clamped_by_the_shorter_neighbour() -> None:
    preset = SPEC.preset.model_copy(update={"transitions": TransitionSpec(type="crossfade", duration_ms=2000)})
    spec = SPEC.model_copy(update={"preset": preset})
    timeline = build_timeline(graph(scene(1, 10_000), scene(2, 2000), scene(3, 10_000)), spec)
    assert [e.transition.duration for e in timeline.timeline[:2]] == [1000, 1000]


@pytest.mark.parametrize(
    "durations",
    [(1000,), (1000, 1000, 1000), (2100, 2867, 2033), (1500,) * 6, (30_000, 30_000), (1000,) * 60],
)
@pytest.mark.parametrize("kind", list(TransitionKind))
def test_scenes_run_back_to_back_and_transitions_never_shorten_the_video(
    durations: tuple[int, ...], kind: TransitionKind
) -> None:
    timeline = build_timeline(graph(*(scene(i + 1, d, kind) for i, d in enumerate(durations))), SPEC)
    entries = timeline.timeline
    assert timeline.total_duration == sum(durations)
    assert [e.end - e.start for e in entries] == list(durations)
    assert entries[0].start == 0 and all(b.start == a.end for a, b in zip(entries, entries[1:], strict=False))
    for entry, before, after in zip(entries, durations, durations[1:], strict=False):
        assert 0 <= entry.transition.duration <= min(before, after) // 2


@pytest.mark.parametrize("durations", [(1010, 1010, 1010), (1234, 2345), (1001,) * 7])
def test_durations_off_the_frame_grid_land_on_the_nearest_frame(durations: tuple[int, ...]) -> None:
    timeline = build_timeline(graph(*(scene(i + 1, d) for i, d in enumerate(durations))), SPEC)
    boundaries = [e.end for e in timeline.timeline]
    assert all(ms(frames(b)) == b for b in boundaries)
    assert abs(timeline.total_duration - sum(durations)) <= 1000 / FPS / 2 + 1


# --- captions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "cues"),
    [
        (6000, ["One.", "Two is a longer sentence.", "Three."]),
        (3000, ["One.", "Two is a longer sentence.", "Three."]),
        # Too short for a second per sentence: sentences share cues, none is dropped.
        (2000, ["One. Two is a longer sentence.", "Three."]),
        (1000, ["One. Two is a longer sentence. Three."]),
    ],
)
def test_one_caption_cue_per_sentence_inside_its_scene(duration: int, cues: list[str]) -> None:
    caption = "One. Two is a longer sentence. Three."
    timeline = build_timeline(graph(scene(1, 2000), scene(2, duration, caption=caption), scene(3, 1000)), SPEC)
    start, end = timeline.timeline[1].start, timeline.timeline[1].end
    captions = timeline.tracks.captions
    assert [c.text for c in captions] == cues and {c.scene_id for c in captions} == {2}
    assert captions[0].start == start and captions[-1].end == end
    assert all(b.start == a.end for a, b in zip(captions, captions[1:], strict=False))
    assert all(c.end - c.start >= 1000 for c in captions)


def test_caption_cues_of_a_planned_job_are_in_order_and_never_overlap() -> None:
    prompt = "Meet Aurora. Cold for a whole day! Three colours. Light as air? Order yours today."
    job = plan_documents(v2_spec(prompt, max_scenes=3, target_duration_seconds=12), images(3))
    timeline = job.timeline
    captions = timeline.tracks.captions
    assert [c.text for c in captions] == [
        "Meet Aurora.",
        "Cold for a whole day!",
        "Three colours.",
        "Light as air?",
        "Order yours today.",
    ]
    spans = {e.scene_id: (e.start, e.end) for e in timeline.timeline}
    assert all(spans[c.scene_id][0] <= c.start < c.end <= spans[c.scene_id][1] for c in captions)
    assert all(a.end <= b.start for a, b in zip(captions, captions[1:], strict=False))
    # The render plan burns in the same cues, on whole frames.
    assert [(c.text, c.start_frame, c.end_frame) for c in job.plan.captions] == [
        (c.text, frames(c.start), frames(c.end)) for c in captions
    ]


def test_scenes_without_a_caption_have_no_cue() -> None:
    timeline = build_timeline(
        graph(scene(1, 2000, caption="Hello."), scene(2, 2000), scene(3, 2000, caption=" ")), SPEC
    )
    assert [(c.text, c.scene_id) for c in timeline.tracks.captions] == [("Hello.", 1)]


# --- layers and documents ---------------------------------------------------------------------------------


def test_each_scene_has_its_visual_on_layer_zero_and_overlays_above() -> None:
    overlays = [
        SceneOverlay(type=OverlayKind.LOGO, asset="uploads/l/logo.png", position="top-right", opacity=0.8),
        SceneOverlay(type=OverlayKind.TEXT, asset="Limited edition", position="custom", x=0.5, y=0.2),
    ]
    timeline = build_timeline(
        graph(
            scene(1, 2000, media=SceneMedia(type="image", asset="uploads/a/a.png", effect="slow_zoom_out")),
            scene(2, 2000, media=SceneMedia(type="video", asset="uploads/c/clip.mp4"), overlays=overlays),
            scene(3, 2000, caption="The end."),
            scene(4, 2000, media=SceneMedia(type="video", engine="runway", prompt="A lake at dawn.")),
        ),
        SPEC,
    )
    tracks = {scene_id: timeline.layers(scene_id) for scene_id in (1, 2, 3, 4)}
    assert [(t.kind, t.asset, t.effect) for t in tracks[1]] == [("image", "uploads/a/a.png", "zoom_out")]
    assert [(t.layer, t.kind, t.asset, t.text) for t in tracks[2]] == [
        (0, "video", "uploads/c/clip.mp4", None),
        (1, "logo", "uploads/l/logo.png", None),
        (2, "text", None, "Limited edition"),
    ]
    assert (tracks[2][2].transform.x, tracks[2][2].transform.y, tracks[2][1].transform.opacity) == (0.5, 0.2, 0.8)
    # No media of its own, or a generated scene not made yet: a designed card with the scene's words.
    assert [(t.kind, t.text) for t in tracks[3]] == [("card", "The end.")]
    assert [(t.kind, t.text) for t in tracks[4]] == [("card", "Scene 4")]


def test_music_plays_under_the_whole_video() -> None:
    spec = SPEC.model_copy(update={"music_key": "uploads/m/song.mp3"})
    timeline = build_timeline(graph(scene(1, 2000), scene(2, 3000)), spec)
    (music,) = timeline.tracks.audio
    assert (music.type, music.file, music.start, music.end) == ("music", "uploads/m/song.mp3", 0, 5000)
    assert music.volume == pytest.approx(10 ** (spec.preset.audio.music_level_db / 20), abs=1e-4)


@pytest.mark.parametrize(
    ("prompt", "request_fields", "media"),
    [
        ("Meet Aurora. Cold all day. Order now.", {"target_duration_seconds": 6}, 0),
        ("<SHOT 1> Pan left, golden hour. <SHOT 2> Neon zoom in.", {"target_duration_seconds": 59}, 3),
        (" ".join(f"Point {i}." for i in range(17)), {"target_duration_seconds": 59, "max_scenes": 17}, 2),
        ("A drone shot over the lake.", {"engine_override": "runway"}, 0),
    ],
)
def test_planned_documents_match_their_json_schemas(prompt: str, request_fields: dict, media: int) -> None:
    spec = v2_spec(prompt, **request_fields).model_copy(update={"music_key": "uploads/m/song.mp3"})
    job = plan_documents(spec, images(media))
    graph_document, timeline_document = job.scene_graph.document(), job.timeline.document()
    assert list(schema_validator("scene_graph_v2").iter_errors(graph_document)) == []
    assert list(schema_validator("timeline_v2").iter_errors(timeline_document)) == []
    assert timeline_document["totalDuration"] == sum(s["duration"] for s in graph_document["scenes"])
    assert {"sceneId", "start", "end"} <= set(timeline_document["timeline"][0])


@pytest.mark.parametrize("preset", all_presets(), ids=lambda preset: preset.id)
def test_v1_jobs_of_every_preset_plan_timelines_matching_their_schema(preset: Preset) -> None:
    request = {"prompt": "Cold for 24 hours. Yours for $29.", "target_duration_seconds": 8, "preset_id": preset.id}
    image_uris = [f"uploads/i{n}/photo.jpg" for n in range(3)]
    spec = make_spec(**request, image_uris=image_uris, music_uri="uploads/m/song.mp3")
    document = plan_documents(spec).timeline.document()
    assert list(schema_validator("timeline_v2").iter_errors(document)) == []
    assert document["totalDuration"] == 8000 and len(document["timeline"]) >= 1


def test_a_timeline_with_every_layer_and_transition_matches_its_schema() -> None:
    overlays = [
        SceneOverlay(type=kind, asset="Words" if kind is OverlayKind.TEXT else "uploads/o/o.png")
        for kind in OverlayKind
    ]
    scenes = [
        scene(i + 1, 1500, kind, caption=f"Scene {i + 1}.", overlays=overlays if i == 2 else [])
        for i, kind in enumerate(TransitionKind)
    ]
    document = build_timeline(graph(*scenes), SPEC).document()
    assert list(schema_validator("timeline_v2").iter_errors(document)) == []
    assert [e.get("transition", {}).get("type") for e in document["timeline"]] == [
        "cut",
        "fade",
        "fade_black",
        "swipe_left",
        None,
    ]
