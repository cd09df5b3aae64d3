"""Uploads are validated by content: what is accepted, and the reason given for what is not."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from pytoon.assets import AssetCategory, AssetRejectedError, asset_id_from_key, inspect_media, safe_filename
from pytoon.render.ffmpeg import run_ffmpeg


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


def test_audio_is_decoded(tmp_path: Path) -> None:
    wav, mp3 = tmp_path / "a.wav", tmp_path / "a.mp3"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=1.5", str(wav)], timeout=30)
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=1.5", str(mp3)], timeout=30)
    assert inspect_media(wav, AssetCategory.AUDIO).type == "wav"
    facts = inspect_media(mp3, AssetCategory.AUDIO)
    assert facts.type == "mp3" and facts.duration_seconds == pytest.approx(1.5, abs=0.1)


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
