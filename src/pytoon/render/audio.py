"""The output's audio track, built once per job: music bed, voiceover, ducking, loudness normalisation.

Passes: (1) mix to a float WAV and measure it (EBU R128 integrated loudness and true peak); (2) one
linear gain to the target, through an oversampled true-peak limiter only when that gain would push peaks
over the ceiling, still as float WAV, measured (and corrected once if limiting cost loudness); (3) one
AAC-LC 48 kHz stereo encode. The encoded file is measured again and those figures are what this module
reports. The true-peak ceiling is enforced (re-limited, else
AudioError); loudness lands within ±1 LU of the target except for material that is nothing but isolated
transients, which is delivered quieter rather than crushed and flagged `loudness_on_target=False`.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from pytoon.models import AUDIO_SAMPLE_RATE, AudioPlan
from pytoon.render.ffmpeg import media_input, output_target, run_ffmpeg
from pytoon.render.probe import Loudness, measure_loudness, parse_ebur128_summary

AUDIO_TIMEOUT_S = 180.0
AAC_BITRATE = "192k"
# AAC encoding moves peaks by a few tenths of a dB: aim below the ceiling so the encoded file stays under.
TRUE_PEAK_HEADROOM_DB = 0.7
# The first gain pass lands exactly unless the limiter engages; further passes correct for limiting.
GAIN_TOLERANCE_LU = 0.3
MAX_PEAK_PASSES = 3
TRUE_PEAK_STEP_DB = 0.3
ALIMITER_MIN_LIMIT = 0.0625  # the lowest ceiling ffmpeg's alimiter accepts (-24 dBFS)
# A fade-out never takes more than this share of the video (a 1 s video gets a 0.25 s fade).
MAX_FADE_SHARE = 0.25
VOICE_TAIL_FADE_S = 0.05
# A track that starts at full level makes the AAC encoder's first frame overshoot by several dB (seen:
# +2.9 dBTP on a bass line); 50 ms of fade-in removes that and the click of a hard start.
FADE_IN_S = 0.05
# Ducking: the voice (as mixed) drives a compressor on the music. With speech around -26 dBFS RMS after
# the voice gain, the music drops by ~9 dB; attack and release are slow enough not to pump audibly.
# EBU R128 meter with true peak (4x oversampled); it passes the audio through unchanged.
MEASURE = "ebur128=peak=true:framelog=quiet"
DUCK_FILTER = "sidechaincompress=threshold=0.015:ratio=8:attack=20:release=400:knee=4"


class AudioError(RuntimeError):
    pass


class AudioFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    duration_seconds: float
    has_music: bool
    has_voice: bool
    loudness: Loudness
    loudness_on_target: bool
    build_seconds: float


def fade_seconds(plan: AudioPlan, duration_seconds: float) -> float:
    return max(0.0, min(plan.fade_out_seconds, duration_seconds * MAX_FADE_SHARE))


def _stereo_48k() -> str:
    """Common format, and timestamps rebuilt from the sample count: a looped or delayed input (MP3 encoder
    delay) would otherwise start late or leave gaps, and the track would come out short."""
    return f"aresample={AUDIO_SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo,asetpts=N/SR/TB"


def _audio_file(audio_files: Mapping[str, Path], key: str | None) -> Path | None:
    if key is None:
        return None
    try:
        return audio_files[key]
    except KeyError:
        raise KeyError(f"No audio file for key {key!r}") from None


def mix_inputs(plan: AudioPlan, audio_files: Mapping[str, Path], duration: float) -> tuple[list[str], str]:
    """ffmpeg input args and a filter graph whose output label is [mix], exactly `duration` long."""
    music = _audio_file(audio_files, plan.music_key)
    voice = _audio_file(audio_files, plan.voice_key)
    args: list[str] = []
    chains: list[str] = []
    length = f"{duration:.6f}"
    if music is not None:
        # Looped without end, cut to length by -t: a short track repeats, a long one is trimmed.
        args += media_input(music, "-stream_loop", "-1", "-t", length)
        fade = fade_seconds(plan, duration)
        chains.append(
            f"[0:a]{_stereo_48k()},volume={plan.music_level_db:.2f}dB,"
            f"apad=whole_dur={length},atrim=duration={length},"
            f"afade=t=out:st={duration - fade:.6f}:d={fade:.6f}[music]"
        )
    if voice is not None:
        index = 1 if music is not None else 0
        args += media_input(voice, "-t", length)
        chains.append(
            f"[{index}:a]{_stereo_48k()},volume={plan.voice_level_db:.2f}dB,"
            f"afade=t=out:st={max(0.0, duration - VOICE_TAIL_FADE_S):.6f}:d={VOICE_TAIL_FADE_S},"
            f"apad=whole_dur={length},atrim=duration={length}[voice]"
        )
    if music is not None and voice is not None:
        if plan.duck_music_under_voice:
            # The voice feeds both the compressor's key input and the mix: it must be split, a filter
            # graph label can be consumed only once.
            chains.append("[voice]asplit=2[voice_key][voice_mix]")
            chains.append(f"[music][voice_key]{DUCK_FILTER}[bed]")
            chains.append("[bed][voice_mix]amix=inputs=2:duration=first:normalize=0[mixed]")
        else:
            chains.append("[music][voice]amix=inputs=2:duration=first:normalize=0[mixed]")
    else:
        chains.append(f"[{'music' if music is not None else 'voice'}]anull[mixed]")
    chains.append(f"[mixed]afade=t=in:d={FADE_IN_S}[mix]")
    return args, ";".join(chains)


def build_audio(
    plan: AudioPlan, audio_files: Mapping[str, Path], duration_seconds: float, out_path: Path
) -> AudioFacts:
    """Write an AAC-LC 48 kHz stereo .m4a of exactly duration_seconds to out_path."""
    started = time.perf_counter()
    has_music, has_voice = plan.music_key is not None, plan.voice_key is not None
    partial = out_path.with_name(f".{out_path.name}.partial")
    try:
        if has_music or has_voice:
            loudness = _mix_and_normalise(plan, audio_files, duration_seconds, partial)
        else:
            _write_silence(duration_seconds, partial)
            loudness = Loudness(integrated_lufs=None, true_peak_dbtp=None)
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    return AudioFacts(
        path=out_path,
        duration_seconds=duration_seconds,
        has_music=has_music,
        has_voice=has_voice,
        loudness=loudness,
        loudness_on_target=on_target(loudness, plan),
        build_seconds=time.perf_counter() - started,
    )


def _write_silence(duration: float, target: Path) -> None:
    _encode(["-f", "lavfi", "-i", f"anullsrc=r={AUDIO_SAMPLE_RATE}:cl=stereo"], duration, target)


def _mix_and_normalise(plan: AudioPlan, audio_files: Mapping[str, Path], duration: float, target: Path) -> Loudness:
    inputs, graph = mix_inputs(plan, audio_files, duration)
    with tempfile.TemporaryDirectory(prefix="pytoon-audio-") as scratch:
        mix_wav, levelled = Path(scratch) / "mix.wav", Path(scratch) / "levelled.wav"
        # Float WAV: nothing clips before the gain is set. Measured on the way out, in the same run.
        mix = _write_measured(
            [*inputs, "-filter_complex", f"{graph};[mix]{MEASURE}[measured]", "-map", "[measured]",
             "-t", f"{duration:.6f}"],
            mix_wav, label="audio mix",
        )  # fmt: skip
        if mix.integrated_lufs is None:
            _encode(media_input(mix_wav), duration, target)
            return measure_loudness(target)
        # Gain and limiting are settled on float WAV, which is cheap; the AAC encode, the slow step (about
        # 2 s per minute of audio), normally runs once.
        gain = plan.target_lufs - mix.integrated_lufs
        ceiling = plan.true_peak_db - TRUE_PEAK_HEADROOM_DB
        loudness = _level(mix_wav, mix, gain, ceiling, levelled)
        miss = plan.target_lufs - (loudness.integrated_lufs or plan.target_lufs)
        if abs(miss) > GAIN_TOLERANCE_LU and _peak_overshoot(loudness, plan) <= 0:
            # The limiter took loudness away (spiky material): make up for it once and limit again.
            gain += miss
            _level(mix_wav, mix, gain, ceiling, levelled)
        for _ in range(MAX_PEAK_PASSES):
            _encode(media_input(levelled), duration, target)
            loudness = measure_loudness(target)
            overshoot = _peak_overshoot(loudness, plan)
            if overshoot <= 0:
                break
            # AAC coding pushed peaks past the ceiling (clicks, noise bursts): limit lower.
            ceiling -= overshoot + TRUE_PEAK_STEP_DB
            _level(mix_wav, mix, gain, ceiling, levelled)
    if _peak_overshoot(loudness, plan) > 0:
        raise AudioError(f"True peak {loudness.true_peak_dbtp:.1f} dBTP is above {plan.true_peak_db} dBTP")
    return loudness


def _peak_overshoot(loudness: Loudness, plan: AudioPlan) -> float:
    return (loudness.true_peak_dbtp if loudness.true_peak_dbtp is not None else -math.inf) - plan.true_peak_db


def _level(mix_wav: Path, mix: Loudness, gain_db: float, ceiling_db: float, target: Path) -> Loudness:
    """Gain to the target (float WAV out); a true-peak limiter only when the gain would push peaks over the
    ceiling.

    The limiter runs at 4x the sample rate so that it sees inter-sample peaks (true peak, not sample
    peak), and its lookahead delay is compensated (latency=1) so the audio stays in sync with the video.
    """
    chain = f"volume={gain_db:.3f}dB"
    if mix.true_peak_dbtp is not None and mix.true_peak_dbtp + gain_db > ceiling_db:
        limit = max(ALIMITER_MIN_LIMIT, 10 ** (ceiling_db / 20))
        chain += (
            f",aresample={4 * AUDIO_SAMPLE_RATE}"
            f",alimiter=limit={limit:.5f}:attack=2:release=80:level=0:latency=1"
            f",aresample={AUDIO_SAMPLE_RATE}"
        )
    return _write_measured([*media_input(mix_wav), "-af", f"{chain},{MEASURE}"], target, label="audio level")


def _write_measured(args: list[str], target: Path, *, label: str) -> Loudness:
    """Write float WAV through an ebur128 meter at the end of the chain and return what it measured:
    one decode instead of a write and a separate scan."""
    result = run_ffmpeg(
        [*args, "-c:a", "pcm_f32le", "-y", output_target(target)],
        timeout=AUDIO_TIMEOUT_S, loglevel="info", label=label,
    )  # fmt: skip
    return parse_ebur128_summary(result.stderr.decode("utf-8", "replace"))


def _encode(inputs: list[str], duration: float, target: Path) -> None:
    run_ffmpeg(
        [*inputs,
         "-c:a", "aac", "-b:a", AAC_BITRATE, "-ar", str(AUDIO_SAMPLE_RATE), "-ac", "2",
         "-t", f"{duration:.6f}", "-map_metadata", "-1", "-f", "mp4", "-y", output_target(target)],
        timeout=AUDIO_TIMEOUT_S, label="audio encode",
    )  # fmt: skip


def on_target(loudness: Loudness, plan: AudioPlan) -> bool:
    """Within ±1 LU of the target. Only pathological material (isolated clicks, nothing but transients)
    can miss after limiting; it is delivered quieter rather than crushed, and reported as off target."""
    return loudness.integrated_lufs is None or abs(loudness.integrated_lufs - plan.target_lufs) <= 1.0
