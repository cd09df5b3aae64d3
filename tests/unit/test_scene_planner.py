"""The V2 rule planner: a prompt's scenes (shots or sentences, merged to max_scenes), how long each lasts (to
the frame), which media each shows, designed cards for the rest, and the style its keywords ask for."""

from __future__ import annotations

import pytest

from pytoon.chain import plan_documents
from pytoon.content_rules import BRAND_SAFE_SUFFIX
from pytoon.models import FPS, CardStyle, JobSpec, MediaKind, MotionKind, TransitionKind
from pytoon.presets import get_preset
from pytoon.scene_planner import (
    PlannedMedia,
    ScenePlanningError,
    durations_ms,
    fit_frames,
    merge_texts,
    scene_style,
    scene_texts,
    v2_scene_count,
    v2_scene_graph,
)
from pytoon.scenes import SceneStyle
from pytoon.timeline import frames
from pytoon.v2_jobs import V2JobRequest, resolve_v2_spec


def v2_spec(prompt: str, **request: object) -> JobSpec:
    """A resolved V2 prompt job; its media are passed to the planner as PlannedMedia (no storage involved)."""
    return resolve_v2_spec(V2JobRequest(prompt=prompt, **request), job_id="j1", tenant_id="t", settings=None)


def images(count: int) -> list[PlannedMedia]:
    return [PlannedMedia(f"uploads/{i:032x}/p{i}.png", MediaKind.IMAGE) for i in range(count)]


# --- scene texts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "texts"),
    [
        ("<SHOT 1> Close up. Of the can. <SHOT 2> Wide shot.", ["Close up. Of the can.", "Wide shot."]),
        ("<shot 1>A<SHOT2>B< SHOT 3 >C", ["A", "B", "C"]),
        ("<SHOT 1>\n  Line one\n  line two  \n<SHOT 2>\tEnd", ["Line one line two", "End"]),
        ("<SHOT 1> Only shot, two sentences. Still one scene.", ["Only shot, two sentences. Still one scene."]),
        ("<SHOT 1> A. <SHOT 2>   <SHOT 3> C.", ["A.", "C."]),
    ],
)
def test_shot_markers_make_one_scene_per_block(prompt: str, texts: list[str]) -> None:
    assert scene_texts(prompt) == texts


@pytest.mark.parametrize(
    ("prompt", "texts"),
    [
        ("Meet Aurora. Cold all day! Really? Order now.", ["Meet Aurora.", "Cold all day!", "Really?", "Order now."]),
        ("Charges in 3.5 s flat. Lasts 2.5 days.", ["Charges in 3.5 s flat.", "Lasts 2.5 days."]),
        ("Version 2.0 is here. Only $3.99 today.", ["Version 2.0 is here.", "Only $3.99 today."]),
        ("Wait… what? Yes!", ["Wait…", "what?", "Yes!"]),
        ("One line without a stop", ["One line without a stop"]),
        ("  First.\n\n  Second.  ", ["First.", "Second."]),
        # No space after the stop: not a sentence end (a URL, a version, a typo).
        ("Visit aurora.example today.Now!", ["Visit aurora.example today.Now!"]),
        # Chinese and Japanese put no space after their full stops.
        ("夏季大促销。买二送一！数量有限？", ["夏季大促销。", "买二送一！", "数量有限？"]),
        ("本当に！？はい。", ["本当に！？", "はい。"]),
        ("他说：「好。」然后走了。", ["他说：「好。」然后走了。"]),
        ("Meet Aurora. 全新上市。Order now.", ["Meet Aurora.", "全新上市。", "Order now."]),
        # Abbreviations and initials do not end a sentence.
        ("Meet Dr. Smith. He fixes teeth.", ["Meet Dr. Smith.", "He fixes teeth."]),
        (
            "Made in the U.S. by hand, e.g. this one. Open at 9 a.m. daily.",
            ["Made in the U.S. by hand, e.g. this one.", "Open at 9 a.m. daily."],
        ),
        ("Ask J. Doe. Or ask Mrs. Roe.", ["Ask J. Doe.", "Or ask Mrs. Roe."]),
    ],
)
def test_without_markers_every_sentence_is_a_scene(prompt: str, texts: list[str]) -> None:
    assert scene_texts(prompt) == texts


def test_a_decimal_does_not_split_a_scene() -> None:
    graph = v2_scene_graph(v2_spec("It charges in 3.5 s. Buy it.", target_duration_seconds=4), [])
    assert [scene.caption for scene in graph.scenes] == ["It charges in 3.5 s.", "Buy it."]


# --- merging and scene counts -----------------------------------------------------------------------------

SENTENCE_LISTS = [
    [f"Point {i}." for i in range(1, 9)],
    ["A very long opening sentence that goes on and on about the product.", "Short.", "Tiny.", "Also short."],
    ["x.", "y.", "z.", "A much longer closing sentence with many words in it, to skew the shares."],
    [f"Sentence number {i} says something." for i in range(70)],
]


@pytest.mark.parametrize("texts", SENTENCE_LISTS, ids=["eight", "long-first", "long-last", "seventy"])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 15])
def test_merging_keeps_every_sentence_in_order(texts: list[str], count: int) -> None:
    merged = merge_texts(texts, count)
    assert len(merged) == min(count, len(texts))
    assert all(group.strip() for group in merged)
    assert " ".join(merged) == " ".join(texts)


def test_merged_groups_have_similar_lengths() -> None:
    texts = [f"Point {i}." for i in range(1, 10)]
    assert merge_texts(texts, 3) == [
        "Point 1. Point 2. Point 3.",
        "Point 4. Point 5. Point 6.",
        "Point 7. Point 8. Point 9.",
    ]


def test_max_scenes_merges_sentences_into_captions() -> None:
    prompt = " ".join(f"Point {i}." for i in range(1, 9))
    graph = v2_scene_graph(v2_spec(prompt, max_scenes=3, target_duration_seconds=9), [])
    assert len(graph.scenes) == 3
    assert " ".join(scene.caption for scene in graph.scenes) == prompt


def test_seventy_sentences_in_fifteen_seconds_say_how_many_fit() -> None:
    prompt = " ".join(f"Sentence {i}." for i in range(70))
    with pytest.raises(ScenePlanningError, match=r"70 scenes cannot fit in 15 s: at most 15 fit.*max_scenes"):
        v2_spec(prompt, target_duration_seconds=15)
    with pytest.raises(ScenePlanningError, match=r"70 scenes cannot fit in 60 s: at most 60 fit"):
        v2_spec(prompt)
    merged = v2_scene_graph(v2_spec(prompt, target_duration_seconds=15, max_scenes=15), [])
    assert len(merged.scenes) == 15 and " ".join(s.caption for s in merged.scenes) == prompt


@pytest.mark.parametrize(
    ("sentence_count", "media_count", "max_scenes", "scenes"),
    [
        (3, 0, None, 3),
        (3, 1, None, 3),
        (2, 5, None, 5),
        (0, 0, None, 1),
        (8, 0, 3, 3),
        (8, 2, 3, 3),
        (2, 3, 3, 3),
        (8, 3, 1, None),
        (1, 4, 3, None),
    ],
)
def test_scene_count_follows_sentences_media_and_max_scenes(
    sentence_count: int, media_count: int, max_scenes: int | None, scenes: int | None
) -> None:
    prompt = " ".join(f"Sentence {i}." for i in range(sentence_count))
    if scenes is None:
        with pytest.raises(ScenePlanningError, match=rf"{media_count} media files need {media_count} scenes"):
            v2_scene_count(prompt, media_count, max_scenes)
    else:
        assert v2_scene_count(prompt, media_count, max_scenes) == scenes


def test_more_media_than_sentences_adds_scenes_that_show_them() -> None:
    media = [*images(2), PlannedMedia("uploads/c/clip.mp4", MediaKind.VIDEO), *images(1)]
    graph = v2_scene_graph(v2_spec("Meet Aurora. Order now.", target_duration_seconds=8), media)
    assert [s.media.asset for s in graph.scenes] == [m.key for m in media]
    assert [s.caption for s in graph.scenes] == ["Meet Aurora.", "Order now.", "", ""]
    assert [s.description for s in graph.scenes] == ["Meet Aurora.", "Order now.", "Clip 3", "Product image 4"]


@pytest.mark.parametrize(
    ("request_fields", "seconds"),
    [({}, 15), ({"target_duration_seconds": 7}, 7), ({"max_scenes": 1}, 5)],
)
def test_length_is_five_seconds_a_scene_unless_asked(request_fields: dict, seconds: int) -> None:
    assert v2_spec("One. Two. Three.", **request_fields).target_duration_seconds == seconds


def test_default_length_is_capped_at_a_minute() -> None:
    assert v2_spec(" ".join(f"S{i}." for i in range(20))).target_duration_seconds == 60


# --- durations --------------------------------------------------------------------------------------------

PAIRS = [(1, 1), (2, 1), (2, 2), (7, 3), (10, 3), (11, 7), (13, 6), (15, 15), (59, 17), (60, 60), (60, 7), (31, 29)]


@pytest.mark.parametrize(("seconds", "count"), PAIRS)
@pytest.mark.parametrize("skew", [False, True], ids=["equal", "skewed"])
def test_durations_add_up_to_the_target_exactly(seconds: int, count: int, skew: bool) -> None:
    weights = [1 + 97 * (i % 3 == 0) if skew else 1 for i in range(count)]
    counts = fit_frames(weights, seconds * FPS)
    assert sum(counts) == seconds * FPS and min(counts) >= FPS
    durations = durations_ms(counts)
    assert sum(durations) == seconds * 1000 and min(durations) >= 1000
    # Every boundary in ms converts back to the frame it came from.
    boundaries = [sum(counts[: i + 1]) for i in range(count)]
    assert [frames(sum(durations[: i + 1])) for i in range(count)] == boundaries
    if not skew:
        assert max(counts) - min(counts) <= 1


@pytest.mark.parametrize(("seconds", "count"), PAIRS)
def test_planned_scenes_last_exactly_the_job(seconds: int, count: int) -> None:
    # Sentences of different lengths: the longer ones stay on screen longer, and the total is still exact.
    prompt = " ".join(("A much longer sentence here." if i % 2 else "Short.") for i in range(count))
    graph = v2_scene_graph(v2_spec(prompt, target_duration_seconds=seconds), [])
    durations = [scene.duration for scene in graph.scenes]
    assert len(durations) == count and sum(durations) == seconds * 1000 and min(durations) >= 1000


def test_longer_captions_stay_longer_on_screen() -> None:
    prompt = "Hi. This sentence is a good deal longer than the first one."
    short, long = v2_scene_graph(v2_spec(prompt, target_duration_seconds=10), []).scenes
    assert long.duration > short.duration and short.duration + long.duration == 10_000


def test_more_scenes_than_whole_seconds_are_refused() -> None:
    with pytest.raises(ScenePlanningError, match="4 scenes cannot fit in 3 s"):
        fit_frames([1, 1, 1, 1], 3 * FPS)
    with pytest.raises(ScenePlanningError, match="3 scenes cannot fit in 2 s: at most 2 fit"):
        v2_spec("One. Two. Three.", target_duration_seconds=2)


# --- media and cards --------------------------------------------------------------------------------------


def test_media_are_assigned_in_order_and_cycled() -> None:
    media = [*images(2), PlannedMedia("uploads/c/clip.mp4", MediaKind.VIDEO)]
    prompt = " ".join(f"Sentence {i}." for i in range(7))
    graph = v2_scene_graph(v2_spec(prompt, target_duration_seconds=14), media)
    assert [s.media.asset for s in graph.scenes] == [m.key for m in media * 3][:7]
    assert [s.media.type for s in graph.scenes] == ["image", "image", "video"] * 2 + ["image"]
    assert all(s.media.effect is None for s in graph.scenes if s.media.type == "video")


def test_scenes_without_media_are_cards_in_the_preset_style_showing_their_caption() -> None:
    card = CardStyle(font="Inter", top="#112233", bottom="#445566", text="#ffee00")
    spec = v2_spec("Meet Aurora. Cold all day. Order now.", target_duration_seconds=6)
    spec = spec.model_copy(update={"preset": get_preset(spec.preset.id).model_copy(update={"card": card})})
    job = plan_documents(spec)
    assert all(s.media.asset is None and s.media.engine is None for s in job.scene_graph.scenes)
    visuals = [segment.visual for segment in job.plan.segments]
    assert [v.card_text for v in visuals] == ["Meet Aurora.", "Cold all day.", "Order now."]
    assert all(v.card == card and v.image_key is None and v.clip_key is None for v in visuals)
    # The card already shows the words: they are not burned in a second time (the SRT keeps them).
    assert all(segment.captions == [] for segment in job.plan.segments)
    assert [c.text for c in job.plan.captions] == ["Meet Aurora.", "Cold all day.", "Order now."]


def test_an_engine_override_generates_scenes_without_media_with_brand_safe_prompts() -> None:
    prompt = "We shoot the bottle in the rain. It never breaks."
    safe = v2_scene_graph(v2_spec(prompt, engine_override="runway", target_duration_seconds=4), [])
    assert [(s.media.type, s.media.engine, s.media.asset) for s in safe.scenes] == [("video", "runway", None)] * 2
    assert [s.media.prompt for s in safe.scenes] == [
        f"We film the bottle in the rain. {BRAND_SAFE_SUFFIX}",
        f"It never breaks. {BRAND_SAFE_SUFFIX}",
    ]
    bold = v2_scene_graph(v2_spec(prompt, engine_override="runway", brand_safe=False, target_duration_seconds=4), [])
    assert [s.media.prompt for s in bold.scenes] == ["We shoot the bottle in the rain.", "It never breaks."]
    # Media are cycled over every scene, so a job with media generates none.
    with_media = v2_scene_graph(v2_spec(prompt, engine_override="runway", target_duration_seconds=4), images(1))
    assert all(s.media.asset and s.media.engine is None for s in with_media.scenes)


def test_scene_transitions_follow_the_preset() -> None:
    fade = v2_scene_graph(v2_spec("One. Two.", target_duration_seconds=2), [])
    cut = v2_scene_graph(v2_spec("One. Two.", preset_id="meme_fast", target_duration_seconds=2), [])
    assert {s.transition for s in fade.scenes} == {TransitionKind.FADE}
    assert {s.transition for s in cut.scenes} == {TransitionKind.CUT}


# --- style ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "prompt", "style"),
    [
        ("A slow zoom out over the city.", "", SceneStyle(camera_motion="slow zoom out")),
        ("Zoom out to reveal.", "", SceneStyle(camera_motion="slow zoom out")),
        ("A slow zoom on the label.", "", SceneStyle(camera_motion="slow zoom in")),
        ("Push in on the cap.", "", SceneStyle(camera_motion="slow dolly in")),
        ("Tilt up to the sky.", "", SceneStyle(camera_motion="pan up")),
        ("Tilt down to the table.", "", SceneStyle(camera_motion="pan down")),
        ("Pan left across the shelf.", "", SceneStyle(camera_motion="pan left")),
        ("An orbit around the can.", "", SceneStyle(camera_motion="orbit")),
        ("A still shot of the box.", "", SceneStyle(camera_motion="static")),
        ("Cinematic, golden hour light.", "", SceneStyle(mood="cinematic", lighting="golden hour")),
        ("Neon glow.", "", SceneStyle(mood="neon", lighting="neon")),
        ("Bright and upbeat.", "", SceneStyle(mood="upbeat", lighting="bright")),
        # The scene's own words first, then the whole prompt's.
        (
            "Pan right.",
            "Dramatic, moody. Pan left later.",
            SceneStyle(mood="dramatic", camera_motion="pan right", lighting="moody"),
        ),
        ("Plain words.", "A warm studio scene.", SceneStyle(mood="warm", lighting="studio")),
        # Whole words only: "funny" is not "fun", "panel" is not a pan.
        ("A funny panel leftover.", "", None),
    ],
)
def test_style_keywords(text: str, prompt: str, style: SceneStyle | None) -> None:
    assert scene_style(text, prompt or text) == style


@pytest.mark.parametrize(
    ("sentence", "effect", "motion"),
    [
        ("Pan left across it.", "ken_burns_pan", MotionKind.PAN_LEFT),
        ("Pan up the bottle.", "ken_burns_pan", MotionKind.PAN_UP),
        ("An orbit shot.", "ken_burns_pan", MotionKind.PAN_RIGHT),
        ("Slow zoom out.", "slow_zoom_out", MotionKind.ZOOM_OUT),
        ("Dolly toward it.", "slow_zoom_in", MotionKind.ZOOM_IN),
        ("Static shot.", "static", MotionKind.STATIC),
        ("No camera words.", "ken_burns_zoom", MotionKind.ZOOM_IN),
    ],
)
def test_camera_words_move_the_image(sentence: str, effect: str, motion: MotionKind) -> None:
    job = plan_documents(v2_spec(sentence, target_duration_seconds=2), images(1))
    assert job.scene_graph.scenes[0].media.effect == effect
    assert job.plan.segments[0].visual.motion.kind is motion


def test_images_without_camera_words_alternate_zoom_in_and_out() -> None:
    job = plan_documents(v2_spec("One. Two. Three. Four.", target_duration_seconds=4), images(2))
    kinds = [segment.visual.motion.kind for segment in job.plan.segments]
    assert kinds == [MotionKind.ZOOM_IN, MotionKind.ZOOM_OUT] * 2


@pytest.mark.parametrize(("brand_safe", "zoom_end"), [(True, 1.10), (False, 1.25)])
def test_brand_safe_jobs_get_gentler_motion_than_the_chaotic_preset(brand_safe: bool, zoom_end: float) -> None:
    spec = v2_spec("One. Two.", preset_id="meme_fast", brand_safe=brand_safe, target_duration_seconds=4)
    motions = [segment.visual.motion for segment in plan_documents(spec, images(2)).plan.segments]
    assert motions[0].kind is MotionKind.ZOOM_IN and motions[0].zoom_end == pytest.approx(zoom_end)
    assert max(m.zoom_start for m in motions) == pytest.approx(zoom_end)
