"""Presigned URLs and forms as AWS will see them: SigV4, at the bucket's own regional endpoint.

A URL signed for one region but pointing at the global endpoint gets redirected by S3 for a new bucket,
and the redirect breaks the signature; SigV2 is refused outright by buckets created since 2020.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from pytoon.aws import reset_clients
from pytoon.aws.storage import ArtifactStore

BUCKET = "pytoon-artifacts-123456789012-eu-west-1-0a1b2c3d"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    reset_clients()
    yield
    reset_clients()


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-4"])
def test_presigned_get_is_sigv4_at_the_regional_endpoint(region: str) -> None:
    url = ArtifactStore(BUCKET, region, presign_ttl_seconds=900).url("jobs/abc/output.mp4")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        f"{BUCKET}.s3.{region}.amazonaws.com",
        "/jobs/abc/output.mp4",
    )
    query = parse_qs(parts.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Credential"][0].split("/")[2:] == [region, "s3", "aws4_request"]
    assert query["X-Amz-Expires"] == ["900"]
    assert "AWSAccessKeyId" not in query and "Signature" not in query


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-2"])
def test_presigned_post_is_sigv4_at_the_regional_endpoint(region: str) -> None:
    form = ArtifactStore(BUCKET, region).presigned_post("uploads/x/a.png", content_type="image/png", max_bytes=10)
    assert form["url"] == f"https://{BUCKET}.s3.{region}.amazonaws.com/"
    fields = form["fields"]
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert fields["x-amz-credential"].split("/")[2:] == [region, "s3", "aws4_request"]
    assert {"x-amz-date", "x-amz-signature", "policy", "key", "Content-Type"} <= set(fields)
    assert not {"AWSAccessKeyId", "signature"} & set(fields)


def test_a_custom_endpoint_is_addressed_path_style(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local mode: `bucket.localhost` would not resolve, so the bucket goes in the path."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    reset_clients()
    url = ArtifactStore("pytoon-artifacts", "us-east-1").url("jobs/abc/output.mp4")
    assert url.startswith("http://localhost:4566/pytoon-artifacts/jobs/abc/output.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256")
