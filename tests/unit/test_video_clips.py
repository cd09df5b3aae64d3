"""Video clips are validated by content: probed, bounded and decoded with ffmpeg; what is accepted and why not."""

from __future__ import annotations

import os
import tempfile
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from PIL import Image

from pytoon.assets import AssetRejectedError, check_upload, inspect_media
from pytoon.aws.assets import AssetRecord, AssetRepository, MediaFacts
from pytoon.config import Settings
from pytoon.limits import MAX_VIDEO_UPLOAD_BYTES
from pytoon.models import AssetCategory, AssetStatus
from pytoon.render.ffmpeg import run_ffmpeg
from pytoon.render.probe import MediaProbeError, decode_video, probe_video, sniff_video_container
from tests.media import decode_frames, make_test_clip

VIDEO = AssetCategory.VIDEO


@pytest.mark.parametrize(
    ("name", "codec", "has_audio"),
    [("clip.mp4", "h264", True), ("clip.mov", "h264", False), ("clip.webm", "vp9", True)],
)
def test_each_container_is_accepted_with_its_facts(tmp_path: Path, name: str, codec: str, has_audio: bool) -> None:
    clip = make_test_clip(tmp_path / name, seconds=1.5, fps=24, size=(320, 180), audio=has_audio)
    facts = inspect_media(clip, VIDEO)
    assert facts.model_dump(exclude_none=True) == {
        "type": name.rsplit(".", 1)[1],
        "codec": codec,
        "width": 320,
        "height": 180,
        "duration_seconds": pytest.approx(1.5, abs=0.03),
        "fps": 24.0,
        "has_audio": has_audio,
    }


def test_the_clip_helper_shows_its_colours_in_order(tmp_path: Path) -> None:
    colours = [(250, 20, 20), (20, 250, 20), (20, 20, 250), (240, 240, 240)]
    clip = make_test_clip(tmp_path / "c.mp4", seconds=0.4, fps=10, size=(64, 48), colours=colours)
    frames = decode_frames(clip)
    assert len(frames) == 4
    for number, colour in enumerate(colours):
        assert abs(frames[number][24, 32].astype(int) - colour).max() <= 6, number


def test_a_rotated_clip_reports_its_displayed_size(tmp_path: Path) -> None:
    clip = make_test_clip(tmp_path / "wide.mp4", seconds=0.5, fps=10, size=(320, 180))
    turned = tmp_path / "turned.mp4"
    run_ffmpeg(["-display_rotation", "90", "-i", str(clip), "-c", "copy", "-y", str(turned)], timeout=30)
    facts = probe_video(turned)
    assert (facts.rotation, facts.width, facts.height) == (90, 180, 320)


@pytest.mark.parametrize(
    ("seconds", "size", "fps", "reason"),
    [
        (65, (64, 64), 2, "Video is 65.00 s long; the limit is 60 s"),
        (0.4, (5000, 64), 5, "Video dimensions exceed 4096px limit: 5000x64"),
        (0.4, (64, 4200), 5, "Video dimensions exceed 4096px limit: 64x4200"),
    ],
)
def test_clips_over_the_bounds_are_refused(
    tmp_path: Path, seconds: float, size: tuple[int, int], fps: int, reason: str
) -> None:
    clip = make_test_clip(tmp_path / "big.mp4", seconds=seconds, fps=fps, size=size)
    with pytest.raises(AssetRejectedError, match=reason):
        inspect_media(clip, VIDEO)


def test_a_truncated_clip_is_refused(tmp_path: Path) -> None:
    # Index first (faststart): the cut copy opens and its first frames decode; the rest of its frames are gone.
    clip = make_test_clip(tmp_path / "c.mp4", seconds=3, fps=30, size=(320, 240))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size * 2 // 3])
    assert probe_video(cut).duration_seconds == pytest.approx(3.0)
    with pytest.raises(AssetRejectedError, match=r"Video could not be decoded \(truncated or corrupt\)"):
        inspect_media(cut, VIDEO)


def test_a_clip_cut_before_its_index_is_refused(tmp_path: Path) -> None:
    clip = tmp_path / "tail_index.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2", "-c:v", "libx264", "-y", str(clip)],
        timeout=60,
    )
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    with pytest.raises(AssetRejectedError, match="Not an MP4, MOV or WebM video: the mp4 container cannot be read"):
        inspect_media(cut, VIDEO)


def test_a_truncated_webm_is_refused(tmp_path: Path) -> None:
    clip = make_test_clip(tmp_path / "c.webm", seconds=2, fps=30, size=(320, 240))
    cut = tmp_path / "cut.webm"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    with pytest.raises(AssetRejectedError, match="truncated or corrupt"):
        inspect_media(cut, VIDEO)


def test_a_png_named_mp4_and_random_bytes_are_not_videos(tmp_path: Path) -> None:
    png = tmp_path / "photo.mp4"
    Image.new("RGB", (64, 64), "red").save(png, format="PNG")
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(os.urandom(50_000))
    for path in (png, noise):
        with pytest.raises(AssetRejectedError, match="Not an MP4, MOV or WebM video: the content is not an MP4"):
            inspect_media(path, VIDEO)


def test_matroska_and_still_images_in_video_containers_are_refused(tmp_path: Path) -> None:
    mkv = tmp_path / "clip.webm"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10:duration=0.5", "-c:v", "libx264", "-f", "matroska",
         "-y", str(mkv)],
        timeout=60,
    )  # fmt: skip
    with pytest.raises(AssetRejectedError, match=r"Matroska \(MKV\)"):
        inspect_media(mkv, VIDEO)
    with pytest.raises(MediaProbeError, match="HEIF/AVIF still image"):
        sniff_video_container(b"\0\0\0\x1cftypheic\0\0\0\0mif1heic")


@pytest.mark.parametrize(
    ("head", "container"),
    [
        (b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41", "mp4"),
        (b"\0\0\0\x14ftypqt  \0\0\x02\0qt  ", "mov"),
        (b"\0\0\0\x08wide\0\x01\x18emdat", "mov"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm\x42\x87", "webm"),
    ],
)
def test_containers_are_told_apart_by_their_first_bytes(head: bytes, container: str) -> None:
    assert sniff_video_container(head) == container


def test_a_codec_outside_the_accepted_list_is_refused(tmp_path: Path) -> None:
    clip = tmp_path / "mjpeg.mov"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10:duration=0.5", "-c:v", "mjpeg", "-y", str(clip)],
        timeout=60,
    )
    with pytest.raises(AssetRejectedError, match="Video codec 'mjpeg' is not accepted"):
        inspect_media(clip, VIDEO)


def test_a_decode_over_its_time_bound_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = make_test_clip(tmp_path / "c.mp4", seconds=1, fps=30)
    monkeypatch.setattr("pytoon.assets.VIDEO_DECODE_TIMEOUT_SECONDS", 0.001)
    with pytest.raises(AssetRejectedError, match="decoding took longer than 0.001 s"):
        inspect_media(clip, VIDEO)


def test_decoding_counts_every_frame(tmp_path: Path) -> None:
    clip = make_test_clip(tmp_path / "c.webm", seconds=2, fps=15)
    decoded = decode_video(clip, "webm", max_seconds=60, timeout=60)
    assert (decoded.frames, decoded.seconds) == (30, pytest.approx(2.0, abs=0.07))


def test_a_file_over_the_video_size_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.mp4"
    with big.open("wb") as handle:
        handle.truncate(MAX_VIDEO_UPLOAD_BYTES + 1)
    with pytest.raises(AssetRejectedError, match="200MB"):
        inspect_media(big, VIDEO)


def test_inline_uploads_of_video_point_to_the_presigned_flow(tmp_path: Path) -> None:
    clip = make_test_clip(tmp_path / "c.mp4", seconds=0.5, fps=10)
    with pytest.raises(AssetRejectedError, match="POST /api/v1/assets/uploads") as refused:
        check_upload(category=VIDEO, filename="c.mp4", data=clip.read_bytes())
    assert "200MB" in str(refused.value)


def test_reasons_never_name_temporary_files(tmp_path: Path) -> None:
    clip = make_test_clip(tmp_path / "c.mp4", seconds=2, fps=30)
    with tempfile.TemporaryDirectory() as scratch:
        cut = Path(scratch) / "upload"
        cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
        with pytest.raises(AssetRejectedError) as refused:
            inspect_media(cut, VIDEO)
    assert "Invalid NAL unit size" in str(refused.value)  # ffmpeg's first error: the cause, not its aftermath
    assert tempfile.gettempdir() not in str(refused.value) and scratch not in str(refused.value)


def test_clip_facts_survive_the_table(moto_table: str) -> None:
    settings = Settings(table_name=moto_table, bucket_name="pytoon-artifacts", region="us-east-1")
    repo = AssetRepository.from_settings(settings)
    facts = MediaFacts(type="mov", codec="hevc", width=1080, height=1920, duration_seconds=12.345, fps=29.97)
    record = AssetRecord(
        asset_id="a" * 32,
        tenant_id="acme",
        key="uploads/" + "a" * 32 + "/clip.mov",
        category=VIDEO,
        status=AssetStatus.READY,
        media=facts.model_copy(update={"has_audio": True}),
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )
    repo.put(record)
    assert repo.get(record.asset_id) == record
    item = (
        boto3.resource("dynamodb", region_name="us-east-1")
        .Table(moto_table)
        .get_item(Key={"PK": f"ASSET#{record.asset_id}", "SK": "META"})["Item"]
    )
    assert item["media"]["fps"] == Decimal("29.97") and item["media"]["codec"] == "hevc"
