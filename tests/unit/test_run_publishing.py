"""Publishing a run's video. The bucket publisher against moto's S3 served over real HTTP (its URL is fetched and
serves the rendered bytes); the Upload-Post publisher against the fake Upload-Post API over real HTTP: what the
upload carries, synchronous and background uploads through their statuses, and each failure mapped to the
state and reason the run records."""

from __future__ import annotations

import socket
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
from pytoon.local.fakes.upload_post import FakeUploadPost, fake_upload_post
from pytoon.runs.publishing import BucketPublisher, PublishRequest, PublishResult, UploadPostPublisher, publisher_for
from tests.media import make_test_clip

REGION = "us-east-1"
BUCKET = "pytoon-artifacts"
VIDEO_KEY = "jobs/job1/output.mp4"
SESSION_EXPIRED = "Your Instagram session has expired. Please reconnect your account."


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 on a loopback port, with this process's AWS clients pointed at it: presigned URLs are fetchable."""
    monkey = pytest.MonkeyPatch()
    listening = bind_listening_socket("127.0.0.1", 0)
    endpoint = f"http://127.0.0.1:{listening.getsockname()[1]}"
    server = moto_seam.MotoHttpServer(listening, moto_seam.MotoDispatch(after_request=lambda target: None).wsgi_app)
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


# --- Upload-Post -----------------------------------------------------------------------------------------------


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUploadPost]:
    with fake_upload_post() as server:
        for name in ("UPLOAD_POST_API_KEY_SECRET_ARN", "UPLOAD_POST_ASYNC_UPLOAD"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("UPLOAD_POST_API_KEY", server.api_key)
        monkeypatch.setenv("UPLOAD_POST_BASE_URL", server.api_url)
        monkeypatch.setenv("UPLOAD_POST_USER", server.user)
        yield server


@pytest.fixture
def upload_post(fake: FakeUploadPost, store: ArtifactStore, settings: Settings) -> UploadPostPublisher:
    publisher = publisher_for(settings)
    assert isinstance(publisher, UploadPostPublisher)
    return publisher


@pytest.fixture
def upload_post_sync(
    upload_post: UploadPostPublisher, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> UploadPostPublisher:
    monkeypatch.setenv("UPLOAD_POST_ASYNC_UPLOAD", "false")
    publisher = publisher_for(settings)
    assert isinstance(publisher, UploadPostPublisher) and not publisher.async_upload
    return publisher


def _poll_until_done(publisher: UploadPostPublisher, request: PublishRequest, request_id: str) -> list[PublishResult]:
    results = []
    for _ in range(10):
        results.append(publisher.poll(request, request_id))
        if results[-1].state != "pending":
            break
    return results


def test_the_upload_carries_the_video_the_text_and_the_platforms(
    upload_post: UploadPostPublisher, fake: FakeUploadPost, video: bytes
) -> None:
    upload_post.publish(_request(targets=["tiktok", "instagram", "youtube"]))

    [request] = fake.received("POST", "/api/upload")
    assert request.headers["authorization"] == f"Apikey {fake.api_key}"
    [upload] = fake.uploads
    assert upload.user == "pytoon"
    assert upload.platforms == ["tiktok", "instagram", "youtube"]
    assert upload.video == video
    assert upload.async_upload
    assert upload.title == "Meet Aurora"
    assert upload.description == "Cold for 24 hours.\n\n#aurora #hydration"
    # TikTok and Instagram show only their title: it is the whole post. YouTube shows the title and description.
    post = "Meet Aurora\n\nCold for 24 hours.\n\n#aurora #hydration"
    assert (upload.fields["tiktok_title"], upload.fields["instagram_title"]) == (post, post)
    assert "youtube_title" not in upload.fields


def test_a_background_upload_is_pending_until_the_status_says_completed(
    upload_post: UploadPostPublisher, fake: FakeUploadPost
) -> None:
    request = _request()
    started = upload_post.publish(request)

    assert (started.state, started.publisher, started.url) == ("pending", "upload-post", None)
    assert started.request_id
    polled = _poll_until_done(upload_post, request, started.request_id)

    assert fake.status_answers == ["pending", "in_progress", "completed"]
    assert [result.state for result in polled] == ["pending", "pending", "published"]
    # While in progress, TikTok's post is reported and Instagram's is not yet.
    assert polled[1].platforms["tiktok"].state == "published"
    assert polled[1].platforms["instagram"].state == "pending"
    done = polled[-1]
    assert done.platforms["tiktok"].url == fake.posts["tiktok"][0]
    assert done.platforms["instagram"].url == fake.posts["instagram"][0]
    assert fake.posts["tiktok"][0].startswith("https://www.tiktok.com/@pytoon/video/")
    assert done.url == fake.posts["tiktok"][0]  # the first target's post
    assert (done.request_id, done.reason) == (started.request_id, None)


def test_a_synchronous_upload_is_published_at_once(upload_post_sync: UploadPostPublisher, fake: FakeUploadPost) -> None:
    result = upload_post_sync.publish(_request(targets=["instagram", "youtube"]))

    assert not fake.uploads[0].async_upload
    assert (result.state, result.request_id, result.reason) == ("published", None, None)
    assert result.url == fake.posts["instagram"][0]
    assert result.platforms["youtube"].url == fake.posts["youtube"][0]
    assert fake.received("GET") == []


def test_a_synchronous_upload_that_takes_too_long_is_polled(
    upload_post_sync: UploadPostPublisher, fake: FakeUploadPost
) -> None:
    fake.background()
    request = _request()
    started = upload_post_sync.publish(request)

    assert started.state == "pending" and started.request_id
    assert _poll_until_done(upload_post_sync, request, started.request_id)[-1].state == "published"


@pytest.mark.parametrize("asynchronous", [True, False])
def test_a_failed_platform_is_reported_beside_the_published_ones(
    fake: FakeUploadPost, store: ArtifactStore, tmp_path: Path, asynchronous: bool
) -> None:
    fake.fail_platform("instagram", SESSION_EXPIRED)
    publisher = UploadPostPublisher(store, fake.user, tmp_path, async_upload=asynchronous)
    request = _request()
    result = publisher.publish(request)
    if asynchronous:
        result = _poll_until_done(publisher, request, result.request_id)[-1]

    assert result.state == "published"
    assert result.url == fake.posts["tiktok"][0]
    assert result.platforms["instagram"].state == "failed"
    assert result.platforms["instagram"].reason == SESSION_EXPIRED
    assert result.reason == f"Upload-Post could not publish on instagram ({SESSION_EXPIRED})"


@pytest.mark.parametrize("asynchronous", [True, False])
def test_every_platform_failing_fails_the_publish(
    fake: FakeUploadPost, store: ArtifactStore, tmp_path: Path, asynchronous: bool
) -> None:
    fake.fail_platform("tiktok", "spam_risk_too_many_posts")
    fake.fail_platform("instagram", "Media upload failed")
    publisher = UploadPostPublisher(store, fake.user, tmp_path, async_upload=asynchronous)
    request = _request()
    result = publisher.publish(request)
    if asynchronous:
        result = _poll_until_done(publisher, request, result.request_id)[-1]
        assert fake.status_answers[-1] == "failed"

    assert (result.state, result.url) == ("failed", None)
    assert result.reason == (
        "Upload-Post could not publish on tiktok (spam_risk_too_many_posts); instagram (Media upload failed)"
    )
    assert {platform: outcome.state for platform, outcome in result.platforms.items()} == {
        "tiktok": "failed",
        "instagram": "failed",
    }


def test_a_wrong_key_fails_with_the_providers_reason(
    upload_post: UploadPostPublisher, fake: FakeUploadPost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPLOAD_POST_API_KEY", "revoked-key")
    result = upload_post.publish(_request())

    assert result.state == "failed"
    assert result.reason == "Upload-Post refused the request (HTTP 401): Invalid or expired token"
    assert fake.uploads == []
    polled = upload_post.poll(_request(), "some-request")
    assert (polled.state, polled.reason) == ("failed", result.reason)


def test_no_key_fails_naming_the_variable(upload_post: UploadPostPublisher, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPLOAD_POST_API_KEY")
    result = upload_post.publish(_request())

    assert (result.state, result.reason) == ("failed", "Upload-Post: no API key configured (UPLOAD_POST_API_KEY)")


def test_a_plain_http_base_url_off_loopback_is_refused(
    upload_post: UploadPostPublisher, fake: FakeUploadPost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPLOAD_POST_BASE_URL", "http://api.upload-post.com/api")
    result = upload_post.publish(_request())

    assert result.state == "failed"
    assert result.reason.startswith(
        "UPLOAD_POST_BASE_URL is invalid ('http://api.upload-post.com/api'): must be an https URL"
    )
    assert fake.requests == []


def test_a_rate_limited_upload_is_pending_then_made_again(
    upload_post: UploadPostPublisher, fake: FakeUploadPost
) -> None:
    fake.rate_limit(retry_after="7")
    request = _request()
    limited = upload_post.publish(request)

    assert (limited.state, limited.request_id, limited.wait_seconds) == ("pending", None, 7)
    assert limited.reason == (
        "Upload-Post: rate limited (HTTP 429): Too many requests, please try again later.; asking again after 7 s"
    )
    assert fake.uploads == []
    # No request id: the next call uploads again, and this time it is accepted.
    again = upload_post.publish(request)
    assert again.state == "pending" and again.request_id
    assert len(fake.uploads) == 1


def test_a_rate_limited_status_read_keeps_the_publish_pending(
    upload_post: UploadPostPublisher, fake: FakeUploadPost
) -> None:
    request = _request()
    started = upload_post.publish(request)
    fake.rate_limit(retry_after="3")
    limited = upload_post.poll(request, started.request_id)

    assert (limited.state, limited.request_id, limited.wait_seconds) == ("pending", started.request_id, 3)
    assert _poll_until_done(upload_post, request, started.request_id)[-1].state == "published"


def test_a_server_error_fails_the_upload(upload_post: UploadPostPublisher, fake: FakeUploadPost) -> None:
    fake.fail(500)
    result = upload_post.publish(_request())

    assert result.state == "failed"
    assert result.reason == ("Upload-Post is unavailable (HTTP 500): Internal server error: the upload service is down")


def test_a_server_error_while_polling_leaves_the_accepted_upload_pending(
    upload_post: UploadPostPublisher, fake: FakeUploadPost
) -> None:
    request = _request()
    started = upload_post.publish(request)
    fake.fail(503)
    troubled = upload_post.poll(request, started.request_id)

    assert (troubled.state, troubled.request_id) == ("pending", started.request_id)
    assert troubled.reason == "Upload-Post is unavailable (HTTP 503): Internal server error: the upload service is down"
    assert _poll_until_done(upload_post, request, started.request_id)[-1].state == "published"


def test_an_unreachable_upload_post_fails_naming_it(
    upload_post: UploadPostPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setenv("UPLOAD_POST_BASE_URL", f"http://127.0.0.1:{port}/api")
    result = upload_post.publish(_request())

    assert result.state == "failed"
    assert result.reason.startswith("Upload-Post: POST /upload failed:")


def test_an_unknown_request_id_fails_the_poll(upload_post: UploadPostPublisher) -> None:
    result = upload_post.poll(_request(), "no-such-request")

    assert (result.state, result.request_id) == ("failed", "no-such-request")
    assert result.reason.startswith("Upload-Post knows no upload no-such-request")


def test_a_file_that_is_not_an_mp4_is_refused_by_upload_post(
    upload_post: UploadPostPublisher, fake: FakeUploadPost, store: ArtifactStore
) -> None:
    store.put_bytes("jobs/broken/output.mp4", b"<html>not a video</html>" * 10, "video/mp4")
    result = upload_post.publish(_request(video_key="jobs/broken/output.mp4"))

    assert result.state == "failed"
    assert (
        result.reason
        == "Upload-Post refused the request (HTTP 400): The video file is not a valid video (unsupported format)"
    )
    assert fake.uploads == []


def test_a_missing_video_fails_before_anything_is_sent(upload_post: UploadPostPublisher, fake: FakeUploadPost) -> None:
    result = upload_post.publish(_request(video_key="jobs/nope/output.mp4"))

    assert (result.state, result.reason) == ("failed", "the rendered video jobs/nope/output.mp4 is not in storage")
    assert fake.requests == []
