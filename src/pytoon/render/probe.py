"""What a media file contains, read from ffmpeg itself (the bundled static build ships no ffprobe).

`ffmpeg -i FILE` with no output prints the input description and exits with status 1; that description
is stable across ffmpeg versions and is parsed here with small, separately tested regexes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from pytoon.render.ffmpeg import FfmpegError, last_error_lines, media_input, run_ffmpeg

PROBE_TIMEOUT_S = 30.0
SCAN_TIMEOUT_S = 120.0
# ebur128 reports -70 LUFS (its absolute gate) for silence: nothing measurable.
SILENCE_LUFS = -70.0


class MediaProbeError(RuntimeError):
    pass


class _Facts(BaseModel):
    model_config = ConfigDict(frozen=True)


class VideoInfo(_Facts):
    codec: str
    profile: str | None = None
    width: int
    height: int
    pix_fmt: str | None = None
    fps: float | None = None
    color_range: str | None = None
    color_space: str | None = None
    color_primaries: str | None = None
    color_transfer: str | None = None
    sar: str | None = None


class AudioInfo(_Facts):
    codec: str
    profile: str | None = None
    sample_rate: int
    channels: int


class MediaInfo(_Facts):
    # The container duration as ffmpeg prints it: 10 ms resolution (count frames for exact lengths).
    duration_seconds: float | None
    size_bytes: int
    bit_rate: int | None
    format_name: str
    video: VideoInfo | None = None
    audio: AudioInfo | None = None


class Loudness(_Facts):
    """EBU R128 figures; None when there is nothing to measure (silence)."""

    integrated_lufs: float | None
    true_peak_dbtp: float | None


_INPUT_RE = re.compile(r"^Input #0, (?P<format>.+?), from '", re.M)
_DURATION_RE = re.compile(
    r"^\s*Duration: (?:(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?)|N/A)"
    r"(?:, start: [-\d.]+)?, bitrate: (?:(?P<kbps>\d+) kb/s|N/A)",
    re.M,
)
_STREAM_RE = re.compile(r"^\s*Stream #0:\d+\S*: (?P<kind>Video|Audio): (?P<desc>.*)$", re.M)
_PAREN_GROUP_RE = re.compile(r" \(([^()]*)\)")
_SIZE_RE = re.compile(r"(?<![\w.])(\d{2,5})x(\d{2,5})\b")
_SAR_RE = re.compile(r"\[SAR (\d+:\d+) DAR \d+:\d+\]")
_FPS_RE = re.compile(r"(\d+(?:\.\d+)?)(k?) (fps|tbr)\b")
_PIX_FMT_RE = re.compile(r"^(?P<fmt>[a-z][a-z0-9_]*)(?:\((?P<details>[^)]*)\))?$")
_SAMPLE_RATE_RE = re.compile(r"(\d+) Hz")
_CHANNELS_RE = re.compile(r"(\d+) channels")
_LAYOUT_CHANNELS = {
    "mono": 1,
    "stereo": 2,
    "2.1": 3,
    "3.0": 3,
    "quad": 4,
    "4.0": 4,
    "5.0": 5,
    "5.1": 6,
    "6.1": 7,
    "7.1": 8,
}
_FIELD_ORDERS = ("progressive", "top first", "bottom first", "top coded first", "bottom coded first")
_EBUR128_I_RE = re.compile(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf) LUFS", re.S)
_EBUR128_PEAK_RE = re.compile(r"True peak:\s*Peak:\s*(-?[\d.]+|-inf) dBFS", re.S)


def probe_media(path: Path) -> MediaInfo:
    path = Path(path)
    if not path.is_file():
        raise MediaProbeError(f"Cannot probe {path.name}: no such file")
    result = run_ffmpeg(media_input(path), timeout=PROBE_TIMEOUT_S, check=False, loglevel="info", label="probe")
    stderr = result.stderr.decode("utf-8", "replace")
    info = parse_probe_output(stderr, size_bytes=path.stat().st_size)
    if info is None:
        raise MediaProbeError(f"Cannot read {path.name} as media: {last_error_lines(stderr, limit=1)}")
    return info


def parse_probe_output(stderr: str, *, size_bytes: int) -> MediaInfo | None:
    """The MediaInfo described by `ffmpeg -i` output, or None when ffmpeg could not open the input."""
    header = _INPUT_RE.search(stderr)
    if header is None:
        return None
    duration, bit_rate = _parse_duration_line(stderr)
    video: VideoInfo | None = None
    audio: AudioInfo | None = None
    for match in _STREAM_RE.finditer(stderr):
        desc = match["desc"]
        if match["kind"] == "Video" and video is None and "(attached pic)" not in desc:
            video = parse_video_stream(desc)
        elif match["kind"] == "Audio" and audio is None:
            audio = parse_audio_stream(desc)
    return MediaInfo(
        duration_seconds=duration,
        size_bytes=size_bytes,
        bit_rate=bit_rate,
        format_name=header["format"],
        video=video,
        audio=audio,
    )


def _parse_duration_line(stderr: str) -> tuple[float | None, int | None]:
    match = _DURATION_RE.search(stderr)
    if match is None:
        return None, None
    duration = None
    if match["h"] is not None:
        duration = int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])
    bit_rate = int(match["kbps"]) * 1000 if match["kbps"] else None
    return duration, bit_rate


def _split_top_level(desc: str) -> list[str]:
    """Split a stream description on ', ' that are not inside parentheses or brackets."""
    parts: list[str] = []
    depth = 0
    current = ""
    for i, char in enumerate(desc):
        depth += char in "(["
        depth -= char in ")]"
        if char == "," and depth == 0 and desc[i + 1 : i + 2] == " ":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def _codec_and_profile(codec_part: str) -> tuple[str, str | None]:
    """'h264 (High) (avc1 / 0x31637661)' -> ('h264', 'High'); 'mp3 (mp3float)' -> ('mp3', None).

    ffmpeg prints the codec, then the decoder name if it differs, then the profile, then the codec tag.
    A decoder name is a lower-case identifier; profiles are words like 'High', 'LC', 'Main 10'.
    """
    codec = codec_part.split(" ", 1)[0]
    groups = [g for g in _PAREN_GROUP_RE.findall(codec_part) if " / 0x" not in g]
    if len(groups) >= 2:
        return codec, groups[1]
    if groups and not re.fullmatch(r"[a-z0-9_]+", groups[0]):
        return codec, groups[0]
    return codec, None


def parse_video_stream(desc: str) -> VideoInfo:
    parts = _split_top_level(desc)
    codec, profile = _codec_and_profile(parts[0])
    width = height = 0
    sar = fps = None
    pix_fmt = None
    colour: dict[str, str | None] = {}
    if len(parts) > 1 and (pix := _PIX_FMT_RE.match(parts[1])) and not _SIZE_RE.match(parts[1]):
        pix_fmt = pix["fmt"]
        colour = _parse_colour_details(pix["details"] or "")
    for part in parts[1:]:
        size = _SIZE_RE.match(part)
        if size and not width:
            width, height = int(size[1]), int(size[2])
            sar_match = _SAR_RE.search(part)
            sar = sar_match[1] if sar_match else None
        elif (fps_match := _FPS_RE.fullmatch(part)) and (fps is None or fps_match[3] == "fps"):
            fps = float(fps_match[1]) * (1000 if fps_match[2] else 1)
    return VideoInfo(
        codec=codec, profile=profile, width=width, height=height, pix_fmt=pix_fmt, fps=fps, sar=sar, **colour
    )


def _parse_colour_details(details: str) -> dict[str, str | None]:
    """'tv, bt709, progressive' or 'pc, bt470bg/unknown/unknown' -> range, space, primaries, transfer."""
    colour: dict[str, str | None] = {}
    for token in (t.strip() for t in details.split(",")):
        if token in ("tv", "pc"):
            colour["color_range"] = token
        elif token.startswith(_FIELD_ORDERS) or not token:
            continue
        elif "/" in token:
            space, primaries, transfer = (None if v == "unknown" else v for v in token.split("/"))
            colour.update(color_space=space, color_primaries=primaries, color_transfer=transfer)
        else:
            colour.update(color_space=token, color_primaries=token, color_transfer=token)
    return colour


def parse_audio_stream(desc: str) -> AudioInfo:
    parts = _split_top_level(desc)
    codec, profile = _codec_and_profile(parts[0])
    sample_rate = channels = 0
    for part in parts[1:]:
        if rate := _SAMPLE_RATE_RE.fullmatch(part):
            sample_rate = int(rate[1])
        elif count := _CHANNELS_RE.fullmatch(part):
            channels = int(count[1])
        elif not channels and (layout := part.split("(", 1)[0]) in _LAYOUT_CHANNELS:
            channels = _LAYOUT_CHANNELS[layout]
    return AudioInfo(codec=codec, profile=profile, sample_rate=sample_rate, channels=channels)


def count_video_frames(path: Path) -> int:
    """Frames in the first video stream, counted as packets without decoding (the framecrc muxer prints
    one line per packet; the H.264 files this service writes carry one frame per packet)."""
    result = run_ffmpeg(
        [*media_input(path), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "pipe:1"],
        timeout=SCAN_TIMEOUT_S,
        label="frame count",
    )
    lines = result.stdout.decode("ascii", "replace").splitlines()
    return sum(1 for line in lines if line and not line.startswith("#"))


def measure_loudness(path: Path) -> Loudness:
    """Integrated loudness and true peak of the first audio stream (EBU R128, ffmpeg's ebur128)."""
    result = run_ffmpeg(
        [*media_input(path), "-map", "0:a:0", "-af", "ebur128=peak=true:framelog=quiet", "-f", "null", "-"],
        timeout=SCAN_TIMEOUT_S,
        loglevel="info",
        label="loudness scan",
    )
    return parse_ebur128_summary(result.stderr.decode("utf-8", "replace"))


def parse_ebur128_summary(stderr: str) -> Loudness:
    summary = stderr[stderr.rfind("Summary:") :]
    integrated = _EBUR128_I_RE.search(summary)
    peak = _EBUR128_PEAK_RE.search(summary)
    if "Summary:" not in stderr or integrated is None or peak is None:
        raise MediaProbeError(f"No loudness summary in ebur128 output: {last_error_lines(stderr, limit=1)}")
    lufs = _finite(integrated[1])
    return Loudness(
        integrated_lufs=None if lufs is None or lufs <= SILENCE_LUFS else lufs,
        true_peak_dbtp=_finite(peak[1]),
    )


def _finite(value: str) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


# --- video clips ---------------------------------------------------------------------------------------

# Containers a clip may come in, told apart by their first bytes (never by name): each is opened with its own
# demuxer only, so a playlist or concat list dressed up as a clip can never make ffmpeg read other files.
VIDEO_CONTAINERS = ("mp4", "mov", "webm")
_DEMUXERS = {"mp4": "mov", "mov": "mov", "webm": "matroska"}
_FORMAT_WHITELIST = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm"
# QuickTime files written before ISO base media (no `ftyp`) start with one of these atoms.
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
# ISO base media brands of still images (HEIF, AVIF): an `ftyp` box, but a picture, not a clip.
_STILL_IMAGE_BRANDS = (b"mif1", b"msf1", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"avif", b"avis")
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_EBML_DOCTYPE = b"\x42\x82"
_SNIFF_BYTES = 64
_ROTATION_RE = re.compile(r"displaymatrix: rotation of (-?\d+(?:\.\d+)?) degrees")
_PROGRESS_RE = re.compile(r"^(frame|out_time_us)=(\d+)$", re.M)


class VideoClipFacts(_Facts):
    """A clip as a player shows it: width and height after its rotation (ffmpeg applies it on decode)."""

    container: str  # one of VIDEO_CONTAINERS
    codec: str
    width: int
    height: int
    rotation: int = 0  # degrees the stored picture is turned for display
    duration_seconds: float | None  # the container's, 10 ms resolution; None when it declares none
    fps: float | None
    pix_fmt: str | None = None
    has_audio: bool
    size_bytes: int


class DecodedVideo(_Facts):
    frames: int
    seconds: float


def sniff_video_container(head: bytes) -> str:
    """'mp4', 'mov' or 'webm' from a file's first bytes; MediaProbeError saying what it is otherwise."""
    box = head[4:8]
    if box == b"ftyp":
        brand = head[8:12]
        if brand in _STILL_IMAGE_BRANDS:
            raise MediaProbeError("the content is a HEIF/AVIF still image, not a video")
        return "mov" if brand == b"qt  " else "mp4"
    if box in _QUICKTIME_ATOMS:
        return "mov"
    if head.startswith(_EBML_MAGIC):
        doctype = _ebml_doctype(head)
        if doctype == b"webm":
            return "webm"
        kind = "a Matroska (MKV) file" if doctype == b"matroska" else "an EBML file that is not WebM"
        raise MediaProbeError(f"the content is {kind}; use MP4, MOV or WebM")
    raise MediaProbeError("the content is not an MP4, MOV or WebM video")


def _ebml_doctype(head: bytes) -> bytes | None:
    """The DocType string of an EBML header (the element 0x4282 with its variable-length size)."""
    at = head.find(_EBML_DOCTYPE, len(_EBML_MAGIC))
    if at < 0 or at + 2 >= len(head):
        return None
    first = head[at + 2]
    length_bytes = 9 - first.bit_length() if first else 9
    if length_bytes > 8 or at + 2 + length_bytes > len(head):
        return None
    size = int.from_bytes(head[at + 2 : at + 2 + length_bytes], "big") & ((1 << (7 * length_bytes)) - 1)
    start = at + 2 + length_bytes
    return head[start : start + size]


def _clip_input(path: Path, container: str) -> list[str]:
    return media_input(path, "-f", _DEMUXERS[container], "-format_whitelist", _FORMAT_WHITELIST)


def probe_video(path: Path) -> VideoClipFacts:
    """What a clip declares (container, first video stream, audio present), read without decoding it;
    MediaProbeError with the reason when it is not a clip ffmpeg can open."""
    path = Path(path)
    if not path.is_file():
        raise MediaProbeError(f"Cannot probe {path.name}: no such file")
    with path.open("rb") as handle:
        container = sniff_video_container(handle.read(_SNIFF_BYTES))
    result = run_ffmpeg(
        _clip_input(path, container), timeout=PROBE_TIMEOUT_S, check=False, loglevel="info", label="video probe"
    )
    stderr = result.stderr.decode("utf-8", "replace")
    info = parse_probe_output(stderr, size_bytes=path.stat().st_size)
    if info is None:
        raise MediaProbeError(f"the {container} container cannot be read: {last_error_lines(stderr, limit=1)}")
    if info.video is None or not info.video.width or not info.video.height:
        raise MediaProbeError(f"the {container} file has no video stream")
    rotation = parse_rotation(stderr)
    width, height = info.video.width, info.video.height
    if rotation % 180 == 90:
        width, height = height, width
    return VideoClipFacts(
        container=container,
        codec=info.video.codec,
        width=width,
        height=height,
        rotation=rotation,
        duration_seconds=info.duration_seconds,
        fps=info.video.fps,
        pix_fmt=info.video.pix_fmt,
        has_audio=info.audio is not None,
        size_bytes=info.size_bytes,
    )


def parse_rotation(stderr: str) -> int:
    """Display rotation of the first video stream, in degrees 0-359 (its side data follows its stream line)."""
    video = next((m for m in _STREAM_RE.finditer(stderr) if m["kind"] == "Video"), None)
    if video is None:
        return 0
    block = stderr[video.end() :]
    next_stream = re.search(r"^\s*Stream #", block, re.M)
    match = _ROTATION_RE.search(block[: next_stream.start()] if next_stream else block)
    return round(float(match[1])) % 360 if match else 0


def decode_video(path: Path, container: str, *, max_seconds: float, timeout: float) -> DecodedVideo:
    """Decode the first video stream, at most `max_seconds` + 1 s of it, stopping at the first error.

    A clip whose headers look right can still be truncated or corrupt past its first frames; only decoding
    it shows that. MediaProbeError quotes ffmpeg's error; a decode that outlasts `timeout` is one too.
    """
    args = [
        "-xerror",
        *_clip_input(Path(path), container),
        "-map", "0:v:0",
        "-t", f"{max_seconds + 1:g}",
        "-f", "null",
        "-progress", "pipe:1",
        "-",
    ]  # fmt: skip
    try:
        result = run_ffmpeg(args, timeout=timeout, check=False, label="video decode")
    except FfmpegError as exc:
        if "timed out" not in str(exc):  # ffmpeg could not start: a fault here, not in the clip
            raise
        raise MediaProbeError(f"decoding took longer than {timeout:g} s") from exc
    # The first error is the cause (-xerror stops there); what follows is ffmpeg winding down its pipeline.
    lines = result.stderr.decode("utf-8", "replace").splitlines()
    first_error = next((cleaned for line in lines if (cleaned := last_error_lines(line, limit=1))), "")
    if result.returncode != 0 or first_error:
        raise MediaProbeError(first_error or f"ffmpeg exited with status {result.returncode}")
    progress = dict(_PROGRESS_RE.findall(result.stdout.decode("ascii", "replace")))
    return DecodedVideo(frames=int(progress.get("frame", 0)), seconds=int(progress.get("out_time_us", 0)) / 1e6)
