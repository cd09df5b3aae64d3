"""Uploaded media: validated by content (never by name), stored under uploads/, recorded per tenant."""

from __future__ import annotations

import re
import tempfile
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

from pytoon.audio_headers import AudioHeaderError, inspect_audio
from pytoon.aws import keys
from pytoon.aws.assets import AssetRecord, AssetRepository, MediaFacts
from pytoon.aws.storage import ArtifactStore
from pytoon.clock import utc_now_iso
from pytoon.config import Settings, get_settings
from pytoon.errors import PytoonError, public_message
from pytoon.limits import (
    MAX_IMAGE_EDGE,
    MAX_IMAGE_PIXELS,
    MAX_UPLOAD_BYTES,
    MAX_VIDEO_EDGE,
    MAX_VIDEO_SECONDS,
    MAX_VIDEO_UPLOAD_BYTES,
    VIDEO_DECODE_TIMEOUT_SECONDS,
)
from pytoon.models import AssetCategory, AssetStatus

# The content type each accepted media type is stored with.
CONTENT_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
}

# Video codecs a clip may carry: what phones, cameras, editors and browsers write. Others are refused before
# any frame is decoded, which keeps ffmpeg's rarely used decoders away from untrusted files.
ACCEPTED_VIDEO_CODECS = ("h264", "hevc", "vp8", "vp9", "av1", "prores", "mpeg4")

# Video is validated by decoding it with ffmpeg, which runs only where uploads are validated after they land
# in storage (the upload notification), not in the API function that receives inline uploads.
INLINE_VIDEO_REASON = (
    "Video clips are validated after they are stored: request a presigned upload with POST /api/v1/assets/uploads "
    f"(category video, up to {MAX_VIDEO_UPLOAD_BYTES // (1024 * 1024)}MB) instead"
)


class AssetRejectedError(PytoonError):
    """The bytes are not an acceptable asset of the category; the message says why."""


class AssetReferenceError(PytoonError):
    """A job names an asset this tenant does not have ready."""


def _inspect_image(path: Path, category: AssetCategory) -> MediaFacts:
    # Imported here: the API imports this module at its cold start and decodes images only on upload. The
    # plugins of the formats opened are imported by name: else the first open imports all of PIL's (~25 ms).
    from PIL import Image, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError, WebPImagePlugin  # noqa: F401

    formats = ["PNG"] if category is AssetCategory.MASK else ["PNG", "JPEG", "WEBP"]
    expected = "a PNG" if category is AssetCategory.MASK else "a PNG, JPEG or WebP image"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=formats) as image:
                width, height = image.size
                if max(width, height) > MAX_IMAGE_EDGE:
                    raise AssetRejectedError(f"Image dimensions exceed {MAX_IMAGE_EDGE}px limit: {width}x{height}")
                if width * height > MAX_IMAGE_PIXELS:
                    raise AssetRejectedError(f"Image has too many pixels: {width}x{height}")
                image.load()  # decodes every byte: truncated files fail here
                kind = image.format.lower()
                has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    except AssetRejectedError:
        raise
    except UnidentifiedImageError as exc:
        raise AssetRejectedError(f"Not {expected}: the content is not a recognised image format") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise AssetRejectedError(f"Image is too large to decode safely: {public_message(str(exc))}") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        reason = public_message(str(exc))
        raise AssetRejectedError(f"Image could not be decoded (truncated or corrupt): {reason}") from exc
    if category is AssetCategory.MASK and not has_alpha:
        raise AssetRejectedError("Mask must be a PNG with an alpha channel; this PNG has none")
    return MediaFacts(type=kind, width=width, height=height, has_alpha=has_alpha)


def _inspect_audio(path: Path) -> MediaFacts:
    # Read from the file's own headers, in pure Python: the API function has no ffmpeg, and the upload
    # notification runs this same check so both paths accept exactly the same files.
    try:
        header = inspect_audio(path.read_bytes())
    except AudioHeaderError as exc:
        raise AssetRejectedError(str(exc)) from exc
    return MediaFacts(
        type=header.type,
        duration_seconds=round(header.duration_seconds, 3),
        sample_rate=header.sample_rate,
        channels=header.channels,
    )


def _inspect_video(path: Path, decode_timeout_seconds: float | None) -> MediaFacts:
    # Imported here: the API function imports this module and never decodes video (it has no ffmpeg).
    from pytoon.render.probe import MediaProbeError, decode_video, probe_video

    try:
        clip = probe_video(path)
    except MediaProbeError as exc:
        raise AssetRejectedError(f"Not an MP4, MOV or WebM video: {public_message(str(exc))}") from exc
    if clip.codec not in ACCEPTED_VIDEO_CODECS:
        accepted = ", ".join(ACCEPTED_VIDEO_CODECS)
        raise AssetRejectedError(f"Video codec {clip.codec!r} is not accepted; use one of {accepted}")
    if max(clip.width, clip.height) > MAX_VIDEO_EDGE:
        raise AssetRejectedError(f"Video dimensions exceed {MAX_VIDEO_EDGE}px limit: {clip.width}x{clip.height}")
    if clip.duration_seconds is not None and clip.duration_seconds > MAX_VIDEO_SECONDS:
        raise AssetRejectedError(f"Video is {clip.duration_seconds:.2f} s long; the limit is {MAX_VIDEO_SECONDS} s")
    try:
        timeout = VIDEO_DECODE_TIMEOUT_SECONDS
        if decode_timeout_seconds is not None:
            timeout = min(timeout, decode_timeout_seconds)
        decoded = decode_video(path, clip.container, max_seconds=MAX_VIDEO_SECONDS, timeout=timeout)
    except MediaProbeError as exc:
        reason = public_message(str(exc))
        raise AssetRejectedError(f"Video could not be decoded (truncated or corrupt): {reason}") from exc
    if decoded.frames == 0:
        raise AssetRejectedError("Video could not be decoded: no frame of its video stream decodes")
    if decoded.seconds > MAX_VIDEO_SECONDS:
        # The container declared a shorter length (or none) than its frames span.
        raise AssetRejectedError(f"Video runs past {MAX_VIDEO_SECONDS} s; the limit is {MAX_VIDEO_SECONDS} s")
    # More than a second short of its declared length (an audio track may outlast the picture a little).
    if clip.duration_seconds is not None and decoded.seconds + 1.0 < clip.duration_seconds:
        raise AssetRejectedError(
            f"Video is truncated: only {decoded.seconds:.2f} s of its declared {clip.duration_seconds:.2f} s decode"
        )
    return MediaFacts(
        type=clip.container,
        codec=clip.codec,
        width=clip.width,
        height=clip.height,
        duration_seconds=round(clip.duration_seconds or decoded.seconds, 3),
        fps=clip.fps,
        has_audio=clip.has_audio,
    )


def max_upload_bytes(category: AssetCategory) -> int:
    """The largest file of the category accepted (video clips get their own, larger bound)."""
    return MAX_VIDEO_UPLOAD_BYTES if category is AssetCategory.VIDEO else MAX_UPLOAD_BYTES


def inspect_media(path: Path, category: AssetCategory, *, decode_timeout_seconds: float | None = None) -> MediaFacts:
    """The facts of a file of the category, checked by content; AssetRejectedError with the reason otherwise.
    `decode_timeout_seconds` ends a video's decode sooner than its own bound, for a caller whose time is short."""
    size = path.stat().st_size
    limit = max_upload_bytes(category)
    if size > limit:
        raise AssetRejectedError(f"File exceeds {limit // (1024 * 1024)}MB limit")
    if size == 0:
        raise AssetRejectedError("File is empty")
    if category is AssetCategory.AUDIO:
        return _inspect_audio(path)
    if category is AssetCategory.VIDEO:
        return _inspect_video(path, decode_timeout_seconds)
    return _inspect_image(path, category)


def safe_filename(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name or "file").name).strip("._") or "file"
    return stem[-100:]


@dataclass(frozen=True)
class CheckedUpload:
    """Bytes that passed validation for their category, with the facts validation found."""

    category: AssetCategory
    filename: str
    data: bytes
    facts: MediaFacts


def check_upload(*, category: AssetCategory, filename: str, data: bytes) -> CheckedUpload:
    """Validate bytes by content (no storage needed); raise AssetRejectedError with the reason.

    This is the inline path (the API's multipart route, the CLI): video is refused here, see INLINE_VIDEO_REASON.
    """
    if category is AssetCategory.VIDEO:
        raise AssetRejectedError(INLINE_VIDEO_REASON)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        facts = inspect_media(path, category)
    return CheckedUpload(category=category, filename=filename, data=data, facts=facts)


def store_upload(
    *, tenant_id: str, category: AssetCategory, filename: str, data: bytes, settings: Settings | None = None
) -> AssetRecord:
    """Validate bytes by content and store them as a READY asset; raise AssetRejectedError otherwise."""
    return store_checked(check_upload(category=category, filename=filename, data=data), tenant_id, settings)


def store_checked(upload: CheckedUpload, tenant_id: str, settings: Settings | None = None) -> AssetRecord:
    """Store a validated upload as a READY asset of the tenant."""
    settings = settings or get_settings()
    category, data, facts = upload.category, upload.data, upload.facts
    asset_id = uuid.uuid4().hex
    key = keys.upload_key(asset_id, safe_filename(upload.filename))
    now = utc_now_iso()
    record = AssetRecord(
        asset_id=asset_id,
        tenant_id=tenant_id,
        key=key,
        category=category,
        status=AssetStatus.READY,
        size=len(data),
        media=facts,
        created_at=now,
        updated_at=now,
    )
    # The record goes first: the object's upload notification then finds it READY and has nothing to do.
    AssetRepository.from_settings(settings).put(record)
    ArtifactStore.from_settings(settings).put_bytes(
        key, data, CONTENT_TYPES.get(facts.type, "application/octet-stream")
    )
    return record


ALLOWED_CONTENT_TYPES: dict[AssetCategory, tuple[str, ...]] = {
    AssetCategory.IMAGE: ("image/png", "image/jpeg", "image/webp"),
    AssetCategory.MASK: ("image/png",),
    AssetCategory.AUDIO: ("audio/mpeg", "audio/wav", "audio/x-wav"),
    AssetCategory.VIDEO: ("video/mp4", "video/quicktime", "video/webm"),
}


def create_presigned_upload(
    *,
    tenant_id: str,
    category: AssetCategory,
    filename: str,
    content_type: str,
    settings: Settings | None = None,
) -> tuple[AssetRecord, dict]:
    """Register a PENDING asset and return an S3 presigned POST for it; the upload notification decides."""
    if content_type not in ALLOWED_CONTENT_TYPES[category]:
        allowed = ", ".join(ALLOWED_CONTENT_TYPES[category])
        raise AssetRejectedError(f"content_type {content_type!r} is not accepted for {category}; use {allowed}")
    settings = settings or get_settings()
    asset_id = uuid.uuid4().hex
    now = utc_now_iso()
    record = AssetRecord(
        asset_id=asset_id,
        tenant_id=tenant_id,
        key=keys.upload_key(asset_id, safe_filename(filename)),
        category=category,
        status=AssetStatus.PENDING,
        created_at=now,
        updated_at=now,
    )
    AssetRepository.from_settings(settings).put(record)
    form = ArtifactStore.from_settings(settings).presigned_post(
        record.key, content_type=content_type, max_bytes=max_upload_bytes(category)
    )
    return record, form


def get_asset(tenant_id: str, asset_id: str, settings: Settings | None = None) -> AssetRecord | None:
    record = AssetRepository.from_settings(settings or get_settings()).get(asset_id)
    return record if record is not None and record.tenant_id == tenant_id else None


def asset_id_from_key(key: str) -> str | None:
    match = re.fullmatch(r"uploads/([0-9a-f]{32})/[^/]+", key)
    return match.group(1) if match else None


def resolve_asset_keys(
    tenant_id: str, uris: dict[str, AssetCategory], settings: Settings | None = None
) -> dict[str, str]:
    """Map each URI a job names (s3://bucket/uploads/..., or the key itself) to a READY asset key of this tenant."""
    records = resolve_assets(tenant_id, {uri: (category,) for uri, category in uris.items()}, settings)
    return {uri: record.key for uri, record in records.items()}


def resolve_assets(
    tenant_id: str, uris: dict[str, tuple[AssetCategory, ...]], settings: Settings | None = None
) -> dict[str, AssetRecord]:
    """The READY asset of this tenant that each URI names, which must be of one of the given categories."""
    settings = settings or get_settings()
    repo = AssetRepository.from_settings(settings)
    prefix = f"s3://{settings.bucket_name}/"
    resolved = {}
    for uri, categories in uris.items():
        key = uri.removeprefix(prefix)
        asset_id = asset_id_from_key(key)
        record = repo.get(asset_id) if asset_id else None
        if record is None or record.tenant_id != tenant_id or record.key != key:
            raise AssetReferenceError(f"{uri} is not an uploaded asset of this account")
        if record.status != AssetStatus.READY:
            raise AssetReferenceError(f"{uri} is not ready (status {record.status})")
        if record.category not in categories:
            wanted = " or ".join(categories)
            raise AssetReferenceError(f"{uri} is a {record.category} asset, not {wanted}")
        resolved[uri] = record
    return resolved


def validate_uploaded_object(key: str, settings: Settings | None = None) -> AssetRecord | None:
    """Validate an object that arrived under uploads/ (the bucket notification).

    Objects nobody registered are deleted; assets already decided are left alone (S3 delivers events at
    least once, and API uploads are validated before they are stored); a rejected object is deleted.
    """
    settings = settings or get_settings()
    repo = AssetRepository.from_settings(settings)
    store = ArtifactStore.from_settings(settings)
    asset_id = asset_id_from_key(key)
    record = repo.get(asset_id) if asset_id else None
    if record is None or record.key != key:
        store.delete(key)
        return None
    if record.status != AssetStatus.PENDING:
        return record
    with tempfile.TemporaryDirectory() as tmp:
        path = store.download(key, Path(tmp) / "upload")
        try:
            facts = inspect_media(path, record.category)
        except AssetRejectedError as exc:
            store.delete(key)
            decided = record.model_copy(update={"status": AssetStatus.REJECTED, "reason": str(exc)})
        else:
            decided = record.model_copy(
                update={"status": AssetStatus.READY, "media": facts, "size": path.stat().st_size}
            )
    decided = decided.model_copy(update={"updated_at": utc_now_iso()})
    repo.put(decided)
    return decided
