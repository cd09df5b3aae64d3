"""Planning: frame-exact segments, every image in order, motion per profile, caption cues."""

from __future__ import annotations

import pytest

from pytoon.chain import plan_documents
from pytoon.models import FPS, Captions, MotionKind, TransitionKind
from pytoon.planner import caption_cues, derive_captions, motion_for, segment_frame_counts
from pytoon.presets import all_presets, get_preset
from tests.factories import make_spec


def _spec(**request: object):
    return make_spec(job_id="j1", **request)


@pytest.mark.parametrize("seconds", [1, 2, 4, 7, 10, 15, 31, 60])
def test_segments_cover_the_target_exactly(seconds: int) -> None:
    plan = plan_documents(_spec(target_duration_seconds=seconds)).plan
    assert plan.total_frames == seconds * FPS
    assert sum(s.frame_count for s in plan.segments) == seconds * FPS
    starts = [s.start_frame for s in plan.segments]
    assert starts == [sum(s.frame_count for s in plan.segments[:i]) for i in range(len(plan.segments))]
    assert max(s.frame_count for s in plan.segments) - min(s.frame_count for s in plan.segments) <= 1


def test_every_image_is_used_in_order_and_cycles() -> None:
    images = [f"uploads/{i:032x}/p{i}.png" for i in range(3)]
    plan = plan_documents(_spec(target_duration_seconds=15, image_uris=images)).plan
    assert [s.visual.image_key for s in plan.segments] == images + images[:2]


def test_more_images_than_segments_adds_segments() -> None:
    images = [f"uploads/{i:032x}/p{i}.png" for i in range(8)]
    plan = plan_documents(_spec(target_duration_seconds=10, image_uris=images)).plan
    assert [s.visual.image_key for s in plan.segments] == images


def test_segment_count_caps() -> None:
    assert len(segment_frame_counts(60 * FPS, 0)) == 20
    assert len(segment_frame_counts(1 * FPS, 5)) == 1


def test_crossfade_comes_from_the_previous_visual_and_cut_has_none() -> None:
    fade = plan_documents(_spec(target_duration_seconds=9)).plan
    assert fade.segments[0].previous is None and fade.segments[0].transition is TransitionKind.CUT
    for prev, seg in zip(fade.segments, fade.segments[1:], strict=False):
        assert seg.previous == prev.visual
        assert (seg.transition, seg.transition_frames) == (TransitionKind.FADE, 5)  # 150 ms at 30 fps, rounded
    cut = plan_documents(_spec(preset_id="meme_fast", target_duration_seconds=9)).plan
    assert all(s.transition_frames == 0 and s.previous is None for s in cut.segments)


def test_motion_profiles_differ() -> None:
    travels = {p: motion_for(p, 0).zoom_end - motion_for(p, 0).zoom_start for p in ("minimal", "subtle", "punchy")}
    assert travels["minimal"] < travels["subtle"] < travels["punchy"]
    assert motion_for("smooth", 1).kind is MotionKind.PAN_UP


def test_captions_derived_from_prompt() -> None:
    captions = derive_captions("Meet Aurora. Cold for 24 hours! Three colours. Order today.")
    assert captions == Captions(hook="Meet Aurora.", beats=["Cold for 24 hours!", "Three colours."], cta="Order today.")
    assert derive_captions("Just one line").cta == "Learn more"
    assert derive_captions("   ").texts() == []


def test_caption_cues_are_contiguous_and_cover_the_video() -> None:
    cues = caption_cues(Captions(hook="a", beats=["b", "c"], cta="d"), 15 * FPS)
    assert [(c.start_frame, c.end_frame) for c in cues] == [(0, 112), (112, 225), (225, 338), (338, 450)]


def test_more_captions_than_seconds_are_refused_never_dropped() -> None:
    with pytest.raises(ValueError, match="5 captions cannot all be shown in 2 s"):
        caption_cues(Captions(hook="hook", beats=["b1", "b2", "b3"], cta="cta"), 2 * FPS)
    cues = caption_cues(Captions(hook="hook", beats=["b1"], cta="cta"), 3 * FPS)
    assert [c.text for c in cues] == ["hook", "b1", "cta"]
    assert all(c.end_frame - c.start_frame >= FPS for c in cues)


def test_request_values_beat_preset_defaults() -> None:
    spec = _spec(preset_id="meme_fast", brand_safe=True, archetype="OVERLAY", engine_policy="local_only")
    assert (spec.brand_safe, spec.archetype.value, spec.engine_policy.value) == (
        True,
        "OVERLAY",
        "local_only",
    )
    default = _spec(preset_id="meme_fast")
    preset = get_preset("meme_fast")
    assert (default.brand_safe, default.archetype, default.engine_policy) == (
        preset.brand_safe,
        preset.archetype,
        preset.engine_policy,
    )


def test_plan_is_deterministic_and_hashes_change_with_content() -> None:
    a, b = plan_documents(_spec(prompt="One. Two.")).plan, plan_documents(_spec(prompt="One. Two.")).plan
    assert a == b
    c = plan_documents(_spec(prompt="One. Three.")).plan
    # Only segments that show the changed caption change: unchanged work is reused on a re-plan.
    assert a.segments[0].spec_hash == c.segments[0].spec_hash
    assert a.segments[2].spec_hash != c.segments[2].spec_hash


def test_all_eight_presets_plan() -> None:
    assert len(all_presets()) == 8
    for preset in all_presets():
        plan = plan_documents(_spec(preset_id=preset.id, prompt="Hello there. Buy now.")).plan
        assert plan.caption_layout.position == preset.caption_style.position
        assert plan.audio.music_level_db == preset.audio.music_level_db


def test_brand_safe_jobs_never_get_chaotic_motion() -> None:
    images = ["a.png"]
    chaotic = plan_documents(_spec(preset_id="meme_fast", target_duration_seconds=9, image_uris=images)).plan
    tamed = plan_documents(
        _spec(preset_id="meme_fast", target_duration_seconds=9, brand_safe=True, image_uris=images)
    ).plan
    assert [s.visual.motion for s in tamed.segments] == [motion_for("smooth", i) for i in range(3)]
    assert [s.visual.motion for s in chaotic.segments] == [motion_for("chaotic", i) for i in range(3)]


def test_api_only_without_an_external_engine_falls_back_and_says_so() -> None:
    local = plan_documents(_spec(engine_policy="local_preferred")).plan
    assert {(s.engine, s.fallback_reason) for s in local.segments} == {("local_ffmpeg", None)}
    api = plan_documents(_spec(engine_policy="api_only")).plan
    assert all(s.engine == "local_ffmpeg" and "api_only" in (s.fallback_reason or "") for s in api.segments)


def test_every_preset_and_duration_plans_exactly_the_target_frames() -> None:
    for preset in all_presets():
        for seconds in range(1, 61):
            for images in (0, 1, 7):
                uris = [f"uploads/{i:032x}/p.png" for i in range(images)]
                spec = _spec(preset_id=preset.id, prompt="A.", target_duration_seconds=seconds, image_uris=uris)
                plan = plan_documents(spec).plan
                assert sum(s.frame_count for s in plan.segments) == seconds * FPS
                assert all(s.transition_frames <= s.frame_count // 2 for s in plan.segments)
                assert plan.captions[0].start_frame == 0 and plan.captions[-1].end_frame == seconds * FPS
