"""Every URL the API hands out is signed with SigV4 (S3 buckets created since 2020 refuse SigV2), verifies
as SigV4 against the credentials that signed it, and still downloads.

moto accepts any signature, so the signatures and the presigned POST policy are checked here the way S3
checks them: recomputed from the secret key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest
from PIL import Image

from pytoon.config import get_settings
from pytoon.limits import MAX_UPLOAD_BYTES
from tests.integration.conftest import upload, wait_for_job

pytestmark = pytest.mark.integration

SIGV4 = "AWS4-HMAC-SHA256"
SIGV2_FIELDS = {"AWSAccessKeyId", "Signature", "signature", "awsaccesskeyid"}


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 160, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def _signing_key(date: str, region: str) -> bytes:
    key = ("AWS4" + os.environ["AWS_SECRET_ACCESS_KEY"]).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _sign(date: str, region: str, string_to_sign: str) -> str:
    return hmac.new(_signing_key(date, region), string_to_sign.encode(), hashlib.sha256).hexdigest()


def assert_sigv4_url(url: str) -> dict[str, str]:
    """A presigned GET URL in SigV4 query form whose signature S3 would accept; returns its query."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    assert not SIGV2_FIELDS & set(query), url
    assert query["X-Amz-Algorithm"] == SIGV4
    assert query["X-Amz-SignedHeaders"] == "host"
    access_key, date, region, service, terminator = query["X-Amz-Credential"].split("/")
    assert (access_key, service, terminator) == (os.environ["AWS_ACCESS_KEY_ID"], "s3", "aws4_request")
    assert region == get_settings().region
    assert query["X-Amz-Date"].startswith(date)
    assert int(query["X-Amz-Expires"]) == get_settings().presign_ttl_seconds
    # The canonical request of a presigned GET (query auth, unsigned payload), rebuilt from the URL.
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()) if k != "X-Amz-Signature"
    )
    canonical = "\n".join(["GET", parts.path, canonical_query, f"host:{parts.netloc}", "", "host", "UNSIGNED-PAYLOAD"])
    scope = f"{date}/{region}/s3/aws4_request"
    string_to_sign = "\n".join([SIGV4, query["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()])
    assert query["X-Amz-Signature"] == _sign(date, region, string_to_sign), "signature does not verify"
    return query


def _presign(api: httpx.Client, filename: str, content_type: str, category: str) -> dict:
    response = api.post(
        "/api/v1/assets/uploads", json={"filename": filename, "content_type": content_type, "category": category}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_presigned_post_form_is_sigv4_with_the_policy_s3_enforces(api: httpx.Client) -> None:
    form = _presign(api, "shot.png", "image/png", "image")
    fields = form["upload_fields"]
    assert not SIGV2_FIELDS & set(fields), fields
    assert {"key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"} <= set(fields)
    assert fields["x-amz-algorithm"] == SIGV4
    access_key, date, region, service, terminator = fields["x-amz-credential"].split("/")
    assert (access_key, region, service, terminator) == (
        os.environ["AWS_ACCESS_KEY_ID"],
        get_settings().region,
        "s3",
        "aws4_request",
    )
    # SigV4 POST: the signature is the HMAC of the base64 policy itself, under the day's signing key.
    assert fields["x-amz-signature"] == _sign(date, region, fields["policy"]), "policy signature does not verify"

    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert {"bucket": get_settings().bucket_name} in conditions
    assert {"key": form["key"]} in conditions
    assert {"Content-Type": "image/png"} in conditions and fields["Content-Type"] == "image/png"
    assert ["content-length-range", 1, MAX_UPLOAD_BYTES] in conditions
    # Every signing field is itself a condition, so none of them can be swapped after signing.
    for name in ("x-amz-algorithm", "x-amz-credential", "x-amz-date"):
        assert {name: fields[name]} in conditions, name
    expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    ttl = timedelta(seconds=get_settings().presign_ttl_seconds)
    assert timedelta(0) < expires - datetime.now(UTC) <= ttl

    # The form still uploads, and the asset it becomes hands out a SigV4 URL that downloads the bytes.
    body = _png((320, 240))
    posted = httpx.post(form["upload_url"], data=fields, files={"file": ("shot.png", body)})
    assert posted.status_code in (200, 201, 204), posted.text
    asset = api.get(form["status_url"]).json()
    assert asset["status"] == "READY", asset
    assert_sigv4_url(asset["url"])
    assert httpx.get(asset["url"]).raise_for_status().content == body


def test_uploaded_asset_urls_are_sigv4_and_download(api: httpx.Client, media_dir: Path) -> None:
    created = upload(api, media_dir / "product_0.png", "image")
    assert_sigv4_url(created["url"])
    assert httpx.get(created["url"]).raise_for_status().content == (media_dir / "product_0.png").read_bytes()
    fetched = api.get(f"/api/v1/assets/{created['asset_id']}").json()
    assert_sigv4_url(fetched["url"])
    assert httpx.get(fetched["url"]).raise_for_status().content == (media_dir / "product_0.png").read_bytes()


def test_finished_job_urls_are_sigv4_and_download(api: httpx.Client, media_dir: Path) -> None:
    image = upload(api, media_dir / "product_1.png", "image")["uri"]
    response = api.post(
        "/api/v1/jobs",
        json={
            "preset_id": "product_hero_clean",
            "prompt": "Signed links only.",
            "target_duration_seconds": 1,
            "image_uris": [image],
        },
    )
    assert response.status_code == 201, response.text
    job = wait_for_job(api, response.json()["job_id"])
    assert job["status"] == "DONE", job["error"]
    url_fields = sorted(name for name, value in job.items() if name.endswith("_url") and value)
    assert url_fields == ["captions_url", "metadata_url", "output_url", "thumbnail_url"], job
    for name in url_fields:
        assert_sigv4_url(job[name])
    assert httpx.get(job["output_url"]).raise_for_status().content[4:8] == b"ftyp"
    assert httpx.get(job["thumbnail_url"]).raise_for_status().content[:3] == b"\xff\xd8\xff"
    assert "-->" in httpx.get(job["captions_url"]).raise_for_status().text
    assert httpx.get(job["metadata_url"]).raise_for_status().json()["job_id"] == job["job_id"]
