"""The artifacts bucket: uploads, plans and every rendered file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pytoon.aws import client
from pytoon.config import Settings
from pytoon.errors import TransientError

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
        try:
            self._s3.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type})
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
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._s3.download_file(self.bucket, key, str(path))
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, key) from exc
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
