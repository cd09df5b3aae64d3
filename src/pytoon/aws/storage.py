"""The artifacts bucket: uploads, plans and every rendered file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pytoon.aws import client
from pytoon.config import Settings
from pytoon.errors import TransientError

# s3transfer's own multipart threshold: an object up to this size moves in one request.
SINGLE_REQUEST_BYTES = 8 * 1024 * 1024
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
_THROTTLING = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"}


class ObjectNotFoundError(LookupError):
    pass


def _translate(exc: Exception, key: str) -> Exception:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            return ObjectNotFoundError(f"s3 object not found: {key}")
        if code in _THROTTLING:
            return TransientError(f"storage busy ({code}) for {key}")
    if isinstance(exc, BotoCoreError):
        return TransientError(f"storage unreachable for {key}: {exc}")
    return exc


def _transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=SINGLE_REQUEST_BYTES)


@dataclass(frozen=True)
class ArtifactStore:
    bucket: str
    region: str
    presign_ttl_seconds: int = 3600

    @classmethod
    def from_settings(cls, settings: Settings) -> ArtifactStore:
        return cls(settings.bucket_name, settings.region, settings.presign_ttl_seconds)

    @property
    def _s3(self) -> Any:
        return client("s3", self.region)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def url(self, key: str) -> str:
        """A URL a plain HTTP client can GET (presigned in AWS; the embedded endpoint locally)."""
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.presign_ttl_seconds
        )

    def presigned_post(self, key: str, *, content_type: str, max_bytes: int) -> dict[str, Any]:
        """A browser-style upload form straight to S3, bounded in size and pinned to one content type."""
        return self._s3.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            # A field in Fields is not enforced unless it is also a condition.
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=self.presign_ttl_seconds,
        )

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, key) from exc

    def put_json(self, key: str, document: Any) -> None:
        self.put_bytes(key, json.dumps(document, indent=2, sort_keys=True).encode(), "application/json")

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """One PutObject up to SINGLE_REQUEST_BYTES (what s3transfer would send too, without its threads),
        else s3transfer's multipart upload."""
        try:
            if path.stat().st_size <= SINGLE_REQUEST_BYTES:
                with path.open("rb") as body:
                    self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
            else:
                extra = {"ContentType": content_type}
                self._s3.upload_file(str(path), self.bucket, key, ExtraArgs=extra, Config=_transfer_config())
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, key) from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, key) from exc

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def download(self, key: str, path: Path) -> Path:
        """The object in `path`, whole or not at all: one GET streamed to a partial file beside it (a failure
        mid-stream is a TransientError, which the steps retry). An object over SINGLE_REQUEST_BYTES goes
        through s3transfer's ranged GETs in parallel instead; s3transfer for every object cost a HEAD first
        and a transfer manager's threads."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"]
            if response["ContentLength"] > SINGLE_REQUEST_BYTES:
                body.close()
                self._s3.download_file(self.bucket, key, str(path), Config=_transfer_config())
                return path
            with body, partial.open("wb") as out:
                for chunk in body.iter_chunks(DOWNLOAD_CHUNK_BYTES):
                    out.write(chunk)
            os.replace(partial, path)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, key) from exc
        finally:
            partial.unlink(missing_ok=True)
        return path

    def copy(self, source_key: str, key: str) -> None:
        """Copy an object within the bucket, content type included; S3 copies it, no byte passes through here."""
        try:
            self._s3.copy_object(Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": source_key})
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, source_key) from exc

    def delete(self, key: str) -> None:
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, key) from exc

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise _translate(exc, key) from exc
        return True
