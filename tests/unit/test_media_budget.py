"""One job's media URLs share one deadline (MEDIA_FETCH_JOB_SECONDS, made a few seconds here): fetched one
after another, each fits alone, but one that cannot finish in what the others left is cut off although its
own limit is far away; the URLs after it are never requested, and the error names the URL that ran out. A
clip's decode ends by the same deadline."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from PIL import Image

from pytoon.aws.storage import ArtifactStore
from pytoon.config import Settings
from pytoon.media_fetch import MediaFetchError
from pytoon.models import MediaRef
from pytoon.pipeline import _Context, resolve_media
from pytoon.render import probe
from pytoon.render.probe import DecodedVideo, MediaProbeError
from tests.factories import make_spec
from tests.fakes.media_server import MediaServer, body, media_server, serve_pipeline_fetches
from tests.media import make_test_clip

BUCKET = "artifacts"
JOB_SECONDS = 4.0
# Each slow image takes this long to arrive (the server pauses between its pieces): one fits the job's
# time with room to spare (a loaded machine spends well under the rest on the other fetches), two cannot.
SLOW_SECONDS = 2.5


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 200, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    png = _png()
    clip = make_test_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=1, fps=10, size=(96, 64))
    routes = {
        "/slow-1.png": body("image/png", png, seconds=SLOW_SECONDS),
        "/slow-2.png": body("image/png", png, seconds=SLOW_SECONDS),
        "/quick.png": body("image/png", png),
        # Each piece arrives well within the read timeout; the whole body would take a minute.
        "/stalling.png": body("image/png", png, seconds=60),
        "/clip.mp4": body("video/mp4", clip.read_bytes()),
    }
    with media_server(routes) as running:
        yield running


@pytest.fixture
def ctx(moto_table: str, tmp_path: Path, server: MediaServer, monkeypatch: pytest.MonkeyPatch) -> _Context:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    monkeypatch.setattr("pytoon.media_fetch.MEDIA_FETCH_JOB_SECONDS", JOB_SECONDS)
    serve_pipeline_fetches(server, monkeypatch)
    return _Context(Settings(table_name=moto_table, bucket_name=BUCKET, work_dir=tmp_path))


def _resolve(ctx: _Context, server: MediaServer, *paths: str) -> list[str]:
    """The keys the job's media are stored under."""
    spec = make_spec().model_copy(
        update={"api_version": 2, "media": [MediaRef(url=server.url(path)) for path in paths]}
    )
    _, planned = resolve_media(ctx, spec)
    return [media.key for media in planned]


def _stored() -> list[str]:
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=BUCKET)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_one_slow_url_fits_the_jobs_time(ctx: _Context, server: MediaServer) -> None:
    assert _resolve(ctx, server, "/slow-1.png", "/quick.png") == ["jobs/job1/media/00.png", "jobs/job1/media/01.png"]
    assert ArtifactStore(BUCKET, "us-east-1").get_bytes("jobs/job1/media/00.png") == _png()


def test_each_fetched_file_leaves_the_disk_once_stored(
    ctx: _Context, server: MediaServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    on_disk: list[int] = []
    put_file = ArtifactStore.put_file

    def counting_put_file(store: ArtifactStore, key: str, path: Path, content_type: str) -> None:
        on_disk.append(sum(1 for item in tmp_path.rglob("*") if item.is_file()))
        put_file(store, key, path, content_type)

    monkeypatch.setattr(ArtifactStore, "put_file", counting_put_file)
    assert len(_resolve(ctx, server, "/quick.png", "/slow-1.png", "/clip.mp4")) == 3
    assert on_disk == [1, 1, 1]


def test_a_url_that_cannot_finish_in_what_the_others_left_fails_the_job(ctx: _Context, server: MediaServer) -> None:
    before = len(server.requests)
    with pytest.raises(MediaFetchError) as failed:
        _resolve(ctx, server, "/slow-1.png", "/slow-2.png", "/quick.png")
    assert str(failed.value) == (
        f"Media URLs of this job took longer than {JOB_SECONDS:g} s together to fetch and validate "
        f"({server.url('/slow-2.png')})"
    )
    requested = [path for path, _ in server.requests[before:]]
    # Whether /slow-2.png's request got out before the deadline depends on how fast the machine is; the URL
    # after it is never asked for either way.
    assert requested in (["/slow-1.png"], ["/slow-1.png", "/slow-2.png"])
    assert _stored() == ["jobs/job1/media/00.png"]


def test_a_stalling_body_is_cut_off_at_the_jobs_deadline(ctx: _Context, server: MediaServer) -> None:
    # The fetch's own limit (MEDIA_FETCH_TOTAL_SECONDS) is two minutes away: only the job's deadline ends it.
    with pytest.raises(MediaFetchError, match=rf"took longer than {JOB_SECONDS:g} s together .*/stalling\.png\)$"):
        _resolve(ctx, server, "/stalling.png")
    assert _stored() == []


def test_a_clips_decode_ends_at_the_jobs_deadline(
    ctx: _Context, server: MediaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    decode_video = probe.decode_video
    needs = 3 * JOB_SECONDS  # far less than a decode's own timeout, more than the job has

    def slow_decode(path: Path, container: str, *, max_seconds: float, timeout: float) -> DecodedVideo:
        """A decoder that takes `needs` seconds and honours its timeout."""
        if timeout < needs:
            time.sleep(timeout)
            raise MediaProbeError(f"decoding took longer than {timeout:g} s")
        time.sleep(needs)
        return decode_video(path, container, max_seconds=max_seconds, timeout=timeout)

    monkeypatch.setattr(probe, "decode_video", slow_decode)
    overrun = rf"^Media URLs of this job took longer than {JOB_SECONDS:g} s together .*/clip\.mp4\)$"
    with pytest.raises(MediaFetchError, match=overrun):
        _resolve(ctx, server, "/clip.mp4")
    assert _stored() == []
