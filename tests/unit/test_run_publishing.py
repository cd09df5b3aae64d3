"""Publishing a run's video: the bucket publisher against moto's S3 served over real HTTP (its URL is fetched
and serves the rendered bytes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from pytoon.aws import reset_clients
from pytoon.aws.storage import ArtifactStore
from pytoon.config import Settings
from pytoon.local import moto_seam
from pytoon.local.embedded import bind_listening_socket
from pytoon.runs.publishing import BucketPublisher, PublishRequest, publisher_for
from tests.media import make_test_clip

REGION = "us-east-1"
BUCKET = "pytoon-artifacts"
VIDEO_KEY = "jobs/job1/output.mp4"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 on a loopback port, with this process's AWS clients pointed at it: presigned URLs are fetchable."""
    monkey = pytest.MonkeyPatch()
    listening = bind_listening_socket("127.0.0.1", 0)
    endpoint = f"http://127.0.0.1:{listening.getsockname()[1]}"
    server = moto_seam.MotoHttpServer(listening, after_request=lambda environ: None)
    server.start()
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkey.delenv(name, raising=False)
    monkey.setenv("AWS_ENDPOINT_URL", endpoint)
    monkey.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkey.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reset_clients()
    boto3.client("s3", region_name=REGION, endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()
    monkey.undo()
    reset_clients()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_test_clip(
        tmp_path_factory.mktemp("video") / "output.mp4", seconds=1, fps=10, size=(72, 128)
    ).read_bytes()


@pytest.fixture
def settings(s3_endpoint: str, tmp_path: Path) -> Settings:
    return Settings(table_name="jobs", bucket_name=BUCKET, region=REGION, work_dir=tmp_path)


@pytest.fixture
def store(settings: Settings, video: bytes) -> ArtifactStore:
    store = ArtifactStore.from_settings(settings)
    store.put_bytes(VIDEO_KEY, video, "video/mp4")
    return store


def _request(**changes: object) -> PublishRequest:
    fields: dict[str, object] = {
        "run_id": "run1",
        "tenant_id": "acme",
        "video_key": VIDEO_KEY,
        "title": "Meet Aurora",
        "caption": "Cold for 24 hours.",
        "hashtags": ["aurora", "#hydration"],
        "targets": ["tiktok", "instagram"],
    }
    return PublishRequest.model_validate(fields | changes)


# --- the bucket publisher --------------------------------------------------------------------------------------


def test_the_bucket_publisher_is_the_default(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPLOAD_POST_USER", raising=False)
    assert isinstance(publisher_for(settings), BucketPublisher)


def test_the_bucket_publisher_shares_the_rendered_bytes(store: ArtifactStore, video: bytes) -> None:
    result = BucketPublisher(store).publish(_request())

    assert (result.state, result.publisher, result.request_id, result.reason) == ("published", "bucket", None, None)
    assert store.get_bytes("published/acme/run1.mp4") == video
    fetched = httpx.get(result.url)
    assert fetched.status_code == 200
    assert fetched.content == video
    assert fetched.headers["content-type"] == "video/mp4"


def test_a_missing_video_fails_the_bucket_publish(store: ArtifactStore) -> None:
    result = BucketPublisher(store).publish(_request(run_id="run2", video_key="jobs/nope/output.mp4"))

    assert result.state == "failed"
    assert result.reason == "the rendered video jobs/nope/output.mp4 is not in storage"
    assert result.url is None
    assert not store.exists("published/acme/run2.mp4")
