"""A production run rendered by the Remotion render service (a loopback fake that really renders) instead of
its own V2 job: the run submits the clips, waits for the signed callback on `/v1/webhooks/remotion?run_id=`,
fetches and checks the video. A missed callback is caught by asking the service, a failed render fails the run
with the service's reason, a forged callback changes nothing, and a run the service cannot render is rendered
here, saying why."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pytoon.local.fakes import runway_video
from pytoon.local.fakes.luma_video import FakeLumaVideo
from pytoon.local.fakes.remotion_service import FakeRemotionService, fake_remotion_service
from pytoon.local.fakes.runway_video import FakeRunwayVideo
from pytoon.runs.projects import get_project
from tests.integration.conftest import colour_share, download
from tests.integration.test_production_runs import approve, run_at, start_run
from tests.media import LOOK, decode_frames, save_png, video_stream

pytestmark = pytest.mark.integration

PROJECT = get_project("aismr")  # Remotion has its template; its clips go to Runway first


@pytest.fixture
def remotion(
    runway: FakeRunwayVideo, gateway_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeRemotionService]:
    with fake_remotion_service() as fake:
        monkeypatch.setenv("REMOTION_BASE_URL", fake.base_url)
        monkeypatch.setenv("REMOTION_API_KEY", fake.api_key)
        monkeypatch.setenv("REMOTION_WEBHOOK_SECRET", fake.webhook_secret)
        monkeypatch.setenv("PYTOON_WEBHOOK_BASE_URL", gateway_url)
        yield fake


def _reviewed(api: httpx.Client, brief: str) -> tuple[str, dict]:
    """A run of PROJECT once its ideas are approved and it waits at the publish gate."""
    run_id = start_run(api, PROJECT.name, brief)
    run_at(api, run_id, "awaiting_ideation_approval")
    approve(api, run_id, "ideation")
    return run_id, run_at(api, run_id, "awaiting_publish_approval")


def test_a_run_renders_on_remotion_resumed_by_its_signed_callback(
    api: httpx.Client, remotion: FakeRemotionService, gateway_url: str, tmp_path: Path
) -> None:
    run_id, review = _reviewed(api, "Rain on a tin roof")
    render = review["artifacts"]["render"]
    assert (render["renderer"], render["status"], render["fallback_reason"]) == ("remotion", "done", None)
    [sent] = remotion.renders
    assert render["job_id"] == sent.job_id
    clips = review["artifacts"]["clips"]
    assert sent.body["run_id"] == run_id and sent.body["template"] == "aismr"
    assert len(sent.body["clips"]) == PROJECT.clip_count and sent.body["texts"] == [c["caption"] for c in clips]
    assert (sent.body["fps"], sent.body["width"], sent.body["height"]) == (30, 1080, 1920)
    assert sent.body["duration_seconds"] == PROJECT.clip_count * PROJECT.clip_seconds
    assert sent.body["callback_url"] == f"{gateway_url}/v1/webhooks/remotion?run_id={run_id}"
    [callback] = remotion.callbacks
    assert callback.status_code == 200 and json.loads(callback.body)["status"] == "done"

    video = download(render["output_url"], tmp_path / "remotion.mp4")
    stream = video_stream(video)
    assert (stream.width, stream.height) == (1080, 1920)
    assert stream.frames == PROJECT.clip_count * PROJECT.clip_seconds * 30
    frame = decode_frames(video, {45})[45]
    save_png(frame, LOOK / "run_remotion_frame45.png")
    assert colour_share(frame, runway_video.CLIP_COLOUR) > 0.9, "the Remotion video does not show the clips"

    approve(api, run_id, "publish")
    done = run_at(api, run_id, "completed")
    assert download(done["artifacts"]["published"]["url"], tmp_path / "published.mp4").read_bytes() == (
        video.read_bytes()
    )


def test_a_missed_callback_is_caught_by_asking_the_service(
    api: httpx.Client, remotion: FakeRemotionService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTOON_RUN_RENDER_CHECK_SECONDS", "2")
    remotion.drop_callbacks()
    _, review = _reviewed(api, "Sand pouring slowly")
    assert review["artifacts"]["render"]["renderer"] == "remotion" and remotion.callbacks == []
    assert review["artifacts"]["render"]["output_url"]


def test_a_failed_remotion_render_fails_the_run_with_the_service_s_reason(
    api: httpx.Client, remotion: FakeRemotionService
) -> None:
    remotion.fail_next("Chromium crashed")
    run_id = start_run(api, PROJECT.name, "Kinetic sand cut in half")
    run_at(api, run_id, "awaiting_ideation_approval")
    approve(api, run_id, "ideation")
    failed = run_at(api, run_id, "failed")
    [sent] = remotion.renders
    assert failed["error"] == f"render: Remotion could not render job {sent.job_id}: Chromium crashed"
    assert failed["current_step"] == "render"


def test_a_forged_or_misaddressed_callback_changes_nothing(
    api: httpx.Client, remotion: FakeRemotionService, gateway_url: str
) -> None:
    remotion.slow(6)
    run_id = start_run(api, PROJECT.name, "Soap being carved")
    run_at(api, run_id, "awaiting_ideation_approval")
    approve(api, run_id, "ideation")
    deadline = time.monotonic() + 120
    while not remotion.renders:
        assert time.monotonic() < deadline, "the run never submitted its render"
        time.sleep(0.1)
    job_id = remotion.renders[0].job_id
    done = json.dumps({"job_id": job_id, "run_id": run_id, "status": "done", "output_url": None}).encode()
    url = f"{gateway_url}/v1/webhooks/remotion"
    forged = httpx.post(url, params={"run_id": run_id}, content=done, headers={"x-remotion-signature": "sha512=00"})
    assert (forged.status_code, forged.json()) == (401, {"detail": "invalid signature"})
    # Rightly signed, but for another run: the body names this run, the URL another one.
    signed = {"x-remotion-signature": remotion.signature(done)}
    misaddressed = httpx.post(url, params={"run_id": "another-run"}, content=done, headers=signed)
    assert misaddressed.status_code == 400 and "posted for run 'another-run'" in misaddressed.json()["detail"]
    assert api.get(f"/v1/runs/{run_id}").json()["status"] == "awaiting_render"
    review = run_at(api, run_id, "awaiting_publish_approval")  # the service's own callback resumes it
    assert review["artifacts"]["render"]["renderer"] == "remotion"


def test_a_run_remotion_cannot_render_is_rendered_here_saying_why(
    api: httpx.Client, remotion: FakeRemotionService, luma: FakeLumaVideo
) -> None:
    remotion.queue_full()
    _, queued_out = _reviewed(api, "Honey dripping off a spoon")
    render = queued_out["artifacts"]["render"]
    assert render["renderer"] == "pytoon" and render["output_url"]
    assert render["fallback_reason"].startswith("Remotion refused the render: Remotion: rate limited (HTTP 429)")

    run_id = start_run(api, "product_launch", "Meet the Aurora bottle")  # no Remotion template
    run_at(api, run_id, "awaiting_ideation_approval")
    approve(api, run_id, "ideation")
    render = run_at(api, run_id, "awaiting_publish_approval")["artifacts"]["render"]
    assert (render["renderer"], render["fallback_reason"]) == (
        "pytoon",
        "project product_launch has no Remotion template",
    )
    assert len(remotion.renders) == 0
