"""The named music library: the manifest matches the files, each track decodes (bundled ffmpeg) to its listed
length and tempo, loops without a seam and repeats bit for bit under `-stream_loop`, is music at its loudness,
and names and keys resolve (or fail listing every valid name)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from pytoon.music import (
    LIBRARY_KEY_PREFIX,
    Track,
    UnknownTrackError,
    get_track,
    library_file,
    library_key,
    track_names,
    track_path,
    tracks,
)
from pytoon.render.ffmpeg import media_input, run_ffmpeg
from pytoon.render.probe import AudioInfo, measure_loudness, probe_media

SAMPLE_RATE = 44_100
TARGET_LUFS = -16.0  # what the generator levels every track to
# Octave-ish bands from sub bass to air; music has real energy in several, a tone or a hum in one.
BANDS_HZ = (20, 150, 500, 2000, 6000, 16_000)
DECODE_TIMEOUT_S = 60


@dataclass(frozen=True)
class DecodedTrack:
    track: Track
    path: Path
    stream: AudioInfo
    samples: np.ndarray  # (channels, n) float32, as ffmpeg decodes the file
    looped_twice: np.ndarray  # the same, decoded with `-stream_loop 1` as the audio step loops a bed


def _decode(path: Path, channels: int, *input_options: str) -> np.ndarray:
    """Float samples at the file's own rate and channel count (no resampling)."""
    raw = run_ffmpeg([*media_input(path, *input_options), "-f", "f32le", "pipe:1"], timeout=DECODE_TIMEOUT_S).stdout
    return np.frombuffer(raw, "<f4").reshape(-1, channels).T


@pytest.fixture(scope="module", params=track_names())
def decoded(request: pytest.FixtureRequest) -> DecodedTrack:
    """Each track decoded once for the whole module."""
    path = track_path(request.param)
    stream = probe_media(path).audio
    assert stream is not None, f"{path.name} has no audio stream"
    return DecodedTrack(
        track=get_track(request.param),
        path=path,
        stream=stream,
        samples=_decode(path, stream.channels),
        looped_twice=_decode(path, stream.channels, "-stream_loop", "1"),
    )


# --- the manifest ----------------------------------------------------------------------------------------


def test_manifest_lists_every_packaged_track_file_and_no_other() -> None:
    package = Path(str(resources.files("pytoon.music")))
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["sample_rate"], manifest["channels"]) == (SAMPLE_RATE, 2)
    assert sorted(entry["file"] for entry in manifest["tracks"]) == sorted(p.name for p in package.glob("*.mp3"))
    assert all(track_path(t.name).is_file() for t in tracks())


def test_library_has_at_least_eight_tracks_each_a_distinct_mood_sorted_by_name() -> None:
    library = tracks()
    assert len(library) >= 8
    assert len({t.mood for t in library}) == len(library)
    assert track_names() == sorted(track_names()) and len(set(track_names())) == len(library)


def test_names_are_plain_identifiers_that_name_their_file() -> None:
    # A music_source that looks like a path or an upload key is never taken for a library name.
    for track in tracks():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", track.name), track.name
        assert track.file == f"{track.name}.mp3"


# --- each track, decoded -----------------------------------------------------------------------------------


def test_track_decodes_as_44k1_stereo_mp3_to_its_recorded_duration(decoded: DecodedTrack) -> None:
    assert (decoded.stream.codec, decoded.stream.sample_rate, decoded.stream.channels) == ("mp3", SAMPLE_RATE, 2)
    # Gapless: exactly the samples written, so the recorded length holds to its millisecond rounding (far
    # less than one 1152-sample MP3 frame of encoder padding).
    seconds = decoded.samples.shape[1] / SAMPLE_RATE
    assert seconds == pytest.approx(decoded.track.duration_seconds, abs=0.0005)


def test_track_is_a_whole_number_of_bars_at_its_listed_bpm(decoded: DecodedTrack) -> None:
    track = decoded.track
    bars_seconds = track.bars * 4 * 60 / track.bpm
    assert track.duration_seconds == pytest.approx(bars_seconds, abs=0.0005)
    assert abs(decoded.samples.shape[1] - bars_seconds * SAMPLE_RATE) <= 1


def test_loop_seam_is_no_larger_than_the_tracks_own_sample_steps(decoded: DecodedTrack) -> None:
    samples = decoded.samples
    seam = np.abs(samples[:, 0] - samples[:, -1])
    ordinary = np.percentile(np.abs(np.diff(samples, axis=1)), 99.9, axis=1)
    assert np.all(seam <= ordinary), f"seam jump {seam} against 99.9th percentile step {ordinary}"


def test_stream_loop_plays_the_track_twice_bit_for_bit(decoded: DecodedTrack) -> None:
    once, twice = decoded.samples, decoded.looped_twice
    assert twice.shape == (once.shape[0], 2 * once.shape[1])
    assert np.array_equal(twice[:, : once.shape[1]], once)
    assert np.array_equal(twice[:, once.shape[1] :], once)


def test_track_is_music_at_the_library_loudness(decoded: DecodedTrack) -> None:
    loudness = measure_loudness(decoded.path)
    assert loudness.integrated_lufs is not None and abs(loudness.integrated_lufs - TARGET_LUFS) <= 2.0
    assert loudness.true_peak_dbtp is not None and loudness.true_peak_dbtp <= -1.0
    mono = decoded.samples.mean(axis=0)
    power = np.abs(np.fft.rfft(mono)) ** 2
    freq = np.fft.rfftfreq(len(mono), 1 / SAMPLE_RATE)
    shares = np.array([power[(freq >= low) & (freq < high)].sum() for low, high in pairwise(BANDS_HZ)])
    shares /= shares.sum()
    assert np.count_nonzero(shares >= 0.01) >= 3, f"band energy shares {np.round(shares, 3)}"


# --- names and keys ----------------------------------------------------------------------------------------


def test_library_key_and_library_file_round_trip_for_every_track() -> None:
    for track in tracks():
        key = library_key(track.name)
        assert key == f"{LIBRARY_KEY_PREFIX}{track.file}"
        assert library_file(key) == track_path(track.name)


@pytest.mark.parametrize("key", ["uploads/tenant-1/0123456789abcdef/song.mp3", "music/calm_ambient.mp3", ""])
def test_a_key_outside_the_library_is_not_a_library_file(key: str) -> None:
    assert library_file(key) is None


def _assert_lists_every_name(error: UnknownTrackError, unknown: str) -> None:
    message = str(error)
    assert unknown in message
    assert ", ".join(track_names()) in message


@pytest.mark.parametrize("name", ["no_such_track", "Calm_Ambient", "calm_ambient.mp3", ""])
def test_an_unknown_name_is_refused_listing_every_valid_name(name: str) -> None:
    for lookup in (get_track, library_key, track_path):
        with pytest.raises(UnknownTrackError) as caught:
            lookup(name)
        _assert_lists_every_name(caught.value, repr(name))


@pytest.mark.parametrize(
    ("key", "shown"),
    [("library/music/no_such_track.mp3", "no_such_track"), ("library/music/../manifest.json", "manifest")],
)
def test_an_unknown_library_key_is_refused_listing_every_valid_name(key: str, shown: str) -> None:
    with pytest.raises(UnknownTrackError) as caught:
        library_file(key)
    _assert_lists_every_name(caught.value, shown)
