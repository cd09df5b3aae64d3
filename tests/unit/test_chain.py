"""The whole chain, JobSpec → SceneGraph → Timeline → RenderPlan, for V1 jobs, V2 prompt jobs and supplied
scene graphs: segments cover exactly the job's frames, and a supplied graph is rendered as it says."""

from __future__ import annotations

import pytest

from pytoon.chain import PlannerKind, plan_documents, plan_scene_graph
from pytoon.config import Settings
from pytoon.engines import LOCAL_ENGINE
from pytoon.models import FPS, MediaKind, TransitionKind
from pytoon.scene_planner import PlannedMedia
from pytoon.timeline import frames
from pytoon.v2_jobs import V2JobRequest, resolve_v2_spec
from tests.factories import make_spec
from tests.unit.test_scene_graph_rules import scene_document
from tests.unit.test_scene_planner import images, v2_spec

# Only a supplied graph's upload references touch storage; these graphs have none.
SETTINGS = Settings(table_name="jobs", bucket_name="bucket")


def supplied_spec(scenes: list[dict], **request: object):
    document = {"version": "2.0", "scenes": scenes}
    return resolve_v2_spec(V2JobRequest(scene_graph=document, **request), job_id="j1", tenant_id="t", settings=SETTINGS)


def assert_covers(plan, total_frames: int) -> None:
    assert plan.total_frames == total_frames
    assert sum(s.frame_count for s in plan.segments) == total_frames
    assert [s.start_frame for s in plan.segments] == [
        sum(s.frame_count for s in plan.segments[:i]) for i in range(len(plan.segments))
    ]
    assert all(s.transition_frames <= s.frame_count // 2 for s in plan.segments)


@pytest.mark.parametrize("seconds", [1, 2, 7, 15, 59, 60])
@pytest.mark.parametrize("image_count", [0, 1, 4])
def test_a_v1_job_covers_its_target_frames(seconds: int, image_count: int) -> None:
    uris = [f"uploads/{i:032x}/p{i}.png" for i in range(image_count)]
    job = plan_documents(make_spec(target_duration_seconds=seconds, image_uris=uris, prompt="Meet Aurora."))
    assert job.planner is PlannerKind.V1
    assert_covers(job.plan, seconds * FPS)
    assert job.timeline.total_duration == job.scene_graph.total_ms == seconds * 1000


@pytest.mark.parametrize(
    ("seconds", "sentences", "media"),
    [(1, 1, 0), (7, 3, 0), (7, 3, 2), (59, 17, 5), (60, 60, 0), (13, 2, 6), (31, 29, 1)],
)
def test_a_v2_job_covers_its_target_frames(seconds: int, sentences: int, media: int) -> None:
    prompt = " ".join(f"Sentence {i}{' goes on a bit' * (i % 3)}." for i in range(sentences))
    spec = v2_spec(prompt, target_duration_seconds=seconds)
    job = plan_documents(
        spec, [*images(media - media // 2), *(PlannedMedia(f"c{i}.mp4", MediaKind.VIDEO) for i in range(media // 2))]
    )
    assert job.planner is PlannerKind.RULES
    assert len(job.plan.segments) == max(sentences, media)
    assert_covers(job.plan, seconds * FPS)
    assert job.timeline.total_duration == seconds * 1000


def test_v1_and_v2_plans_of_the_same_length_both_cover_it() -> None:
    v1 = plan_documents(make_spec(target_duration_seconds=10, prompt="One. Two. Three.")).plan
    v2 = plan_documents(v2_spec("One. Two. Three.", target_duration_seconds=10)).plan
    assert v1.total_frames == v2.total_frames == 300
    assert [s.engine for s in v1.segments + v2.segments] == [LOCAL_ENGINE] * (len(v1.segments) + len(v2.segments))


def test_a_supplied_scene_graph_is_rendered_as_given() -> None:
    scenes = [
        scene_document(
            1,
            duration=1500,
            caption="First.",
            media={"type": "image", "asset": "https://example.com/a.png", "effect": "slow_zoom_in"},
        ),
        scene_document(2, duration=2000, transition="fade_black"),
        scene_document(
            7, duration=1000, transition="swipe_right", media={"type": "video", "asset": "https://e.com/c.mp4"}
        ),
        scene_document(3, duration=3000, transition="cut", caption="Last."),
    ]
    spec = supplied_spec(scenes, preset_id="meme_smooth")
    assert (spec.duration_ms, spec.target_duration_seconds, spec.prompt) == (7500, 8, "")
    job = plan_documents(spec)
    assert job.planner is PlannerKind.SUPPLIED
    assert [(s.id, s.duration, s.caption) for s in job.scene_graph.scenes] == [
        (1, 1500, "First."),
        (2, 2000, ""),
        (7, 1000, ""),
        (3, 3000, "Last."),
    ]
    # Its own durations, not the rounded target, set the length.
    assert_covers(job.plan, 225)
    assert [s.frame_count for s in job.plan.segments] == [45, 60, 30, 90]
    assert [s.transition for s in job.plan.segments] == [
        TransitionKind.CUT,
        TransitionKind.FADE,
        TransitionKind.FADE_BLACK,
        TransitionKind.SWIPE_RIGHT,
    ]
    visuals = [s.visual for s in job.plan.segments]
    assert (visuals[0].image_key, visuals[2].clip_key) == ("https://example.com/a.png", "https://e.com/c.mp4")
    assert [v.card_text for v in visuals] == ["", "Scene 2", "", "Last."]
    assert [c.text for c in job.plan.captions] == ["First.", "Last."]


def test_a_supplied_graph_is_planned_the_same_with_or_without_the_llm() -> None:
    spec = supplied_spec([scene_document(1), scene_document(2)])
    planned = plan_scene_graph(spec, [], use_llm=True)
    assert planned.planner is PlannerKind.SUPPLIED and planned.planner_fallback_reason is None
    assert planned.graph.document() == spec.scene_graph


def test_a_generated_scene_without_its_engine_is_a_card_with_the_reason_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for prefix in ("RUNWAY", "LUMA", "PIKA", "OPENAI"):
        monkeypatch.delenv(f"{prefix}_API_KEY", raising=False)
    scenes = [
        scene_document(1, media={"type": "video", "engine": "runway", "prompt": "A lake at dawn."}, caption="Dawn."),
        scene_document(2, media={"type": "image", "asset": "https://example.com/a.png"}),
    ]
    plan = plan_documents(supplied_spec(scenes)).plan
    generated, image = plan.segments
    assert (generated.engine, generated.visual.card_text) == (LOCAL_ENGINE, "Dawn.")
    assert generated.fallback_reason.startswith("no video engine available (runway has no API key configured;")
    assert generated.fallback_reason.endswith("): scene 1 rendered as a designed card")
    assert generated.generate_with == [] and generated.generation_prompt is None
    assert (image.engine, image.fallback_reason, image.visual.image_key) == (
        LOCAL_ENGINE,
        None,
        "https://example.com/a.png",
    )


def test_a_generated_scene_with_a_configured_engine_is_planned_for_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for prefix in ("LUMA", "PIKA", "OPENAI"):
        monkeypatch.delenv(f"{prefix}_API_KEY", raising=False)
    monkeypatch.setenv("RUNWAY_API_KEY", "key")
    media = {"type": "video", "engine": "luma", "prompt": "A lake at dawn."}
    [generated] = plan_documents(supplied_spec([scene_document(1, media=media, caption="Dawn.")])).plan.segments
    # Luma was asked for but has no key: the configured engines of its chain generate it.
    assert (generated.engine, generated.generate_with, generated.fallback_reason) == ("runway", ["runway"], None)
    assert generated.generation_prompt == "A lake at dawn." and generated.visual.card_text == "Dawn."


def test_the_render_plan_agrees_with_the_timeline_frame_for_frame() -> None:
    job = plan_documents(v2_spec("One. Two is longer than one. Three.", target_duration_seconds=7), images(2))
    entries = job.timeline.timeline
    assert [(s.start_frame, s.frame_count) for s in job.plan.segments] == [
        (frames(e.start), frames(e.end) - frames(e.start)) for e in entries
    ]
    incoming = [None, *(e.transition for e in entries[:-1])]
    assert [s.transition_frames for s in job.plan.segments] == [frames(t.duration) if t else 0 for t in incoming]
