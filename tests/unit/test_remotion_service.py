"""The Remotion render service adapter against the loopback fake of the service: what a render request carries,
how refusals read, the status vocabulary, the finished video fetched with the key only from the service itself,
and when the service is used at all (its settings, the callback address, on AWS from the stack's parameter)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve
from pytoon.local.fakes.remotion_service import FakeRemotionService, fake_remotion_service
from pytoon.runs import remotion
from pytoon.runs.remotion import RemotionRequest, RemotionService
from pytoon.video_engines.base import EngineError, RateLimited
from tests.conftest import REGION
from tests.media import make_test_clip, video_stream

WEBHOOK_BASE = "https://api.example/Prod"


class FileHost(LoopbackFake):
    """Serves one file at /clip.mp4, as storage behind a presigned URL would."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.content = path.read_bytes()

    def respond(self, request: ReceivedRequest) -> Reply:
        return Reply(200, self.content, "video/mp4")

    @property
    def url(self) -> str:
        return f"{self.base_url}/clip.mp4"


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeRemotionService]:
    with fake_remotion_service(callback_hosts=("api.example",)) as fake:
        monkeypatch.setenv("REMOTION_BASE_URL", fake.base_url)
        monkeypatch.setenv("REMOTION_API_KEY", fake.api_key)
        monkeypatch.setenv("PYTOON_WEBHOOK_BASE_URL", WEBHOOK_BASE)
        yield fake


def _request(clip_urls: list[str], template: str = "aismr") -> RemotionRequest:
    return RemotionRequest("run-1", template, clip_urls, ["Soft press.", "A slow pour."], duration_seconds=2)


def _until_done(job_id: str) -> remotion.RemotionStatus:
    deadline = time.monotonic() + 60
    while (status := RemotionService().status(job_id)).state in ("queued", "rendering"):
        assert time.monotonic() < deadline, "the fake never finished"
        time.sleep(0.1)
    return status


def test_a_render_request_carries_the_clips_texts_frame_and_callback(
    service: FakeRemotionService, tmp_path: Path
) -> None:
    clip = make_test_clip(tmp_path / "clip.mp4", seconds=1, fps=30, size=(720, 1280))
    with serve(FileHost(clip), name="clip-host") as clips:
        url = clips.url
        job_id = RemotionService().submit(_request([url, url]))
        status = _until_done(job_id)
    [sent] = service.renders
    assert sent.job_id == job_id
    assert sent.body == {
        "run_id": "run-1",
        "template": "aismr",
        "clips": [url, url],
        "texts": ["Soft press.", "A slow pour."],
        "duration_seconds": 2,
        "fps": 30,
        "width": 1080,
        "height": 1920,
        "callback_url": f"{WEBHOOK_BASE}/v1/webhooks/remotion?run_id=run-1",
    }
    assert service.received("POST", "/api/render")[0].headers["authorization"] == f"Bearer {service.api_key}"
    assert (status.state, status.progress, status.error) == ("done", 1.0, None)
    assert status.output_url == f"{service.base_url}/output/{job_id}.mp4"
    video = RemotionService().download(status.output_url, tmp_path / "render.mp4")
    stream = video_stream(video)
    assert (stream.width, stream.height, stream.frames) == (1080, 1920, 60)
    # The service's output is not public: the key went with the request to the service's own host.
    assert service.received("GET", "/output/")[0].headers["authorization"] == f"Bearer {service.api_key}"


def test_the_key_never_goes_to_another_host(service: FakeRemotionService, tmp_path: Path) -> None:
    clip = make_test_clip(tmp_path / "clip.mp4", seconds=1, fps=30, size=(96, 64))
    with serve(FileHost(clip), name="storage") as storage:
        RemotionService().download(storage.url, tmp_path / "fetched.mp4")
        [fetched] = storage.requests
    assert "authorization" not in fetched.headers


def test_refusals_quote_the_service(service: FakeRemotionService, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EngineError, match=r"Remotion: HTTP 400: .*unknown template 'product_launch'"):
        RemotionService().submit(_request(["https://clips.example/1.mp4"], template="product_launch"))
    with pytest.raises(EngineError, match="clips must be a non-empty array"):
        RemotionService().submit(_request([]))
    monkeypatch.setenv("PYTOON_WEBHOOK_BASE_URL", "https://elsewhere.example")
    with pytest.raises(EngineError, match="callback_url is not allowlisted"):
        RemotionService().submit(_request(["https://clips.example/1.mp4"]))
    monkeypatch.setenv("PYTOON_WEBHOOK_BASE_URL", WEBHOOK_BASE)
    service.queue_full()
    with pytest.raises(RateLimited, match=r"rate limited \(HTTP 429\): .*render_queue_full"):
        RemotionService().submit(_request(["https://clips.example/1.mp4"]))
    with pytest.raises(EngineError, match=r"HTTP 404: .*job not found"):
        RemotionService().status("no-such-job")


def test_a_wrong_key_is_refused(service: FakeRemotionService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTION_API_KEY", "not-the-key")
    with pytest.raises(EngineError, match=r"HTTP 401: .*unauthorized"):
        RemotionService().status("any")


def test_a_failed_render_reports_the_services_error(service: FakeRemotionService) -> None:
    service.fail_next("Chromium crashed")
    job_id = RemotionService().submit(_request(["https://clips.example/1.mp4"]))
    status = _until_done(job_id)
    assert (status.state, status.output_url, status.error) == ("error", None, "Chromium crashed")


def test_the_service_is_used_only_when_configured_and_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("REMOTION_BASE_URL", "REMOTION_API_KEY", "PYTOON_WEBHOOK_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    assert not remotion.configured()
    monkeypatch.setenv("REMOTION_BASE_URL", "https://render.example")
    assert remotion.configured()
    assert remotion.missing_settings() == "REMOTION_API_KEY is not set"
    monkeypatch.setenv("REMOTION_API_KEY", "key")
    assert remotion.missing_settings() == "PYTOON_WEBHOOK_BASE_URL is not set"
    monkeypatch.setenv("PYTOON_WEBHOOK_BASE_URL", "http://api.example")  # plain http only on loopback
    assert remotion.missing_settings() is None
    with pytest.raises(EngineError, match="PYTOON_WEBHOOK_BASE_URL is invalid"):
        remotion.callback_url("run-1")


def test_on_aws_the_callback_address_is_the_stacks_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTOON_WEBHOOK_BASE_URL", raising=False)
    monkeypatch.setenv("PYTOON_WEBHOOK_BASE_URL_PARAMETER", "/pytoon/webhook-base-url")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name="/pytoon/webhook-base-url", Value="https://abc.execute-api.us-east-1.amazonaws.com/Prod", Type="String"
        )
        assert remotion.callback_url("run 1") == (
            "https://abc.execute-api.us-east-1.amazonaws.com/Prod/v1/webhooks/remotion?run_id=run+1"
        )
