"""Embedded AWS answers its own process's clients without HTTP, and everyone else over it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import urllib3.util.connection

from pytoon.aws import client, dynamodb_table
from pytoon.aws.storage import ArtifactStore
from pytoon.config import get_settings
from pytoon.local.embedded import EmbeddedAWS


def test_the_process_own_calls_need_no_connection_while_outside_clients_still_connect(
    embedded: EmbeddedAWS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"an AWS call of this process opened a connection to {args[0]}")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    settings = get_settings()
    # Outside uploads/, whose objects the upload validation checks (and removes, for a text file).
    key = "checks/direct/café menu +1.txt"  # decoded on the way in as an HTTP server decodes it
    s3 = client("s3", settings.region)
    s3.put_object(Bucket=settings.bucket_name, Key=key, Body=b"menu of the day")
    assert s3.get_object(Bucket=settings.bucket_name, Key=key)["Body"].read() == b"menu of the day"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket_name, Prefix="checks/direct/")["Contents"]] == [
        key
    ]
    with pytest.raises(s3.exceptions.ClientError) as missing:
        s3.head_object(Bucket=settings.bucket_name, Key="checks/direct/absent")
    assert missing.value.response["Error"]["Code"] == "404"
    table = dynamodb_table(settings.table_name, settings.region)
    before = embedded.changes.count
    table.put_item(Item={"PK": "direct#1", "SK": "item", "note": "kept"})
    assert table.get_item(Key={"PK": "direct#1", "SK": "item"})["Item"]["note"] == "kept"
    assert embedded.changes.count > before, "a write served directly did not signal a job change"

    # Above the transfer manager's threshold a file goes up in parts, and comes down whole.
    store = ArtifactStore.from_settings(settings)
    video = tmp_path / "large.bin"
    video.write_bytes(bytes(range(256)) * (9 * 2**20 // 256))
    store.put_file("checks/direct/large.bin", video, "application/octet-stream")
    assert store.download("checks/direct/large.bin", tmp_path / "back.bin").read_bytes() == video.read_bytes()

    # A presigned URL is for somebody else: it is fetched over HTTP from the endpoint.
    assert httpx.get(store.url(key)).content == b"menu of the day"
