"""Uploads are validated by content: what is accepted, and the reason given for what is not."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import boto3
import pytest
from PIL import Image

from pytoon.assets import (
    AssetCategory,
    AssetRejectedError,
    asset_id_from_key,
    create_presigned_upload,
    inspect_media,
    safe_filename,
    store_upload,
    validate_uploaded_object,
)
from pytoon.aws.storage import ArtifactStore
from pytoon.config import Settings
from pytoon.models import AssetStatus
from pytoon.render.ffmpeg import run_ffmpeg
from tests.unit.test_audio_headers import wav_bytes


def _png(path: Path, size: tuple[int, int], mode: str = "RGB") -> Path:
    Image.new(mode, size, (10, 20, 30, 255)[: len(mode)]).save(path, format="PNG")
    return path


def test_images_of_each_format_are_accepted(tmp_path: Path) -> None:
    for fmt in ("PNG", "JPEG", "WEBP"):
        path = tmp_path / f"x.{fmt.lower()}"
        Image.new("RGB", (640, 480), "red").save(path, format=fmt)
        facts = inspect_media(path, AssetCategory.IMAGE)
        assert (facts.type, facts.width, facts.height) == (fmt.lower(), 640, 480)


def test_a_pdf_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "doc.png"
    path.write_bytes(b"%PDF-1.7\n1 0 obj << >> endobj\n")
    with pytest.raises(AssetRejectedError, match="Not a PNG, JPEG or WebP"):
        inspect_media(path, AssetCategory.IMAGE)


def test_a_truncated_jpeg_is_rejected(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.effect_noise((800, 800), 60).convert("RGB").save(buffer, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(AssetRejectedError, match="truncated or corrupt"):
        inspect_media(path, AssetCategory.IMAGE)


def test_an_image_over_4096_px_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(AssetRejectedError, match="5000x100"):
        inspect_media(_png(tmp_path / "wide.png", (5000, 100)), AssetCategory.IMAGE)


def test_a_mask_needs_an_alpha_channel(tmp_path: Path) -> None:
    with pytest.raises(AssetRejectedError, match="alpha"):
        inspect_media(_png(tmp_path / "mask.png", (64, 64), "RGB"), AssetCategory.MASK)
    assert inspect_media(_png(tmp_path / "ok.png", (64, 64), "RGBA"), AssetCategory.MASK).has_alpha


def test_a_jpeg_is_not_a_mask(tmp_path: Path) -> None:
    path = tmp_path / "mask.jpg"
    Image.new("RGB", (64, 64)).save(path, format="JPEG")
    with pytest.raises(AssetRejectedError, match="Not a PNG"):
        inspect_media(path, AssetCategory.MASK)


def _sine(path: Path, *options: str) -> Path:
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=1.5", *options, str(path)], timeout=30)
    return path


def test_audio_facts(tmp_path: Path) -> None:
    wav = inspect_media(_sine(tmp_path / "a.wav", "-ar", "48000", "-ac", "2"), AssetCategory.AUDIO)
    assert (wav.type, wav.duration_seconds, wav.sample_rate, wav.channels) == ("wav", 1.5, 48000, 2)
    mp3 = inspect_media(_sine(tmp_path / "a.mp3", "-ar", "44100", "-ac", "1"), AssetCategory.AUDIO)
    assert (mp3.type, mp3.duration_seconds, mp3.sample_rate, mp3.channels) == ("mp3", 1.5, 44100, 1)


@pytest.fixture
def bucket_settings(moto_table: str) -> Settings:
    """The table and a bucket in moto, as the API and the upload notification see them."""
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="pytoon-artifacts")
    return Settings(table_name=moto_table, bucket_name="pytoon-artifacts", region="us-east-1")


def test_api_upload_validation_works_without_ffmpeg(tmp_path: Path, bucket_settings: Settings) -> None:
    wav = _sine(tmp_path / "voice.wav", "-ar", "22050", "-ac", "1").read_bytes()
    mp3 = _sine(tmp_path / "music.mp3", "-ar", "44100", "-ac", "2", "-b:a", "128k").read_bytes()
    one_hz = wav_bytes(rate=1, channels=1, frames=48_000)
    # What the API function is deployed with: no ffmpeg layer, nothing named ffmpeg on PATH.
    with pytest.MonkeyPatch.context() as mp:
        empty = tmp_path / "bin"
        empty.mkdir()
        mp.setenv("FFMPEG_BINARY", str(tmp_path / "nowhere" / "ffmpeg"))
        mp.setenv("PATH", str(empty))
        ready_wav = store_upload(
            tenant_id="acme", category=AssetCategory.AUDIO, filename="voice.wav", data=wav, settings=bucket_settings
        )
        ready_mp3 = store_upload(
            tenant_id="acme", category=AssetCategory.AUDIO, filename="music.mp3", data=mp3, settings=bucket_settings
        )
        with pytest.raises(AssetRejectedError, match="sample rate of 1 Hz"):
            store_upload(
                tenant_id="acme", category=AssetCategory.AUDIO, filename="x.wav", data=one_hz, settings=bucket_settings
            )
        # The upload notification path runs the same check and reaches the same facts.
        pending, _form = create_presigned_upload(
            tenant_id="acme",
            category=AssetCategory.AUDIO,
            filename="music.mp3",
            content_type="audio/mpeg",
            settings=bucket_settings,
        )
        ArtifactStore.from_settings(bucket_settings).put_bytes(pending.key, mp3, "audio/mpeg")
        validated = validate_uploaded_object(pending.key, settings=bucket_settings)
    assert ready_wav.status is AssetStatus.READY and ready_mp3.status is AssetStatus.READY
    assert ready_wav.media is not None and ready_mp3.media is not None
    assert ready_wav.media.model_dump(exclude_none=True) == {
        "type": "wav",
        "duration_seconds": 1.5,
        "sample_rate": 22050,
        "channels": 1,
    }
    assert ready_mp3.media.model_dump(exclude_none=True) == {
        "type": "mp3",
        "duration_seconds": 1.5,
        "sample_rate": 44100,
        "channels": 2,
    }
    assert validated is not None and validated.status is AssetStatus.READY
    assert validated.media == ready_mp3.media


def test_rejections_never_name_temporary_files(tmp_path: Path, bucket_settings: Settings) -> None:
    noise = io.BytesIO()
    Image.effect_noise((400, 400), 60).convert("RGB").save(noise, format="JPEG")
    png = io.BytesIO()
    Image.new("RGB", (100, 100)).save(png, format="PNG")
    mp3 = _sine(tmp_path / "a.mp3", "-b:a", "128k").read_bytes()
    bad = [
        (AssetCategory.IMAGE, b"%PDF-1.7 not an image"),
        (AssetCategory.MASK, b"GIF89a not a png"),
        (AssetCategory.IMAGE, noise.getvalue()[: len(noise.getvalue()) // 2]),
        (AssetCategory.IMAGE, png.getvalue()[:60]),
        (AssetCategory.AUDIO, b"plain text"),
        (AssetCategory.AUDIO, mp3[: len(mp3) // 2]),
        (AssetCategory.AUDIO, wav_bytes(rate=44100, channels=2, data=10**6)),
    ]
    reasons = []
    for category, data in bad:
        with pytest.raises(AssetRejectedError) as api_path:
            store_upload(tenant_id="acme", category=category, filename="x", data=data, settings=bucket_settings)
        pending, _form = create_presigned_upload(
            tenant_id="acme",
            category=category,
            filename="x",
            content_type={"image": "image/png", "mask": "image/png", "audio": "audio/wav"}[category],
            settings=bucket_settings,
        )
        ArtifactStore.from_settings(bucket_settings).put_bytes(pending.key, data, "application/octet-stream")
        rejected = validate_uploaded_object(pending.key, settings=bucket_settings)
        assert rejected is not None and rejected.status is AssetStatus.REJECTED
        reasons += [str(api_path.value), rejected.reason or ""]
    for reason in reasons:
        assert reason and tempfile.gettempdir() not in reason and str(tmp_path) not in reason, reason
        assert "/" not in reason, reason


def test_text_renamed_mp3_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "song.mp3"
    path.write_text("this is not audio at all")
    with pytest.raises(AssetRejectedError, match="MP3 or WAV"):
        inspect_media(path, AssetCategory.AUDIO)


def test_empty_and_oversized_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(AssetRejectedError, match="empty"):
        inspect_media(empty, AssetCategory.IMAGE)
    big = tmp_path / "big.png"
    with big.open("wb") as handle:
        handle.truncate(20 * 1024 * 1024 + 1)
    with pytest.raises(AssetRejectedError, match="20MB"):
        inspect_media(big, AssetCategory.IMAGE)


def test_keys_and_filenames() -> None:
    assert safe_filename("../../etc/pass wd.png") == "pass_wd.png"
    assert safe_filename("") == "file"
    assert asset_id_from_key("uploads/" + "a" * 32 + "/x.png") == "a" * 32
    assert asset_id_from_key("jobs/x/output.mp4") is None
