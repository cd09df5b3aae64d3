"""Files to and from the artifacts bucket: one request for an object of a few MB, s3transfer's parallel parts
beyond, and a file at the destination only once it is whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ResponseStreamingError
from botocore.response import StreamingBody
from moto import mock_aws

from pytoon.aws import client, reset_clients, storage
from pytoon.aws.storage import ArtifactStore, ObjectNotFoundError
from pytoon.errors import TransientError

REGION = "eu-west-1"
BUCKET = "pytoon-artifacts-test"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[ArtifactStore]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reset_clients()
    with mock_aws():
        client("s3", REGION).create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield ArtifactStore(BUCKET, REGION)
    reset_clients()


@pytest.fixture
def operations(store: ArtifactStore) -> list[str]:
    """The S3 operations every call of the store's client sends, in order."""
    sent: list[str] = []
    client("s3", REGION).meta.events.register("before-call.s3", lambda model, **_: sent.append(model.name))
    return sent


def test_an_object_of_a_few_megabytes_comes_down_in_one_get(
    store: ArtifactStore, operations: list[str], tmp_path: Path
) -> None:
    data = bytes(range(256)) * 12_000  # 3 MB
    client("s3", REGION).put_object(Bucket=BUCKET, Key="jobs/j/seg_000.mp4", Body=data)
    operations.clear()
    path = store.download("jobs/j/seg_000.mp4", tmp_path / "work" / "seg_000.mp4")
    assert path.read_bytes() == data
    assert operations == ["GetObject"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["seg_000.mp4"]


def test_a_larger_object_comes_down_in_parallel_parts(
    store: ArtifactStore, operations: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "SINGLE_REQUEST_BYTES", 64 * 1024)
    data = b"clip" * 100_000
    client("s3", REGION).put_object(Bucket=BUCKET, Key="uploads/u/clip.mp4", Body=data)
    operations.clear()
    assert store.download("uploads/u/clip.mp4", tmp_path / "clip.mp4").read_bytes() == data
    # The first GET only told the size; s3transfer then fetched it.
    assert operations[0] == "GetObject" and "HeadObject" in operations[1:]


def test_a_missing_object_is_named_and_leaves_no_file(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFoundError, match="jobs/j/absent.mp4"):
        store.download("jobs/j/absent.mp4", tmp_path / "absent.mp4")
    assert list(tmp_path.iterdir()) == []


def test_a_download_cut_off_midway_is_transient_and_leaves_no_file(
    store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client("s3", REGION).put_object(Bucket=BUCKET, Key="jobs/j/audio.m4a", Body=b"a" * 3_000_000)

    def cut_off(body: StreamingBody, chunk_size: int) -> Iterator[bytes]:
        yield body.read(chunk_size)
        raise ResponseStreamingError(error="connection reset")

    monkeypatch.setattr(StreamingBody, "iter_chunks", cut_off)
    with pytest.raises(TransientError, match="jobs/j/audio.m4a"):
        store.download("jobs/j/audio.m4a", tmp_path / "audio.m4a")
    assert list(tmp_path.iterdir()) == []


def test_a_file_of_a_few_megabytes_goes_up_in_one_put_with_its_type(
    store: ArtifactStore, operations: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "output.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" * 200_000)
    store.put_file("jobs/j/output.mp4", path, "video/mp4")
    assert operations == ["PutObject"]
    stored = client("s3", REGION).get_object(Bucket=BUCKET, Key="jobs/j/output.mp4")
    assert (stored["ContentType"], stored["Body"].read()) == ("video/mp4", path.read_bytes())


def test_a_larger_file_goes_up_in_parts(
    store: ArtifactStore, operations: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "SINGLE_REQUEST_BYTES", 64 * 1024)
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"c" * 200_000)
    store.put_file("uploads/u/clip.mp4", path, "video/mp4")
    assert operations[0] == "CreateMultipartUpload" and operations[-1] == "CompleteMultipartUpload"
    stored = client("s3", REGION).get_object(Bucket=BUCKET, Key="uploads/u/clip.mp4")
    assert (stored["ContentType"], stored["Body"].read()) == ("video/mp4", path.read_bytes())
