"""A generated scene's clip, step by step against a fake provider: success, and every rule that moves on
to a rephrased attempt, a wait, the next engine or the local card."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pytoon.assets import inspect_media
from pytoon.local.fakes.runway_video import FakeRunwayVideo, fake_runway_video
from pytoon.models import AssetCategory
from pytoon.render.probe import probe_media
from pytoon.video_engines.generation import (
    Generation,
    Outcome,
    Phase,
    begin_generation,
    collect_generation,
    poll_generation,
)

NO_IMAGE = lambda: None  # noqa: E731 (the text-to-video scenes these tests generate)


@pytest.fixture
def runway(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRunwayVideo]:
    with fake_runway_video() as fake:
        monkeypatch.setenv("RUNWAY_API_KEY", fake.api_key)
        monkeypatch.setenv("RUNWAY_BASE_URL", fake.api_url)
        yield fake


def check(path: Path) -> None:
    inspect_media(path, AssetCategory.VIDEO)


def run(generation: Generation, clip: Path, now: float = 0.0, *, steps: int = 20) -> Generation:
    """Step until DONE, each WAIT taken as waited for."""
    for _ in range(steps):
        if generation.phase is Phase.DONE:
            return generation
        now += generation.wait_seconds
        if generation.phase is Phase.COLLECT:
            generation = collect_generation(generation, clip, check, now=now, image=NO_IMAGE)
        else:
            generation = poll_generation(generation, now=now, image=NO_IMAGE)
    raise AssertionError(f"not done after {steps} steps: {generation}")


def test_a_clip_is_generated_polled_for_and_collected(runway: FakeRunwayVideo, tmp_path: Path) -> None:
    started = begin_generation("A bottle on a desk", 3.4, ["runway"], now=0.0, image=NO_IMAGE)
    assert started.phase is Phase.WAIT and started.task_id and started.wait_seconds == 5
    done = run(started, tmp_path / "clip.mp4")
    assert done.engine == "runway" and done.fallback_reason is None
    assert [a.outcome for a in done.attempts] == [Outcome.SUCCEEDED] and done.attempts[0].seconds > 0
    # The scene is 3.4 s: the engine was asked for 4, its shortest length that covers it.
    assert runway.received("POST", "/v1/text_to_video")[0].json["duration"] == 4
    assert probe_media(tmp_path / "clip.mp4").video is not None


def test_an_engine_without_a_key_is_skipped_and_the_scene_falls_back(
    runway: FakeRunwayVideo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RUNWAY_API_KEY")
    done = begin_generation("A bottle", 3, ["runway"], now=0.0, image=NO_IMAGE)
    assert done.phase is Phase.DONE and done.engine is None and not runway.requests
    assert done.attempts[0].outcome is Outcome.UNAVAILABLE
    assert "runway unavailable: runway has no API key configured" in (done.fallback_reason or "")
    assert "local designed card" in (done.fallback_reason or "")


def test_a_moderated_task_is_retried_once_rephrased(runway: FakeRunwayVideo, tmp_path: Path) -> None:
    runway.moderate_words("fight")
    done = run(begin_generation("Two knights fight", 3, ["runway"], now=0.0, image=NO_IMAGE), tmp_path / "clip.mp4")
    assert done.phase is Phase.DONE and done.engine == "runway"
    prompts = [r.json["promptText"] for r in runway.received("POST", "/v1/text_to_video")]
    assert prompts[0] == "Two knights fight" and "compete" in prompts[1] and "all audiences" in prompts[1]


def test_a_second_moderation_refusal_moves_on(runway: FakeRunwayVideo, tmp_path: Path) -> None:
    runway.moderate()
    runway.moderate()
    done = run(begin_generation("Two knights fight", 3, ["runway"], now=0.0, image=NO_IMAGE), tmp_path / "clip.mp4")
    assert done.engine is None and [a.outcome for a in done.attempts] == [Outcome.MODERATED]


def test_a_rate_limit_is_waited_out_once_then_the_task_is_submitted(runway: FakeRunwayVideo, tmp_path: Path) -> None:
    runway.rate_limit(retry_after="7")
    started = begin_generation("A bottle", 3, ["runway"], now=0.0, image=NO_IMAGE)
    assert (started.phase, started.wait_seconds, started.task_id) == (Phase.WAIT, 7.0, None)
    done = run(started, tmp_path / "clip.mp4")
    assert done.engine == "runway" and len(runway.received("POST", "/v1/text_to_video")) == 2


def test_a_second_rate_limit_moves_on(runway: FakeRunwayVideo, tmp_path: Path) -> None:
    runway.rate_limit(retry_after="1", times=2)
    done = run(begin_generation("A bottle", 3, ["runway"], now=0.0, image=NO_IMAGE), tmp_path / "clip.mp4")
    assert [a.outcome for a in done.attempts] == [Outcome.RATE_LIMITED] and done.engine is None


def test_no_clip_within_the_engine_timeout_moves_on(runway: FakeRunwayVideo) -> None:
    runway.slow(1000)
    started = begin_generation("A bottle", 3, ["runway"], now=0.0, image=NO_IMAGE)
    still = poll_generation(started, now=299.0, image=NO_IMAGE)
    assert still.phase is Phase.WAIT and still.task_id == started.task_id
    late = poll_generation(still, now=300.0, image=NO_IMAGE)
    assert late.phase is Phase.DONE and late.attempts[0].outcome is Outcome.TIMED_OUT
    assert late.attempts[0].reason == "no clip within 300 s" and late.attempts[0].seconds == 300.0


def test_a_failed_task_moves_on_with_the_provider_s_reason(runway: FakeRunwayVideo, tmp_path: Path) -> None:
    runway.fail_task("Internal error")
    failed = run(begin_generation("A bottle", 3, ["runway"], now=0.0, image=NO_IMAGE), tmp_path / "a.mp4")
    assert failed.engine is None and failed.attempts[0].outcome is Outcome.FAILED
    assert "Internal error" in (failed.attempts[0].reason or "")


def test_a_clip_that_is_not_a_video_moves_on(runway: FakeRunwayVideo, tmp_path: Path) -> None:
    runway.broken_file()
    broken = run(begin_generation("A bottle", 3, ["runway"], now=0.0, image=NO_IMAGE), tmp_path / "b.mp4")
    assert broken.engine is None and "the clip is not usable" in (broken.attempts[0].reason or "")
