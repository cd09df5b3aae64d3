from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pytoon.render.ffmpeg import run_ffmpeg, segment_encoder_args
from pytoon.render.probe import (
    MediaProbeError,
    count_video_frames,
    measure_loudness,
    parse_audio_stream,
    parse_ebur128_summary,
    parse_probe_output,
    parse_video_stream,
    probe_media,
)
from tests.media import tone

MP4_OUTPUT = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/tmp/out.mp4':
  Metadata:
    major_brand     : isom
    encoder         : Lavf61.1.100
  Duration: 00:00:06.00, start: 0.000000, bitrate: 524 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), \
1080x1920, 321 kb/s, 30 fps, 30 tbr, 15360 tbn (default)
      Metadata:
        handler_name    : VideoHandler
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 192 kb/s (default)
At least one output file must be specified
"""


def test_parses_an_mp4_with_video_and_audio() -> None:
    info = parse_probe_output(MP4_OUTPUT, size_bytes=1234)
    assert info is not None
    assert (info.duration_seconds, info.bit_rate, info.size_bytes) == (6.0, 524_000, 1234)
    assert info.format_name == "mov,mp4,m4a,3gp,3g2,mj2"
    video = info.video
    assert video is not None
    assert (video.codec, video.profile, video.width, video.height) == ("h264", "High", 1080, 1920)
    assert (video.pix_fmt, video.fps, video.color_range) == ("yuv420p", 30.0, "tv")
    assert (video.color_space, video.color_primaries, video.color_transfer) == ("bt709", "bt709", "bt709")
    assert info.audio is not None
    assert info.audio.model_dump() == {"codec": "aac", "profile": "LC", "sample_rate": 48000, "channels": 2}


@pytest.mark.parametrize(
    ("desc", "expected"),
    [
        (
            "mjpeg (Baseline), yuvj420p(pc, bt470bg/unknown/unknown), 1300x2300 [SAR 1:1 DAR 13:23], 25 tbr, 25 tbn",
            {"codec": "mjpeg", "profile": "Baseline", "pix_fmt": "yuvj420p", "color_range": "pc",
             "color_space": "bt470bg", "color_primaries": None, "sar": "1:1", "fps": 25.0, "width": 1300},
        ),
        (
            "png, rgba(pc), 600x900, 25 fps, 25 tbr, 25 tbn",
            {"codec": "png", "profile": None, "pix_fmt": "rgba", "color_range": "pc", "width": 600, "height": 900},
        ),
        (
            "h264 (Constrained Baseline) (avc1 / 0x31637661), yuv420p(progressive), 720x1280, 29.97 fps, 1k tbn",
            {"profile": "Constrained Baseline", "pix_fmt": "yuv420p", "color_range": None, "fps": 29.97},
        ),
        (
            "hevc (Main 10) (hvc1 / 0x31637668), yuv420p10le(tv, bt2020nc/bt2020/smpte2084), 3840x2160, 60 fps",
            {"codec": "hevc", "profile": "Main 10", "pix_fmt": "yuv420p10le", "color_space": "bt2020nc",
             "color_primaries": "bt2020", "color_transfer": "smpte2084", "width": 3840},
        ),
    ],
)  # fmt: skip
def test_parses_video_stream_descriptions(desc: str, expected: dict[str, object]) -> None:
    info = parse_video_stream(desc).model_dump()
    assert {key: info[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("desc", "expected"),
    [
        ("mp3 (mp3float), 44100 Hz, stereo, fltp, 128 kb/s", ("mp3", None, 44100, 2)),
        ("pcm_s16le ([1][0][0][0] / 0x0001), 24000 Hz, mono, s16, 384 kb/s", ("pcm_s16le", None, 24000, 1)),
        ("aac (HE-AAC) (mp4a / 0x6134706D), 44100 Hz, 5.1(side), fltp, 96 kb/s", ("aac", "HE-AAC", 44100, 6)),
        ("opus, 48000 Hz, 3 channels, fltp", ("opus", None, 48000, 3)),
    ],
)
def test_parses_audio_stream_descriptions(desc: str, expected: tuple[object, ...]) -> None:
    info = parse_audio_stream(desc)
    assert (info.codec, info.profile, info.sample_rate, info.channels) == expected


def test_cover_art_is_not_the_video_and_missing_duration_is_none() -> None:
    stderr = """Input #0, mp3, from 'song.mp3':
  Duration: N/A, bitrate: N/A
  Stream #0:0: Audio: mp3 (mp3float), 44100 Hz, stereo, fltp, 320 kb/s
  Stream #0:1: Video: mjpeg (Baseline), yuvj420p(pc, bt470bg/unknown/unknown), 500x500, 90k tbr (attached pic)
"""
    info = parse_probe_output(stderr, size_bytes=1)
    assert info is not None
    assert info.video is None and info.audio is not None
    assert info.duration_seconds is None and info.bit_rate is None


def test_unopenable_input_parses_to_none() -> None:
    stderr = "[in#0 @ 0x1] Error opening input: Invalid data found when processing input\n"
    assert parse_probe_output(stderr, size_bytes=10) is None


def test_probes_real_files(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "color=c=0x5a78c8:s=1080x1920:r=30:d=0.1", *segment_encoder_args(), str(video)],
        timeout=60,
    )
    info = probe_media(video)
    assert info.video is not None and info.audio is None
    assert (info.video.codec, info.video.profile, info.video.pix_fmt) == ("h264", "High", "yuv420p")
    assert (info.video.width, info.video.height, info.video.fps) == (1080, 1920, 30.0)
    assert info.video.color_space == info.video.color_primaries == info.video.color_transfer == "bt709"
    assert info.duration_seconds == pytest.approx(0.1, abs=0.011)
    assert info.size_bytes == video.stat().st_size
    assert count_video_frames(video) == 3

    mp3 = probe_media(tone(tmp_path / "a.mp3", "sine=f=440", 1.0))
    assert mp3.audio is not None and mp3.video is None
    assert (mp3.audio.codec, mp3.audio.sample_rate, mp3.audio.channels) == ("mp3", 44100, 2)
    assert mp3.format_name == "mp3"

    image = tmp_path / "p.png"
    Image.new("RGBA", (64, 48)).save(image)
    png = probe_media(image)
    assert png.video is not None and (png.video.codec, png.video.width, png.video.height) == ("png", 64, 48)


def test_unreadable_and_missing_files_raise_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "junk.mp4"
    garbage.write_bytes(b"this is not a video" * 10)
    with pytest.raises(MediaProbeError, match="junk.mp4.*Invalid data") as raised:
        probe_media(garbage)
    # ffmpeg names the input by its absolute path; the reason names the file only.
    assert str(tmp_path) not in str(raised.value) and "file:" not in str(raised.value)
    with pytest.raises(MediaProbeError, match="no such file"):
        probe_media(tmp_path / "absent.mp4")


def test_measures_loudness_and_true_peak(tmp_path: Path) -> None:
    # EBU Tech 3341 case 1: a stereo 1 kHz sine at -23 dBFS reads -23.0 LUFS; its true peak is -23 dBTP.
    wave = "0.0707946*sin(2*PI*1000*t)"
    sine = tone(tmp_path / "s.wav", f"aevalsrc='{wave}|{wave}':s=48000", 3.0, rate=48000)
    loudness = measure_loudness(sine)
    assert loudness.integrated_lufs == pytest.approx(-23.0, abs=0.2)
    assert loudness.true_peak_dbtp == pytest.approx(-23.0, abs=0.3)

    silence = tone(tmp_path / "q.wav", "anullsrc=r=48000:cl=stereo", 1.0, rate=48000)
    assert measure_loudness(silence).model_dump() == {"integrated_lufs": None, "true_peak_dbtp": None}


def test_ebur128_summary_parsing() -> None:
    stderr = """[Parsed_ebur128_0 @ 0x5] Summary:

  Integrated loudness:
    I:         -14.2 LUFS
    Threshold: -24.6 LUFS

  Loudness range:
    LRA:         3.1 LU

  True peak:
    Peak:       -1.3 dBFS
"""
    assert parse_ebur128_summary(stderr).model_dump() == {"integrated_lufs": -14.2, "true_peak_dbtp": -1.3}
    with pytest.raises(MediaProbeError):
        parse_ebur128_summary("no summary here")
