from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pytoon.models import AudioPlan
from pytoon.render.audio import build_audio, fade_seconds, mix_inputs
from pytoon.render.probe import measure_loudness
from tests.media import audio_stream, music_bed, speech_like, tone

RATE = 48_000


def assert_delivery_format(path: Path, seconds: float) -> np.ndarray:
    stream = audio_stream(path)
    assert (stream.codec, stream.profile, stream.sample_rate, stream.channels) == ("aac", "LC", RATE, 2)
    assert stream.duration_seconds == pytest.approx(seconds, abs=1e-6)
    return stream.samples


def assert_on_target(path: Path) -> None:
    loudness = measure_loudness(path)  # measured again here, independently of what build_audio reports
    assert loudness.integrated_lufs is not None and abs(loudness.integrated_lufs + 14.0) <= 1.0
    assert loudness.true_peak_dbtp is not None and loudness.true_peak_dbtp <= -1.0


def level_db(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(samples**2)) + 1e-12))


def tone_level_db(samples: np.ndarray, frequency: float) -> float:
    """Level of one sine component (left channel), by correlation: other sounds do not leak in."""
    t = np.arange(samples.shape[1]) / RATE
    left = samples[0]
    amplitude = 2 * np.hypot(left @ np.sin(2 * np.pi * frequency * t), left @ np.cos(2 * np.pi * frequency * t))
    return float(20 * np.log10(amplitude / len(left) + 1e-12))


def test_music_only_is_looped_faded_and_normalised(tmp_path: Path) -> None:
    music = music_bed(tmp_path / "m.mp3", seconds=1.5)
    facts = build_audio(AudioPlan(music_key="m"), {"m": music}, 4.0, tmp_path / "a.m4a")
    samples = assert_delivery_format(facts.path, 4.0)
    assert_on_target(facts.path)
    assert facts.loudness_on_target and facts.loudness.integrated_lufs == pytest.approx(-14.0, abs=1.0)
    # Looped: the second and third seconds are as loud as the first; then a 1 s fade to near silence.
    seconds = [level_db(samples[:, i * RATE : (i + 1) * RATE]) for i in range(3)]
    assert max(seconds) - min(seconds) < 1.5
    assert level_db(samples[:, -RATE // 20 :]) < seconds[1] - 20


def test_music_and_voice_duck_the_music_under_the_voice(tmp_path: Path) -> None:
    # Music is a steady 1 kHz sine, so its level can be read under the voice (bursts at 0-0.5, 0.8-1.3 and
    # 1.6-2.0 s). The video is 4 s long, so the 1 s fade-out starts at 3.0 s, after the windows below.
    music = tone(tmp_path / "m.wav", "aevalsrc='0.5*sin(2*PI*1000*t)':s=44100", 4.0)
    voice = speech_like(tmp_path / "v.wav", seconds=2.0)
    files = {"m": music, "v": voice}

    def music_levels(plan: AudioPlan, name: str) -> tuple[float, float]:
        facts = build_audio(plan, files, 4.0, tmp_path / name)
        samples = assert_delivery_format(facts.path, 4.0)
        assert_on_target(facts.path)
        under_voice = samples[:, int(0.9 * RATE) : int(1.25 * RATE)]
        after_voice = samples[:, int(2.6 * RATE) : int(2.95 * RATE)]  # release (0.4 s) is over by then
        return tone_level_db(under_voice, 1000), tone_level_db(after_voice, 1000)

    under, after = music_levels(AudioPlan(music_key="m", voice_key="v"), "ducked.m4a")
    assert after - under > 6
    under, after = music_levels(AudioPlan(music_key="m", voice_key="v", duck_music_under_voice=False), "flat.m4a")
    assert abs(after - under) < 1.0


def test_voice_only_mono_tts_becomes_normalised_stereo(tmp_path: Path) -> None:
    voice = speech_like(tmp_path / "v.wav", seconds=1.5)
    facts = build_audio(AudioPlan(voice_key="v"), {"v": voice}, 2.0, tmp_path / "a.m4a")
    samples = assert_delivery_format(facts.path, 2.0)
    assert_on_target(facts.path)
    assert np.allclose(samples[0], samples[1], atol=1e-3)
    assert level_db(samples[:, int(1.6 * RATE) :]) < -60  # padded with silence after the voice


def test_very_short_video_gets_a_short_fade(tmp_path: Path) -> None:
    music = music_bed(tmp_path / "m.mp3", seconds=3.0)
    facts = build_audio(AudioPlan(music_key="m", fade_out_seconds=2.0), {"m": music}, 1.0, tmp_path / "a.m4a")
    assert_delivery_format(facts.path, 1.0)
    assert_on_target(facts.path)
    assert fade_seconds(AudioPlan(fade_out_seconds=2.0), 1.0) == 0.25
    assert fade_seconds(AudioPlan(fade_out_seconds=1.0), 30.0) == 1.0


def test_no_music_and_no_voice_is_a_silent_stereo_track(tmp_path: Path) -> None:
    facts = build_audio(AudioPlan(), {}, 1.5, tmp_path / "a.m4a")
    samples = assert_delivery_format(facts.path, 1.5)
    assert np.abs(samples).max() == 0.0
    assert facts.loudness.integrated_lufs is None and facts.loudness.true_peak_dbtp is None
    assert facts.loudness_on_target
    assert [p.name for p in tmp_path.iterdir()] == ["a.m4a"]


def test_voice_is_split_for_the_sidechain_and_every_label_is_used_once() -> None:
    _, graph = mix_inputs(AudioPlan(music_key="m", voice_key="v"), {"m": Path("m"), "v": Path("v")}, 5.0)
    assert graph.count("asplit=2") == 1 and "sidechaincompress" in graph
    produced: Counter[str] = Counter()
    consumed: Counter[str] = Counter()
    for chain in graph.split(";"):
        inputs = re.match(r"^((?:\[[^\]]+\])*)", chain)
        assert inputs is not None
        consumed.update(re.findall(r"\[([^\]]+)\]", inputs.group(1)))
        produced.update(re.findall(r"\[([^\]]+)\]", chain[len(inputs.group(1)) :]))
    assert all(count == 1 for count in consumed.values()), consumed
    assert set(produced) - set(consumed) == {"mix"}


def test_missing_audio_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="No audio file for key 'song'"):
        build_audio(AudioPlan(music_key="song"), {}, 1.0, tmp_path / "a.m4a")
