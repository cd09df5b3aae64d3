"""Whole jobs through the embedded backend: HTTP API → Step Functions (the repo's ASL) → Lambda handlers
→ S3/DynamoDB, with the output downloaded over HTTP and decoded."""

from __future__ import annotations

import io
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from pytoon.aws import client, keys
from pytoon.aws.executions import start_render_execution
from pytoon.aws.jobs import JobRepository
from pytoon.aws.storage import ArtifactStore
from pytoon.config import get_settings
from pytoon.local.embedded import EVERY_RENDER_INVOKES, EmbeddedAWS
from pytoon.submission import JobRequest, new_job_id, resolve_spec
from tests.integration.conftest import upload, wait_for_job

pytestmark = pytest.mark.integration


def _history(embedded: EmbeddedAWS, job_id: str) -> list[dict]:
    assert embedded.stack is not None
    sfn = client("stepfunctions", embedded.region)
    arn = embedded.stack.render_state_machine_arn.replace(":stateMachine:", ":execution:") + f":{job_id}"
    events: list[dict] = []
    kwargs: dict = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _submit(api: httpx.Client, **body: object) -> dict:
    response = api.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_job_through_api_renders_a_decodable_video(
    api: httpx.Client, embedded: EmbeddedAWS, media_dir: Path, tmp_path: Path
) -> None:
    images = [upload(api, media_dir / f"product_{i}.png", "image")["uri"] for i in range(3)]
    music = upload(api, media_dir / "music.wav", "audio")["uri"]

    created = _submit(
        api,
        preset_id="product_hero_clean",
        prompt="Fresh colours. Built to last. Shop today.",
        target_duration_seconds=4,
        image_uris=images,
        music_uri=music,
    )
    assert created["status"] == "QUEUED"
    job = wait_for_job(api, created["job_id"])
    assert job["status"] == "DONE", job["error"]
    assert job["progress_pct"] == 100.0
    assert job["created_at"].endswith("Z") and job["updated_at"].endswith("Z")

    # Downloadable with a plain HTTP client through the *_url fields.
    video = tmp_path / "output.mp4"
    video.write_bytes(httpx.get(job["output_url"]).raise_for_status().content)
    thumbnail = httpx.get(job["thumbnail_url"]).raise_for_status().content
    assert thumbnail[:3] == b"\xff\xd8\xff"
    shown = np.asarray(Image.open(io.BytesIO(thumbnail))).astype(np.int16)
    assert "-->" in httpx.get(job["captions_url"]).raise_for_status().text
    metadata = httpx.get(job["metadata_url"]).raise_for_status().json()
    assert len(metadata["segments"]) == created["segments"]

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (1080, 1920)
        assert stream.codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        count, closest = 0, 255.0
        for count, frame in enumerate(container.decode(video=0), start=1):
            pixels = frame.to_ndarray(format="rgb24")
            if (count - 1) % 10 == 0:
                assert pixels.std() > 5, f"frame {count - 1} is blank"
            closest = min(closest, float(np.abs(pixels.astype(np.int16) - shown).mean()))
    assert count == 4 * 30
    assert closest < 3  # the thumbnail is one of the video's frames

    # One Map iteration per segment, each rendered by the real handler.
    events = _history(embedded, created["job_id"])
    assert sum(e["type"] == "MapIterationSucceeded" for e in events) == created["segments"]
    assert events[-1]["type"] == "ExecutionSucceeded"

    stored = client("s3", embedded.region).list_objects_v2(
        Bucket=get_settings().bucket_name, Prefix=keys.job_prefix(created["job_id"])
    )
    names = {item["Key"].rsplit("/", 1)[-1] for item in stored["Contents"]}
    assert {
        "scene_graph.json",
        "timeline.json",
        "output.mp4",
        "thumbnail.jpg",
        "captions.srt",
        "metadata.json",
    } <= names

    segments = api.get(f"/api/v1/jobs/{created['job_id']}/segments").json()["segments"]
    assert [s["status"] for s in segments] == ["DONE"] * created["segments"]
    assert sum(s["duration_seconds"] for s in segments) == pytest.approx(4.0)


def test_transient_segment_failure_is_retried(api: httpx.Client, embedded: EmbeddedAWS) -> None:
    embedded.runtime.inject_service_errors("SegmentRenderFunction", count=1)
    created = _submit(api, preset_id="meme_fast", prompt="Retry me.", target_duration_seconds=2)
    job = wait_for_job(api, created["job_id"])

    assert job["status"] == "DONE", job["error"]
    failures = [e for e in _history(embedded, created["job_id"]) if e["type"] == "TaskFailed"]
    assert [f["taskFailedEventDetails"]["error"] for f in failures] == ["Lambda.ServiceException"]


def test_permanent_segment_failure_fails_the_job_with_its_reason(
    api: httpx.Client, embedded: EmbeddedAWS, media_dir: Path
) -> None:
    image = upload(api, media_dir / "product_0.png", "image")
    # The stored object is damaged after validation: the render cannot decode it, and retrying won't help.
    settings = get_settings()
    client("s3", embedded.region).put_object(Bucket=settings.bucket_name, Key=image["key"], Body=b"\x89PNG broken")

    created = _submit(api, preset_id="product_hero_clean", target_duration_seconds=2, image_uris=[image["uri"]])
    job = wait_for_job(api, created["job_id"])

    assert job["status"] == "FAILED"
    assert "segment 0" in job["error"]
    assert job["output_uri"] is None and job["output_url"] is None
    segments = api.get(f"/api/v1/jobs/{created['job_id']}/segments").json()["segments"]
    assert segments[0]["status"] == "FAILED" and segments[0]["error"]


def test_planner_exception_fails_the_job_not_the_api(api: httpx.Client, embedded: EmbeddedAWS) -> None:
    settings = get_settings()
    spec = resolve_spec(
        JobRequest(preset_id="overlay_classic", prompt="No plan.", target_duration_seconds=2),
        job_id=new_job_id(),
        tenant_id="default",
        asset_keys={},
    )
    JobRepository.from_settings(settings).create(spec, segment_count=1)
    # A spec the planner cannot read (written by an older, incompatible version, say).
    ArtifactStore.from_settings(settings).put_json(keys.spec_key(spec.job_id), {"job_id": spec.job_id})
    start_render_execution(settings.state_machine_arn, spec.job_id, settings.region)

    job = wait_for_job(api, spec.job_id)

    assert job["status"] == "FAILED"
    assert "validation error" in job["error"].lower()
    assert api.get("/health").status_code == 200


def test_audio_that_cannot_be_decoded_fails_the_job(api: httpx.Client, embedded: EmbeddedAWS, media_dir: Path) -> None:
    music = upload(api, media_dir / "music.wav", "audio")
    settings = get_settings()
    # Audio that passed validation but is no longer decodable when the soundtrack is built.
    client("s3", embedded.region).put_object(Bucket=settings.bucket_name, Key=music["key"], Body=b"RIFF....WAVEjunk")

    created = _submit(
        api, preset_id="meme_fast", prompt="Broken audio.", target_duration_seconds=2, music_uri=music["uri"]
    )
    job = wait_for_job(api, created["job_id"])

    assert job["status"] == "FAILED"
    assert "audio" in job["error"]
    assert job["output_uri"] is None
    assert JobRepository.from_settings(settings).get(created["job_id"]).output_key is None


def test_assembler_exception_fails_the_job_not_the_api(api: httpx.Client, embedded: EmbeddedAWS) -> None:
    embedded.runtime.inject_handler_errors("AssembleFunction", count=1)
    created = _submit(api, preset_id="meme_fast", prompt="Crash late.", target_duration_seconds=1)
    job = wait_for_job(api, created["job_id"])

    assert job["status"] == "FAILED"
    assert job["error"] == "injected crash in AssembleFunction"
    assert job["output_uri"] is None and job["progress_pct"] < 100
    failures = [e for e in _history(embedded, created["job_id"]) if e["type"] == "TaskFailed"]
    assert [f["taskFailedEventDetails"]["error"] for f in failures] == ["InjectedHandlerError"]
    assert api.get("/health").status_code == 200


def test_engine_fallback_is_reported_on_the_job_and_its_metadata(api: httpx.Client) -> None:
    created = _submit(
        api, preset_id="meme_fast", prompt="Fallback.", target_duration_seconds=1, engine_policy="api_only"
    )
    job = wait_for_job(api, created["job_id"])

    assert job["status"] == "DONE", job["error"]
    assert job["fallback_used"] is True and "V1 jobs render their images locally" in job["fallback_reason"]
    metadata = httpx.get(job["metadata_url"]).raise_for_status().json()
    assert metadata["fallback_used"] is True
    assert all(s["fallback_used"] and s["engine"] == "local_ffmpeg" for s in metadata["segments"])
    fallback = 'pytoon_fallback_total{engine="api_only",reason="unavailable",type="engine_fallback"}'
    assert fallback in httpx.get(f"{api.base_url}/metrics").text


def test_the_functions_jobs_invoke_are_the_machines_and_the_upload_notification(embedded: EmbeddedAWS) -> None:
    invoked = set(embedded.invoked_functions)
    assert {"PlannerFunction", "SegmentRenderFunction", "AssembleFunction", "MarkFailedFunction"} <= invoked
    assert "UploadValidationFunction" in invoked  # the bucket's notification
    assert "ApiFunction" not in invoked
    # What `pytoon render` imports before its job starts: functions a job does invoke.
    assert set(EVERY_RENDER_INVOKES) <= invoked
