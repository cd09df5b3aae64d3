"""The one place that locates, runs and configures ffmpeg.

Every ffmpeg call goes through `run_ffmpeg` (or `FrameEncoder` for piped frames), so the security and
hygiene flags are applied everywhere: no banner, no interactive stdin, inputs restricted to local files and
pipes (an input name can never make ffmpeg open a network connection).
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path

from pytoon.models import FPS

FALLBACK_FFMPEG = "/opt/bin/ffmpeg"

# x264 settings shared by every segment. Segments are joined by stream copy, which only works when each
# file has the same SPS/PPS (the MP4 muxer keeps the first file's avcC), timebase and frame rate.
X264_PRESET = "veryfast"
X264_CRF = 20
MAX_RATE = "12M"
KEYINT_FRAMES = 2 * FPS
# RGB -> YUV with the BT.709 matrix in limited range, as every segment's stream is tagged.
BT709_TV = "out_color_matrix=bt709:out_range=tv"
# 30 fps -> 512 ticks per frame: every frame boundary is an exact integer timestamp.
VIDEO_TIMESCALE = 15360

# Lines that carry no information of their own: progress, and the generic trailers ffmpeg prints after
# the real error ("Error opening input files: Invalid argument", "Conversion failed!").
_NOISE_RE = re.compile(
    r"^(frame=|size=|video:|Press \[q\]|Error opening (input|output) files?|Conversion failed"
    r"|.*(Task finished with error code|Terminating thread with return code|Nothing was written into output))"
)
_ADDRESS_RE = re.compile(r" @ 0x[0-9a-f]+\]")
# An absolute path (with or without the `file:` prefix) is shortened to its file name: messages reach users
# as upload and job failure reasons, and scratch-directory layout is nobody's business.
_PATH_RE = re.compile(r"(?<![\w.])(?:file:)?/(?:[^\s/:'\"]+/)+([^\s/:'\"]+)")


class FfmpegError(RuntimeError):
    """An ffmpeg run failed. The message names the step and quotes ffmpeg's own last words."""

    def __init__(self, label: str, detail: str, returncode: int | None = None) -> None:
        status = f"exit {returncode}" if returncode is not None else "not finished"
        super().__init__(f"{label} failed ({status}): {detail}" if detail else f"{label} failed ({status})")
        self.label = label
        self.returncode = returncode


def ffmpeg_exe() -> str:
    """FFMPEG_BINARY if set, else the pinned imageio-ffmpeg static binary, else the Lambda layer's copy."""
    configured = os.environ.get("FFMPEG_BINARY")
    if configured:
        return configured
    try:
        import imageio_ffmpeg
    except ImportError:
        return FALLBACK_FFMPEG
    return imageio_ffmpeg.get_ffmpeg_exe()


def media_input(path: Path | str, *options: str) -> list[str]:
    """`-i` for a local file, with per-input options. The `file:` prefix stops a name like `a:b.mp4` from
    being read as a protocol; the whitelist stops nested opens (concat lists, playlists) from reaching the
    network."""
    return [*options, "-protocol_whitelist", "file,pipe", "-i", f"file:{Path(path).absolute()}"]


def output_target(path: Path | str) -> str:
    return f"file:{Path(path).absolute()}"


def last_error_lines(stderr: str | bytes, limit: int = 3) -> str:
    """The last few stderr lines that say something, without progress lines, generic trailers, the
    memory addresses in "[component @ 0x...]" prefixes and the directories of file paths."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    lines = [_PATH_RE.sub(r"\1", _ADDRESS_RE.sub("]", line.strip())) for line in text.replace("\r", "\n").splitlines()]
    meaningful = [line[:300] for line in lines if line and not _NOISE_RE.match(line)]
    return " | ".join(meaningful[-limit:])


def _command(args: list[str], loglevel: str) -> list[str]:
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", loglevel, *args]


def run_ffmpeg(
    args: list[str],
    *,
    timeout: float,
    input: bytes | None = None,
    check: bool = True,
    loglevel: str = "error",
    label: str = "ffmpeg",
) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg to completion. `check=False` for calls where a non-zero exit is expected (probing)."""
    command = _command(args, loglevel)
    try:
        result = subprocess.run(command, input=input, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        detail = f"timed out after {timeout:g} s; {last_error_lines(exc.stderr or b'')}"
        raise FfmpegError(label, detail) from None
    except OSError as exc:
        raise FfmpegError(label, f"cannot start {command[0]}: {exc.strerror}") from None
    if check and result.returncode != 0:
        raise FfmpegError(label, last_error_lines(result.stderr), result.returncode)
    return result


def segment_encoder_args() -> list[str]:
    """Output options for every segment: identical headers so segments join by stream copy."""
    # fmt: off
    return [
        "-an",
        "-map_metadata", "-1",
        # RGB -> YUV with the BT.709 matrix in limited range, then tag the stream to say so.
        "-vf", rgb_to_yuv(),
        "-pix_fmt", "yuv420p",
        "-color_range", "tv",
        "-color_primaries", "bt709",
        "-color_trc", "bt709",
        "-colorspace", "bt709",
        "-c:v", "libx264",
        "-preset", X264_PRESET,
        "-crf", str(X264_CRF),
        "-maxrate", MAX_RATE,
        "-bufsize", MAX_RATE,
        "-profile:v", "high",
        # Explicit level: x264 would otherwise derive it per encode; 4.0 covers 1080x1920 at 30 fps.
        "-level:v", "4.0",
        "-g", str(KEYINT_FRAMES),
        # No B-frames. With them x264 delays decoding timestamps by 2 frames, but only in segments of 3+
        # frames (its delay is measured from the first frames); a 1-2 frame segment starts at dts 0. The
        # concat demuxer then sees dts going backwards at the join and the muxer "fixes" it by rewriting
        # durations: wrong frame rate and duration (see test_segments_join_by_stream_copy...). With P-frames
        # only, dts == pts in every segment, there is no edit list, and x264 also spends ~20% less CPU
        # (files grow ~20% for product shots, more for grainy images; far under the 12 Mb/s cap anyway).
        "-bf", "0",
        # stitchable: headers never depend on content, so every segment's SPS/PPS are byte-identical.
        # open-gop=0: each segment opens with an IDR and no frame references another file.
        # subme=1 (veryfast uses 2): 15-25% less x264 CPU on Ken Burns footage for 3-4% more bytes.
        "-x264-params", "open-gop=0:stitchable=1:subme=1",
        "-r", str(FPS),
        "-fps_mode", "cfr",
        "-video_track_timescale", str(VIDEO_TIMESCALE),
        "-f", "mp4",
    ]
    # fmt: on


def rgb_to_yuv(pix_fmt: str = "yuv420p") -> str:
    """Filters converting RGB (or RGBA, to a YUVA format) to `pix_fmt` with the segments' BT.709 matrix."""
    return f"scale={BT709_TV},format={pix_fmt}"


def filtered_segment_args() -> list[str]:
    """`segment_encoder_args()` for a stream that leaves a -filter_complex graph already converted with
    `rgb_to_yuv()`: the same options without -vf, which a filtered stream cannot take."""
    args = segment_encoder_args()
    at = args.index("-vf")
    return args[:at] + args[at + 2 :]


@functools.cache
def ffmpeg_version() -> str:
    """The ffmpeg build in use, e.g. "7.0.2-static" (recorded in every job's metadata)."""
    first_line = run_ffmpeg(["-version"], timeout=30, label="ffmpeg -version").stdout.decode().split("\n", 1)[0]
    return first_line.split(" ")[2] if first_line.startswith("ffmpeg version ") else first_line
