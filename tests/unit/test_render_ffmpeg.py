from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from pytoon.render import ffmpeg
from pytoon.render.ffmpeg import FfmpegError, media_input, run_ffmpeg, segment_encoder_args


def fake_ffmpeg(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-ffmpeg"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_binary_comes_from_env_then_imageio_then_the_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFMPEG_BINARY", "/custom/ffmpeg")
    assert ffmpeg.ffmpeg_exe() == "/custom/ffmpeg"
    monkeypatch.delenv("FFMPEG_BINARY")
    assert Path(ffmpeg.ffmpeg_exe()).name.startswith("ffmpeg")
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    assert ffmpeg.ffmpeg_exe() == "/opt/bin/ffmpeg"


def test_version_is_the_build_number() -> None:
    assert re.match(r"^\d+\.\d+", ffmpeg.ffmpeg_version())


def test_errors_are_short_and_never_quote_the_command(tmp_path: Path) -> None:
    with pytest.raises(FfmpegError) as caught:
        run_ffmpeg([*media_input(tmp_path / "missing.mp4"), "-f", "null", "-"], timeout=30, label="probe step")
    message = str(caught.value)
    assert message.startswith("probe step failed (exit ")
    assert "Error opening input: No such file or directory" in message
    assert "-protocol_whitelist" not in message and "-hide_banner" not in message
    assert len(message) < 600


def test_missing_binary_and_timeouts_are_ffmpeg_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFMPEG_BINARY", str(tmp_path / "nope"))
    with pytest.raises(FfmpegError, match="cannot start"):
        run_ffmpeg(["-version"], timeout=5)
    monkeypatch.setenv("FFMPEG_BINARY", fake_ffmpeg(tmp_path, "sleep 10"))
    with pytest.raises(FfmpegError, match="timed out after 0.3 s"):
        run_ffmpeg(["-version"], timeout=0.3)


def test_inputs_cannot_reach_the_network(tmp_path: Path) -> None:
    # A concat list (like any playlist) may name URLs; the whitelist stops ffmpeg from opening them.
    listing = tmp_path / "list.txt"
    listing.write_text("file 'http://127.0.0.1:9/clip.mp4'\n")
    with pytest.raises(FfmpegError, match=r"\[http\] Protocol 'http' not on whitelist 'file,pipe'"):
        run_ffmpeg(["-f", "concat", "-safe", "0", *media_input(listing), "-f", "null", "-"], timeout=30)


def test_segment_encoder_settings_are_fixed() -> None:
    args = segment_encoder_args()
    pairs = {flag: args[i + 1] for i, flag in enumerate(args[:-1]) if flag.startswith("-")}
    expected = {
        "-c:v": "libx264", "-profile:v": "high", "-pix_fmt": "yuv420p", "-r": "30",
        "-colorspace": "bt709", "-color_primaries": "bt709", "-color_trc": "bt709",
        "-video_track_timescale": "15360", "-maxrate": "12M", "-bufsize": "12M", "-bf": "0",
    }  # fmt: skip
    assert {key: pairs.get(key) for key in expected} == expected
    assert "out_color_matrix=bt709" in pairs["-vf"] and "out_range=tv" in pairs["-vf"]
    assert "-an" in args
    assert args == segment_encoder_args()
