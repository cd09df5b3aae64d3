"""WAV and MP3 uploads checked from their own bytes, in pure Python: no ffmpeg, so the API function (which
has no ffmpeg layer) and the upload notification run the same check.

WAV: the RIFF chunks are walked to the `fmt ` and `data` chunks; the facts come from the format and the size
of the sample data. MP3: every MPEG audio frame header is walked from the first frame to the end, so the
duration is what the file really holds. A Xing/Info or VBRI frame at the start is metadata, not audio: its
frame count exposes a truncated file and its LAME extension gives the encoder delay and padding, which a
decoder drops. Headers that no recording has (a 1 Hz sample rate, zero channels) are refused with the reason.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pytoon.limits import (
    MAX_AUDIO_CHANNELS,
    MAX_AUDIO_DURATION_SECONDS,
    MAX_AUDIO_SAMPLE_RATE_HZ,
    MIN_AUDIO_SAMPLE_RATE_HZ,
)


class AudioHeaderError(ValueError):
    """The bytes are not an acceptable WAV or MP3; the message says why."""


@dataclass(frozen=True)
class AudioHeader:
    type: str  # "wav" or "mp3"
    duration_seconds: float
    sample_rate: int
    channels: int


def inspect_audio(data: bytes) -> AudioHeader:
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        header = _wav(data)
    elif data[:3] == b"ID3" or _frame_at(data, 0) is not None:
        header = _mp3(data)
    else:
        raise AudioHeaderError("Audio must be an MP3 or WAV file; the content is neither")
    _check_plausible(header)
    return header


def _check_plausible(header: AudioHeader) -> None:
    kind = header.type.upper()
    if not MIN_AUDIO_SAMPLE_RATE_HZ <= header.sample_rate <= MAX_AUDIO_SAMPLE_RATE_HZ:
        raise AudioHeaderError(
            f"{kind} header claims a sample rate of {header.sample_rate} Hz; "
            f"accepted rates are {MIN_AUDIO_SAMPLE_RATE_HZ}-{MAX_AUDIO_SAMPLE_RATE_HZ} Hz"
        )
    if not 1 <= header.channels <= MAX_AUDIO_CHANNELS:
        raise AudioHeaderError(f"{kind} header claims {header.channels} channels; accepted are 1-{MAX_AUDIO_CHANNELS}")
    if header.duration_seconds > MAX_AUDIO_DURATION_SECONDS:
        raise AudioHeaderError(
            f"Audio is {header.duration_seconds:.0f} s long; the limit is {MAX_AUDIO_DURATION_SECONDS} s"
        )


# --- WAV ---------------------------------------------------------------------------------------------------

# WAVE format tags whose samples ffmpeg decodes without a codec of its own, with the sample sizes they allow.
_WAV_ENCODINGS: dict[int, tuple[str, tuple[int, ...]]] = {
    0x0001: ("PCM", (8, 16, 24, 32)),
    0x0003: ("IEEE float", (32, 64)),
    0x0006: ("A-law", (8,)),
    0x0007: ("mu-law", (8,)),
}
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# A data size a streaming writer leaves when it cannot seek back: the samples run to the end of the file.
_UNKNOWN_SIZE = 0xFFFFFFFF


def _wav(data: bytes) -> AudioHeader:
    fmt: tuple[int, int, int, int, int] | None = None  # format tag, channels, rate, block align, bits
    position = 12
    while position + 8 <= len(data):
        chunk_id, size = data[position : position + 4], struct.unpack_from("<I", data, position + 4)[0]
        body = position + 8
        available = len(data) - body
        if chunk_id == b"fmt ":
            if size < 16 or size > available:
                raise AudioHeaderError("WAV fmt chunk is truncated")
            tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == _WAVE_FORMAT_EXTENSIBLE and size >= 40:
                tag = struct.unpack_from("<H", data, body + 24)[0]  # the sub-format GUID starts with the tag
            fmt = (tag, channels, rate, block_align, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioHeaderError("WAV data chunk comes before its fmt chunk")
            if size == _UNKNOWN_SIZE:
                size = available
            elif size > available:
                raise AudioHeaderError(
                    f"WAV is truncated: its data chunk declares {size} bytes, the file holds {available}"
                )
            return _wav_facts(fmt, size)
        position = body + size + (size & 1)  # chunks are padded to an even length
    raise AudioHeaderError("WAV has no fmt chunk" if fmt is None else "WAV has no data chunk")


def _wav_facts(fmt: tuple[int, int, int, int, int], data_size: int) -> AudioHeader:
    tag, channels, rate, block_align, bits = fmt
    if tag not in _WAV_ENCODINGS:
        raise AudioHeaderError(f"WAV encoding 0x{tag:04x} is not supported; use PCM or IEEE float WAV, or MP3")
    name, sizes = _WAV_ENCODINGS[tag]
    if bits not in sizes:
        raise AudioHeaderError(f"WAV header claims {bits} bits per {name} sample; {name} has {sizes}")
    if channels and block_align != channels * bits // 8:
        raise AudioHeaderError(
            f"WAV header is inconsistent: block align {block_align} for {channels} channels of {bits} bits"
        )
    frames = data_size // block_align if block_align else 0
    if channels and frames == 0:
        raise AudioHeaderError("WAV holds no audio samples")
    return AudioHeader(type="wav", duration_seconds=frames / rate if rate else 0.0, sample_rate=rate, channels=channels)


# --- MP3 ---------------------------------------------------------------------------------------------------

# kbit/s by bitrate index: MPEG-1 layer III, and MPEG-2/2.5 layer III.
_MPEG1_BITRATES = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_BITRATES = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
# Hz by the header's version bits (3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5) and sample-rate index.
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_TRAILING_TAGS = (b"TAG", b"APETAGEX", b"LYRICSBEGIN", b"ID3")
# Audio frames must make up at least this share of the bytes after the first frame: a file that merely
# contains a few frame-like byte patterns is not an MP3.
_MIN_AUDIO_SHARE = 0.5
# A file that holds less than this share of the frames its Xing/VBRI header counts was cut off.
_MIN_DECLARED_SHARE = 0.9


@dataclass(frozen=True)
class _Frame:
    version: int
    sample_rate: int
    channels: int
    length: int
    samples: int

    def continues(self, other: _Frame) -> bool:
        return (other.version, other.sample_rate, other.channels) == (self.version, self.sample_rate, self.channels)


def _frame_at(data: bytes, position: int) -> _Frame | None:
    """The MPEG audio layer III frame whose header starts at `position`, or None."""
    if position + 4 > len(data) or data[position] != 0xFF:
        return None
    b1, b2, b3 = data[position + 1], data[position + 2], data[position + 3]
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    # Sync bits, a defined version, layer III, a listed bitrate (free format is not), a defined rate.
    if b1 & 0xE0 != 0xE0 or version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = (_MPEG1_BITRATES if mpeg1 else _MPEG2_BITRATES)[bitrate_index] * 1000
    rate = _SAMPLE_RATES[version][rate_index]
    samples = 1152 if mpeg1 else 576
    return _Frame(
        version=version,
        sample_rate=rate,
        channels=1 if b3 >> 6 == 3 else 2,
        length=samples // 8 * bitrate // rate + padding,
        samples=samples,
    )


def _id3v2_end(data: bytes) -> int:
    """Where the audio starts: after any ID3v2 tags (size is syncsafe, 7 bits a byte; a footer adds 10)."""
    position = 0
    while data[position : position + 3] == b"ID3" and position + 10 <= len(data):
        size_bytes = data[position + 6 : position + 10]
        size = (size_bytes[0] << 21) | (size_bytes[1] << 14) | (size_bytes[2] << 7) | size_bytes[3]
        position += 10 + size + (10 if data[position + 5] & 0x10 else 0)
    return position


def _sync(data: bytes, start: int, end: int, like: _Frame | None = None) -> int | None:
    """The first position from `start` where a frame begins that is followed by another (or by the end)."""
    position = data.find(b"\xff", start, end)
    while position != -1:
        frame = _frame_at(data, position)
        if frame is not None and (like is None or like.continues(frame)):
            following = position + frame.length
            after = _frame_at(data, following)
            if following == end or (after is not None and frame.continues(after)):
                return position
        position = data.find(b"\xff", position + 1, end)
    return None


@dataclass(frozen=True)
class _VbrHeader:
    frames: int | None  # the frames the encoder wrote, when it says
    trimmed_samples: int  # the encoder's delay and padding: samples a gapless decoder drops


def _vbr_header(data: bytes, position: int, frame: _Frame) -> _VbrHeader | None:
    """The Xing/Info or VBRI header in this frame, if it is one."""
    side_info = (32 if frame.channels == 2 else 17) if frame.version == 3 else (17 if frame.channels == 2 else 9)
    xing = position + 4 + side_info
    if data[xing : xing + 4] in (b"Xing", b"Info") and xing + 8 <= len(data):
        flags = struct.unpack_from(">I", data, xing + 4)[0]
        cursor = xing + 8
        frames = None
        if flags & 1 and cursor + 4 <= len(data):
            frames = struct.unpack_from(">I", data, cursor)[0]
            cursor += 4
        cursor += (4 if flags & 2 else 0) + (100 if flags & 4 else 0) + (4 if flags & 8 else 0)
        # LAME extension: a 9-byte encoder name, then 12 bits of encoder delay and 12 of padding at byte 21.
        trimmed = 0
        if data[cursor : cursor + 4] in (b"LAME", b"Lavc", b"Lavf") and cursor + 24 <= position + frame.length:
            packed = int.from_bytes(data[cursor + 21 : cursor + 24], "big")
            trimmed = (packed >> 12) + (packed & 0xFFF)
        return _VbrHeader(frames=frames, trimmed_samples=trimmed)
    vbri = position + 4 + 32
    if data[vbri : vbri + 4] == b"VBRI" and vbri + 18 <= len(data):
        return _VbrHeader(frames=struct.unpack_from(">I", data, vbri + 14)[0], trimmed_samples=0)
    return None


def _mp3(data: bytes) -> AudioHeader:
    audio_start = _id3v2_end(data)
    end = len(data) - 128 if len(data) >= 128 and data[-128:-125] == b"TAG" else len(data)
    first = _sync(data, audio_start, end)
    if first is None:
        raise AudioHeaderError("MP3 holds no MPEG audio layer III frames")
    stream = _frame_at(data, first)
    assert stream is not None
    vbr = _vbr_header(data, first, stream)
    # A Xing/Info/VBRI frame carries no audio of its own.
    position = first if vbr is None else first + stream.length
    declared_frames = vbr.frames if vbr else None
    frames = audio_bytes = 0
    while position < end:
        frame = _frame_at(data, position)
        if frame is not None and stream.continues(frame):
            if position + frame.length > end:
                break  # a last frame cut short: a decoder drops it too
            frames += 1
            audio_bytes += frame.length
            position += frame.length
            continue
        if data.startswith(_TRAILING_TAGS, position):
            break
        resumed = _sync(data, position + 1, end, like=stream)
        if resumed is None:
            break
        position = resumed
    share = audio_bytes / max(1, end - first)
    if frames == 0 or share < _MIN_AUDIO_SHARE:
        raise AudioHeaderError(f"Not an MP3: only {share:.0%} of the file after its tags is MPEG audio")
    if declared_frames and frames < _MIN_DECLARED_SHARE * declared_frames:
        raise AudioHeaderError(f"MP3 is truncated: its header counts {declared_frames} frames, the file holds {frames}")
    samples = max(0, frames * stream.samples - (vbr.trimmed_samples if vbr else 0))
    return AudioHeader(
        type="mp3",
        duration_seconds=samples / stream.sample_rate,
        sample_rate=stream.sample_rate,
        channels=stream.channels,
    )
