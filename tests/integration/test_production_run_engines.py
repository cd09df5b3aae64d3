"""A production run against loopback fakes of its providers: a failing engine falls back to the next, Sora's
signed webhooks resume the clips whatever their order, duplicates and delays, and Upload-Post publishes (or
refuses) the video."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from pytoon.aws import dynamodb_table
from pytoon.aws.tasks import TaskKey
from pytoon.config import get_settings
from pytoon.local.fakes import luma_video, sora_video
from pytoon.local.fakes.luma_video import FakeLumaVideo
from pytoon.local.fakes.runway_video import FakeRunwayVideo
from pytoon.local.fakes.sora_video import FakeSoraVideo
from pytoon.local.fakes.upload_post import fake_upload_post
from pytoon.runs.projects import get_project
from tests.integration.conftest import colour_share, download, long_engine_timeout
from tests.integration.test_production_runs import approve, run_at, start_run
from tests.media import LOOK, decode_frames, save_png

pytestmark = pytest.mark.integration

# The ProductionRun's clip Map's MaxConcurrency.
CLIP_CONCURRENCY = 4


def test_a_clip_whose_engine_fails_is_made_by_the_next_engine(
    api: httpx.Client, runway: FakeRunwayVideo, luma: FakeLumaVideo, tmp_path: Path
) -> None:
    project = get_project("aismr")  # its clips go to Runway first
    runway.fail_task("Internal error")
    run_id = start_run(api, "aismr", "Rain on a tin roof")
    run_at(api, run_id, "awaiting_ideation_approval")
    approve(api, run_id, "ideation")
    review = run_at(api, run_id, "awaiting_publish_approval")
    clips = review["artifacts"]["clips"]
    assert [c["engine"] for c in clips] == ["luma"] * project.clip_count
    assert all("runway failed: Internal error" in c["fallback_reason"] for c in clips)
    assert all(c["url"] for c in clips)
    first = runway.received("POST", "/v1/text_to_video")[0].json
    assert first["duration"] == project.clip_seconds and "rain on a tin roof" in first["promptText"].lower()
    video = download(review["artifacts"]["render"]["output_url"], tmp_path / "run.mp4")
    frame = decode_frames(video, {45})[45]
    save_png(frame, LOOK / "run_engine_clip_frame45.png")
    assert colour_share(frame, luma_video.CLIP_COLOUR) > 0.6, "the render does not show the generated clip"


def _waiting_videos(sora: FakeSoraVideo, count: int) -> list[str]:
    """The ids of the run's Sora videos once `count` clips wait for their webhook (their token registered)."""
    settings = get_settings()
    table = dynamodb_table(settings.table_name, settings.region)
    deadline = time.monotonic() + 60
    while True:
        waiting = [
            video
            for video in list(sora.videos)
            if "Item" in table.get_item(Key=TaskKey("sora", video).item_key, ConsistentRead=True)
        ]
        if len(waiting) >= count:
            return waiting
        assert time.monotonic() < deadline, f"only {len(waiting)} of {count} clips wait for Sora's webhook"
        time.sleep(0.1)


def test_sora_webhooks_resume_a_run_s_clips_out_of_order_with_duplicates_late_and_forged_ones_ignored(
    api: httpx.Client, sora: FakeSoraVideo, gateway_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = get_project("motivational")  # its clips go to Sora first
    monkeypatch.setenv("SORA_WEBHOOK_SECRET", sora_video.WEBHOOK_SECRET)
    monkeypatch.setenv("PYTOON_ENGINE_WEBHOOKS", "sora")
    long_engine_timeout(monkeypatch, tmp_path)
    sora.send_webhooks_to(f"{gateway_url}/v1/webhooks/sora")
    sora.slow(10_000)  # never finished by polling: only webhooks end the waits
    sora.hold_webhooks()
    run_id = start_run(api, "motivational", "Start before you are ready")
    run_at(api, run_id, "awaiting_ideation_approval")
    approve(api, run_id, "ideation")
    # The clip Map generates at most CLIP_CONCURRENCY clips at once; the rest begin as those end.
    first = _waiting_videos(sora, CLIP_CONCURRENCY)
    for video_id in first:
        sora.finish(video_id)
    events = sora.take_held()
    assert len(events) == CLIP_CONCURRENCY
    late = sora.resend(events[0], sent_at=time.time() - 3600)
    sora.bad_signature()
    forged = sora.resend(events[0])
    assert (late.status, forged.status) == (401, 401)
    clips_now = run_at(api, run_id, "awaiting_video_generation")["artifacts"]["clips"]
    assert not any(c["done"] for c in clips_now), "a late or forged event resumed a clip"
    sora.good_signature()
    delivered = [sora.resend(event) for event in reversed(events)]  # the last video's event first
    duplicate = sora.resend(events[0])
    assert [d.status for d in delivered] == [200] * CLIP_CONCURRENCY and duplicate.status == 200
    for video_id in _waiting_videos(sora, project.clip_count)[CLIP_CONCURRENCY:]:
        sora.finish(video_id)  # its event is delivered at once now

    review = run_at(api, run_id, "awaiting_publish_approval")
    assert [c["engine"] for c in review["artifacts"]["clips"]] == ["sora"] * project.clip_count
    video = download(review["artifacts"]["render"]["output_url"], tmp_path / "sora-run.mp4")
    assert colour_share(decode_frames(video, {30})[30], sora_video.CLIP_COLOUR) > 0.6


def test_a_run_publishes_through_upload_post_and_a_refusal_fails_the_run_with_its_reason(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = get_project("product_launch")
    monkeypatch.setenv("PYTOON_RUN_PUBLISH_POLL_SECONDS", "1")
    with fake_upload_post() as upload_post:
        monkeypatch.setenv("UPLOAD_POST_API_KEY", upload_post.api_key)
        monkeypatch.setenv("UPLOAD_POST_BASE_URL", upload_post.api_url)
        monkeypatch.setenv("UPLOAD_POST_USER", upload_post.user)
        upload_post.fail_platform("linkedin", "Session expired")
        run_id = start_run(api, "product_launch", "Meet the Aurora bottle")
        for gate in ("ideation", "publish"):
            run_at(api, run_id, f"awaiting_{gate}_approval")
            approve(api, run_id, gate)
        done = run_at(api, run_id, "completed")
        published = done["artifacts"]["published"]
        assert published["publisher"] == "upload-post" and published["state"] == "published"
        assert published["url"] == upload_post.posts["tiktok"][0]
        assert "Session expired" in published["reason"]  # one platform of four failed: still published
        [sent] = upload_post.uploads
        assert sorted(sent.platforms) == sorted(project.publish_targets)
        rendered = download(done["artifacts"]["render"]["output_url"], tmp_path / "launch.mp4")
        assert sent.video == rendered.read_bytes()

        for platform in project.publish_targets:
            upload_post.fail_platform(platform, "Account suspended")
        refused = start_run(api, "product_launch", "Meet the Aurora bottle again")
        for gate in ("ideation", "publish"):
            run_at(api, refused, f"awaiting_{gate}_approval")
            approve(api, refused, gate)
        failed = run_at(api, refused, "failed")
    assert failed["current_step"] == "publish" and "Account suspended" in failed["error"]
