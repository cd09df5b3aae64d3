"""WAV and MP3 facts read from their own bytes agree with what was encoded (and with ffmpeg's reading);
implausible, truncated and fake files are refused with a reason."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pytoon.audio_headers import AudioHeaderError, inspect_audio
from pytoon.limits import MAX_AUDIO_DURATION_SECONDS
from pytoon.render.ffmpeg import run_ffmpeg
from pytoon.render.probe import probe_media

SECONDS = 7.3


def _encode(path: Path, *options: str, seconds: float = SECONDS) -> Path:
    run_ffmpeg(["-y", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", *options, str(path)], timeout=60)
    return path


def wav_bytes(
    *, rate: int, channels: int, bits: int = 16, frames: int = 100, tag: int = 1, data: int | None = None
) -> bytes:
    """A WAV assembled by hand, so its header can claim anything."""
    block = channels * bits // 8
    samples = bytes(frames * block)
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(samples) if data is None else data) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("name", "options", "rate", "channels"),
    [
        ("s16.wav", ["-ar", "44100", "-ac", "2"], 44100, 2),
        ("u8.wav", ["-ar", "8000", "-ac", "1", "-c:a", "pcm_u8"], 8000, 1),
        ("f32.wav", ["-ar", "48000", "-ac", "2", "-c:a", "pcm_f32le"], 48000, 2),
        ("s24_surround.wav", ["-ar", "96000", "-ac", "6", "-c:a", "pcm_s24le"], 96000, 6),
        ("alaw.wav", ["-ar", "8000", "-ac", "1", "-c:a", "pcm_alaw"], 8000, 1),
        ("cbr.mp3", ["-ar", "44100", "-ac", "2", "-b:a", "128k"], 44100, 2),
        ("vbr.mp3", ["-ar", "44100", "-ac", "2", "-q:a", "4"], 44100, 2),
        ("mpeg2_mono.mp3", ["-ar", "22050", "-ac", "1", "-b:a", "48k"], 22050, 1),
        ("mpeg25.mp3", ["-ar", "8000", "-ac", "1", "-b:a", "16k"], 8000, 1),
        (
            "tagged.mp3",
            ["-ar", "44100", "-metadata", "title=Song", "-id3v2_version", "3", "-write_id3v1", "1"],
            44100,
            1,
        ),
    ],
)
def test_facts_match_what_was_encoded(tmp_path: Path, name: str, options: list[str], rate: int, channels: int) -> None:
    path = _encode(tmp_path / name, *options)
    header = inspect_audio(path.read_bytes())
    assert (header.type, header.sample_rate, header.channels) == (path.suffix[1:], rate, channels)
    # MP3s carry their encoder delay and padding (LAME tag), so the exact encoded length comes back.
    assert header.duration_seconds == pytest.approx(SECONDS, abs=1e-3)
    probed = probe_media(path)
    assert probed.audio is not None
    assert (probed.audio.sample_rate, probed.audio.channels) == (rate, channels)
    assert header.duration_seconds == pytest.approx(probed.duration_seconds, abs=0.2)


def test_mp3_without_a_xing_header_is_counted_frame_by_frame(tmp_path: Path) -> None:
    path = _encode(tmp_path / "plain.mp3", "-ar", "48000", "-ac", "2", "-b:a", "192k", "-write_xing", "0")
    header = inspect_audio(path.read_bytes())
    # Without the LAME tag the encoder delay stays in: at most about two frames (2 x 24 ms) longer.
    assert SECONDS <= header.duration_seconds <= SECONDS + 0.05
    assert (header.sample_rate, header.channels) == (48000, 2)


def test_mp3_with_damage_in_the_middle_is_resynchronised(tmp_path: Path) -> None:
    data = bytearray(_encode(tmp_path / "a.mp3", "-b:a", "128k").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 700] = bytes(700)  # about two frames wiped out
    header = inspect_audio(bytes(data))
    assert SECONDS - 0.1 < header.duration_seconds < SECONDS


def test_truncated_mp3_is_refused(tmp_path: Path) -> None:
    data = _encode(tmp_path / "a.mp3", "-b:a", "128k").read_bytes()
    with pytest.raises(AudioHeaderError, match="MP3 is truncated"):
        inspect_audio(data[: len(data) // 2])


def test_bytes_that_only_start_like_mp3_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AudioHeaderError, match="no MPEG audio layer III frames"):
        inspect_audio(b"\xff\xfb\x90\x64" + bytes(range(256)) * 200)
    with pytest.raises(AudioHeaderError, match="no MPEG audio layer III frames"):
        inspect_audio(b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"text, no audio" * 50)
    # A few real frames in front of a document: most of the file is not audio.
    frames = _encode(tmp_path / "a.mp3", "-b:a", "128k", "-write_xing", "0", seconds=0.2).read_bytes()
    with pytest.raises(AudioHeaderError, match="Not an MP3: only [0-9]+% of the file after its tags is MPEG audio"):
        inspect_audio(frames + b"%PDF-1.7 lorem ipsum " * 5000)


def test_neither_wav_nor_mp3() -> None:
    with pytest.raises(AudioHeaderError, match="MP3 or WAV"):
        inspect_audio(b"OggS\x00\x02" + bytes(200))


def test_a_1_hz_wav_is_refused_not_taken_for_hours_of_audio() -> None:
    with pytest.raises(AudioHeaderError, match="sample rate of 1 Hz; accepted rates are 8000-192000 Hz"):
        inspect_audio(wav_bytes(rate=1, channels=1, frames=48_000))


@pytest.mark.parametrize("rate", [7_999, 192_001, 0])
def test_sample_rates_outside_the_plausible_range_are_refused(rate: int) -> None:
    with pytest.raises(AudioHeaderError, match=f"sample rate of {rate} Hz"):
        inspect_audio(wav_bytes(rate=rate, channels=2))


@pytest.mark.parametrize("channels", [0, 9])
def test_channel_counts_outside_1_to_8_are_refused(channels: int) -> None:
    with pytest.raises(AudioHeaderError, match=f"claims {channels} channels; accepted are 1-8"):
        inspect_audio(wav_bytes(rate=44100, channels=channels))


def test_eight_channels_at_the_plausible_edges_are_accepted() -> None:
    for rate in (8000, 192000):
        header = inspect_audio(wav_bytes(rate=rate, channels=8, frames=rate // 10))
        assert (header.sample_rate, header.channels, header.duration_seconds) == (rate, 8, 0.1)


def test_audio_longer_than_the_limit_is_refused() -> None:
    frames = 8000 * (MAX_AUDIO_DURATION_SECONDS + 60)
    with pytest.raises(AudioHeaderError, match=f"660 s long; the limit is {MAX_AUDIO_DURATION_SECONDS} s"):
        inspect_audio(wav_bytes(rate=8000, channels=1, bits=8, frames=frames))


def test_wav_header_faults_are_named() -> None:
    with pytest.raises(AudioHeaderError, match="truncated: its data chunk declares 1000000 bytes"):
        inspect_audio(wav_bytes(rate=44100, channels=2, data=1_000_000))
    with pytest.raises(AudioHeaderError, match="encoding 0x0002 is not supported"):
        inspect_audio(wav_bytes(rate=44100, channels=2, tag=2))
    with pytest.raises(AudioHeaderError, match="12 bits per PCM sample"):
        inspect_audio(wav_bytes(rate=44100, channels=2, bits=12))
    with pytest.raises(AudioHeaderError, match="holds no audio samples"):
        inspect_audio(wav_bytes(rate=44100, channels=2, frames=0))
    with pytest.raises(AudioHeaderError, match="no data chunk"):
        inspect_audio(wav_bytes(rate=44100, channels=2)[:36])


def test_a_streamed_wav_with_an_unknown_data_size_runs_to_the_end() -> None:
    header = inspect_audio(wav_bytes(rate=16000, channels=1, frames=8000, data=0xFFFFFFFF))
    assert header.duration_seconds == 0.5


def test_ffmpeg_adpcm_wav_is_refused_with_the_encoding(tmp_path: Path) -> None:
    path = _encode(tmp_path / "adpcm.wav", "-c:a", "adpcm_ms", seconds=1)
    with pytest.raises(AudioHeaderError, match="encoding 0x0002 is not supported; use PCM"):
        inspect_audio(path.read_bytes())
