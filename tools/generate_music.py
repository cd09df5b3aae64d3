"""Synthesise the named music library shipped in src/pytoon/music, deterministically, from code.

    .venv/bin/python tools/generate_music.py [--only NAME ...]

Every track is made here with numpy: drums, bass, chords, pads, arpeggios and melodies by additive and FM
synthesis with envelopes, on a sample-exact beat grid at the track's bpm, then encoded with the bundled
ffmpeg. Noise comes from a generator seeded by the track's name, so a run always writes the same audio.

A track is a whole number of bars rendered as a loop: whatever runs past the end (a note's release, an
echo, a reverb tail) is added back onto the start, and every filter, echo and reverb is circular, so the
last bar flows into the first with no fade and no click. The files are MP3 (LAME, 128 kbps CBR, 44.1 kHz
stereo): its gapless header makes ffmpeg decode exactly the samples written and repeat them bit for bit
under `-stream_loop`, which is how the audio step loops a bed. (AAC in MP4 from ffmpeg's encoder pads the
last frame and decodes its first frames differently on every repeat: a blip at each loop.)

manifest.json beside the files records each track's name, mood, bpm, bars, duration and file. What ships
is this script's output; it is re-run only to change a track. The tracks are the project's own work,
distributed under its licence with no royalties due.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import wave
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pytoon.render.ffmpeg import output_target, run_ffmpeg
from pytoon.render.probe import measure_loudness

SR = 44_100
BEATS_PER_BAR = 4
STEPS_PER_BAR = 16
OUT = Path(__file__).resolve().parent.parent / "src" / "pytoon" / "music"
MP3_BITRATE = "128k"
# Every track is levelled to the same loudness, so previews sound alike; the audio step normalises the
# bed of a video to its own target anyway.
TARGET_LUFS = -16.0
# Sample peaks above KNEE are bent smoothly towards CEILING (about -1.5 dBFS): MP3 coding adds a few tenths.
KNEE, CEILING = 0.6, 0.84
ENCODE_TIMEOUT_S = 120.0

NOTE_OFFSETS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
VELOCITIES = {"X": 1.0, "x": 0.75, "o": 0.4}


def hz(name: str) -> float:
    """Equal-tempered frequency of a note name such as "A4", "F#3" or "Bb1"."""
    letter, rest = name[0], name[1:]
    semitone = NOTE_OFFSETS[letter]
    while rest[0] in "#b":
        semitone += 1 if rest[0] == "#" else -1
        rest = rest[1:]
    midi = 12 * (int(rest) + 1) + semitone
    return 440.0 * 2 ** ((midi - 69) / 12)


def notes(names: str) -> list[float]:
    return [hz(name) for name in names.split()]


def _time(samples: int) -> np.ndarray:
    return np.arange(samples) / SR


# ---------------------------------------------------------------------------------------------------------
# Envelopes and oscillators
# ---------------------------------------------------------------------------------------------------------


def envelope(
    gate: float, *, attack: float = 0.004, decay: float = 1e9, sustain: float = 1.0, release: float = 0.1
) -> np.ndarray:
    """Attack from exactly 0 (raised cosine), exponential decay towards sustain while the gate is held, then
    an exponential release that is tapered to exactly 0: no note starts or ends with a step."""
    held = max(1, round(gate * SR))
    length = held + round(5 * release * SR)
    t = _time(length)
    env = sustain + (1 - sustain) * np.exp(-t / decay)
    env[held:] = env[held - 1] * np.exp(-(t[held:] - t[held - 1]) / release)
    rise = min(length, max(1, round(attack * SR)))
    env[:rise] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(rise) / rise)
    taper = min(length, 256)
    env[-taper:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(1, taper + 1) / taper)
    return env


def partials(freqs: Iterable[float], amps: Iterable[float], decays: Iterable[float], samples: int) -> np.ndarray:
    """A sum of decaying sines (partials above 18 kHz are left out)."""
    t = _time(samples)
    out = np.zeros(samples)
    for freq, amp, decay in zip(freqs, amps, decays, strict=True):
        if freq < 18_000:
            out += amp * np.sin(2 * np.pi * freq * t) * np.exp(-t / decay)
    return out


def wavetable(freq: float, *, odd_only: bool = False, brightness: float = 1.0) -> np.ndarray:
    """One period of a band-limited sawtooth (or square, odd harmonics only) for notes at `freq`."""
    size = 4096
    phase = np.arange(size) / size
    table = np.zeros(size)
    for k in range(1, min(60, int(16_000 / freq)) + 1):
        if odd_only and k % 2 == 0:
            continue
        table += np.sin(2 * np.pi * k * phase) / k * np.exp(-(k - 1) * (1 - brightness) * 0.25)
    return table / np.max(np.abs(table))


def oscillate(table: np.ndarray, freq: float | np.ndarray, samples: int, phase: float = 0.0) -> np.ndarray:
    """Read a wavetable at a constant or per-sample frequency (linear interpolation)."""
    step = np.broadcast_to(np.asarray(freq, dtype=float), (samples,)) / SR
    position = (phase + np.cumsum(step) - step[0]) % 1.0 * len(table)
    index = position.astype(int)
    frac = position - index
    return table[index] * (1 - frac) + table[(index + 1) % len(table)] * frac


def brightening(freq: float, samples: int, *, odd_only: bool, cutoff: np.ndarray, harmonics: int = 24) -> np.ndarray:
    """A sawtooth or square whose harmonics pass a moving low-pass (`cutoff` Hz per sample): the sound of a
    filter envelope, built additively so nothing aliases."""
    t = _time(samples)
    out = np.zeros(samples)
    for k in range(1, harmonics + 1):
        if (odd_only and k % 2 == 0) or k * freq > 16_000:
            continue
        response = 1 / np.sqrt(1 + (k * freq / cutoff) ** 4)
        out += np.sin(2 * np.pi * k * freq * t) / k * response
    return out


def pan(sound: np.ndarray, position: float) -> np.ndarray:
    """Mono → stereo with a constant-power pan (-1 left … +1 right)."""
    angle = (position + 1) * np.pi / 4
    return np.stack([sound * np.cos(angle), sound * np.sin(angle)]) * np.sqrt(2)


def response(freq: np.ndarray, low: float | None = None, high: float | None = None, order: int = 2) -> np.ndarray:
    """Gain of a zero-phase band-pass at `freq` (Hz): `low` the high-pass corner, `high` the low-pass one."""
    gain = np.ones_like(freq)
    if high is not None:
        gain /= np.sqrt(1 + (freq / high) ** (2 * order))
    if low is not None:
        gain /= np.sqrt(1 + (low / np.maximum(freq, 1e-3)) ** (2 * order))
    return gain


def band(sound: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Band-pass in the frequency domain, circular over the last axis."""
    freq = np.fft.rfftfreq(sound.shape[-1], 1 / SR)
    return np.fft.irfft(np.fft.rfft(sound, axis=-1) * response(freq, low, high), n=sound.shape[-1], axis=-1)


# ---------------------------------------------------------------------------------------------------------
# Instruments: each returns a mono (or stereo, shape (2, n)) sound at unit-ish level
# ---------------------------------------------------------------------------------------------------------


def piano(freq: float, gate: float, velocity: float = 0.8) -> np.ndarray:
    """Hammered strings: slightly stretched partials, higher ones dying sooner, two strings beating."""
    env = envelope(gate, attack=0.002, release=0.18)
    k = np.arange(1, 17)
    stretch = k * np.sqrt(1 + 0.0004 * k * k)
    amps = (np.abs(np.sin(np.pi * k / 7)) + 0.25) / k**1.3 * np.exp(-k * (1.1 - velocity) * 0.3)
    ring = float(np.clip(2.6 * (262 / freq) ** 0.6, 0.5, 7.0))
    decays = ring / (1 + 0.4 * (k - 1))
    tone = partials(freq * stretch, amps, decays, len(env)) + partials(freq * stretch * 1.0007, amps, decays, len(env))
    return 0.5 * velocity * tone * env


def electric_piano(freq: float, gate: float, velocity: float = 0.7) -> np.ndarray:
    """A tine piano by FM: a 1:1 pair for the body and a fast-dying 14:1 pair for the bell of the attack."""
    env = envelope(gate, attack=0.003, decay=1.6, sustain=0.0, release=0.25)
    t = _time(len(env))
    index = 0.25 + 1.6 * velocity * np.exp(-t / 0.5)
    body = np.sin(2 * np.pi * freq * t + index * np.sin(2 * np.pi * freq * t))
    tine = np.sin(2 * np.pi * freq * t + 2.0 * np.exp(-t / 0.04) * np.sin(2 * np.pi * 14 * freq * t))
    return velocity * (0.8 * body + 0.3 * velocity * tine * np.exp(-t / 0.2)) * env


def pluck(freq: float, gate: float, *, brightness: float = 0.6, position: float = 0.2, ring: float = 1.0) -> np.ndarray:
    """A plucked string: the pluck position shapes the spectrum, upper partials decay faster."""
    env = envelope(gate, attack=0.0015, release=0.08)
    k = np.arange(1, 25)
    amps = np.abs(np.sin(np.pi * k * position)) / k**1.4 * np.exp(-(k - 1) * (1 - brightness) * 0.35)
    decays = ring / (1 + 0.45 * (k - 1))
    return 0.9 * partials(freq * k, amps, decays, len(env)) * env


def bell(freq: float, gate: float, *, ring: float = 1.2) -> np.ndarray:
    """A struck metal bar (glockenspiel, celesta): inharmonic partials of a free bar."""
    env = envelope(gate, attack=0.001, release=0.3)
    ratios = np.array([1.0, 2.756, 5.404, 8.933])
    return partials(freq * ratios, [1.0, 0.35, 0.12, 0.05], ring / np.array([1, 2.5, 5, 8]), len(env)) * env


def marimba(freq: float, gate: float) -> np.ndarray:
    env = envelope(gate, attack=0.002, release=0.12)
    ring = float(np.clip(0.9 * (262 / freq) ** 0.5, 0.25, 1.5))
    return partials(freq * np.array([1.0, 3.93, 9.2]), [1.0, 0.3, 0.06], [ring, ring / 5, ring / 12], len(env)) * env


def synth_pluck(
    freq: float, gate: float, *, odd_only: bool = True, sweep: float = 0.08, peak: float = 6000
) -> np.ndarray:
    """An arpeggiator voice: square (or saw) through a low-pass that snaps shut after the attack."""
    env = envelope(gate, attack=0.002, decay=0.25, sustain=0.3, release=0.06)
    t = _time(len(env))
    cutoff = freq * 1.5 + peak * np.exp(-t / sweep)
    return 0.8 * brightening(freq, len(env), odd_only=odd_only, cutoff=cutoff) * env


def bass(freq: float, gate: float, *, bite: float = 1200, sweep: float = 0.06, sub: float = 0.6) -> np.ndarray:
    """Synth bass: a sawtooth through a low-pass with a short envelope, over a sine an octave below the
    harmonics' weight (the fundamental, for small speakers and big ones)."""
    env = envelope(gate, attack=0.003, decay=0.4, sustain=0.6, release=0.05)
    t = _time(len(env))
    cutoff = freq * 2 + bite * np.exp(-t / sweep)
    saw = brightening(freq, len(env), odd_only=False, cutoff=cutoff, harmonics=16)
    return (0.6 * saw + sub * np.sin(2 * np.pi * freq * t)) * env


def fm_bass(freq: float, gate: float, *, index: float = 2.0) -> np.ndarray:
    env = envelope(gate, attack=0.002, decay=0.12, sustain=0.5, release=0.03)
    t = _time(len(env))
    depth = 0.3 + index * np.exp(-t / 0.05)
    return np.sin(2 * np.pi * freq * t + depth * np.sin(2 * np.pi * freq * t)) * env


def sub_bass(freq: float, gate: float, *, attack: float = 0.01, release: float = 0.15) -> np.ndarray:
    env = envelope(gate, attack=attack, release=release)
    t = _time(len(env))
    return (np.sin(2 * np.pi * freq * t) + 0.15 * np.sin(4 * np.pi * freq * t)) * env


def slap_bass(freq: float, gate: float, *, pop: float = 0.0) -> np.ndarray:
    """A finger-funk bass: round body, a bright thumb or pop transient."""
    env = envelope(gate, attack=0.002, decay=0.5, sustain=0.5, release=0.04)
    t = _time(len(env))
    cutoff = freq * 3 + (2500 + 3000 * pop) * np.exp(-t / (0.03 + 0.02 * pop))
    return (
        0.7 * brightening(freq, len(env), odd_only=False, cutoff=cutoff, harmonics=20)
        + 0.5 * np.sin(2 * np.pi * freq * t)
    ) * env


def clav(freq: float, gate: float) -> np.ndarray:
    """A clavinet-like stab: a narrow pulse (FM) with a bright, fast-closing tone."""
    env = envelope(gate, attack=0.001, decay=0.15, sustain=0.35, release=0.03)
    t = _time(len(env))
    depth = 1.2 + 2.0 * np.exp(-t / 0.04)
    return 0.7 * np.sin(2 * np.pi * freq * t + depth * np.sin(2 * np.pi * 2 * freq * t)) * env


def brass(freq: float, gate: float) -> np.ndarray:
    """A brass stab: a sawtooth whose brightness swells in with the breath, then settles."""
    env = envelope(gate, attack=0.025, decay=0.3, sustain=0.7, release=0.09)
    t = _time(len(env))
    cutoff = freq * (1.5 + 4 * (1 - np.exp(-t / 0.05)) * (0.6 + 0.4 * np.exp(-t / 0.3)))
    return 0.9 * brightening(freq, len(env), odd_only=False, cutoff=cutoff, harmonics=20) * env


def pad(
    freq: float,
    gate: float,
    *,
    attack: float = 0.8,
    release: float = 1.2,
    detune: float = 0.1,
    brightness: float = 0.6,
    odd_only: bool = False,
    vibrato: float = 0.0,
) -> np.ndarray:
    """Three detuned sawtooths (or squares) spread across the stereo field, with a slow attack."""
    env = envelope(gate, attack=attack, release=release)
    t = _time(len(env))
    table = wavetable(freq, odd_only=odd_only, brightness=brightness)
    out = np.zeros((2, len(env)))
    for cents, position, phase in ((-1.0, -0.7, 0.0), (0.0, 0.0, 0.37), (1.0, 0.7, 0.71)):
        voice_freq = freq * 2 ** (cents * detune / 12) * (1 + vibrato * np.sin(2 * np.pi * 5.2 * t + phase * 6))
        out += pan(oscillate(table, voice_freq, len(env), phase), position)
    return out * env / 3


def lead(freq: float, gate: float, *, vibrato: float = 0.004) -> np.ndarray:
    """A singing sawtooth lead; vibrato fades in after the attack."""
    env = envelope(gate, attack=0.02, decay=0.6, sustain=0.75, release=0.15)
    t = _time(len(env))
    depth = vibrato * np.minimum(1.0, t / 0.35)
    voice = freq * (1 + depth * np.sin(2 * np.pi * 5.5 * t))
    return 0.7 * oscillate(wavetable(freq, brightness=0.55), voice, len(env)) * env


def whistle(freq: float, gate: float) -> np.ndarray:
    env = envelope(gate, attack=0.03, release=0.08)
    t = _time(len(env))
    voice = freq * (1 + 0.006 * np.minimum(1.0, t / 0.2) * np.sin(2 * np.pi * 6 * t))
    return (np.sin(2 * np.pi * np.cumsum(voice) / SR) + 0.05 * np.sin(4 * np.pi * np.cumsum(voice) / SR)) * env


# Drums take the song's generator for their noise, so each hit is a little different.


def noise(rng: np.random.Generator, seconds: float, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Band-limited white noise. Filtered at a power-of-two length, then cut: an FFT of a length with a large
    prime factor is many times slower."""
    samples = round(seconds * SR)
    return band(rng.standard_normal(1 << (samples - 1).bit_length()), low, high)[:samples]


def kick(
    rng: np.random.Generator,
    *,
    top: float = 150,
    bottom: float = 48,
    decay: float = 0.32,
    click: float = 0.25,
    drive: float = 1.6,
) -> np.ndarray:
    env = envelope(decay * 0.2, attack=0.001, decay=decay, sustain=0.0, release=decay * 0.6)
    t = _time(len(env))
    freq = bottom + (top - bottom) * np.exp(-t / 0.035)
    body = np.sin(2 * np.pi * np.cumsum(freq) / SR)
    snap = click * noise(rng, len(env) / SR, 1500, 7000) * np.exp(-t / 0.004)
    return np.tanh(drive * (body + snap) * env) / np.tanh(drive)


def snare(rng: np.random.Generator, *, tone: float = 185, decay: float = 0.16, rattle: float = 0.8) -> np.ndarray:
    env = envelope(0.01, attack=0.001, decay=decay, sustain=0.0, release=decay)
    t = _time(len(env))
    body = (np.sin(2 * np.pi * tone * t) + 0.5 * np.sin(2 * np.pi * tone * 1.6 * t)) * np.exp(-t / 0.05)
    wires = noise(rng, len(env) / SR, 1200, 9000)
    return (0.6 * body + rattle * wires / np.std(wires) * 0.35) * env


def clap(rng: np.random.Generator, *, tail: float = 0.12) -> np.ndarray:
    """Several hands a few milliseconds apart, then the room."""
    length = round((tail * 5 + 0.04) * SR)
    t = _time(length)
    bursts = sum(np.exp(-np.maximum(t - offset, 0) / 0.004) * (t >= offset) for offset in (0.0, 0.011, 0.023))
    shape = 0.7 * bursts + np.exp(-np.maximum(t - 0.03, 0) / tail) * (t >= 0.03)
    sound = noise(rng, length / SR, 900, 4500) * shape
    return sound / np.max(np.abs(sound)) * envelope(length / SR - 0.01, attack=0.0008, release=0.002)[:length]


def hat(rng: np.random.Generator, *, decay: float = 0.04) -> np.ndarray:
    env = envelope(0.002, attack=0.0007, decay=decay, sustain=0.0, release=decay)
    sound = noise(rng, len(env) / SR, 7000, None)
    return sound / np.std(sound) * 0.3 * env


def shaker(rng: np.random.Generator) -> np.ndarray:
    env = envelope(0.02, attack=0.012, decay=0.04, sustain=0.0, release=0.04)
    sound = noise(rng, len(env) / SR, 4500, 11_000)
    return sound / np.std(sound) * 0.25 * env


def tom(rng: np.random.Generator, freq: float, *, decay: float = 0.45) -> np.ndarray:
    """A floor tom or taiko: a pitched membrane that drops in pitch, with a soft stick noise."""
    env = envelope(0.01, attack=0.001, decay=decay, sustain=0.0, release=decay)
    t = _time(len(env))
    pitch = freq * (1 + 0.6 * np.exp(-t / 0.03))
    body = np.sin(2 * np.pi * np.cumsum(pitch) / SR)
    stick = noise(rng, len(env) / SR, 300, 3000) * np.exp(-t / 0.02)
    return np.tanh(1.5 * (body + 0.3 * stick / np.std(stick)) * env)


def cymbal(rng: np.random.Generator, *, decay: float = 1.6) -> np.ndarray:
    """A crash: bright noise and a cluster of inharmonic FM partials, slowly decaying."""
    env = envelope(0.02, attack=0.001, decay=decay, sustain=0.0, release=decay)
    t = _time(len(env))
    metal = sum(np.sin(2 * np.pi * f * t + 2 * np.sin(2 * np.pi * f * 1.41 * t)) for f in (3120, 4270, 5560, 7370))
    sound = noise(rng, len(env) / SR, 3500, 15_000)
    return (0.3 * sound / np.std(sound) + 0.05 * metal) * env


def boom(rng: np.random.Generator) -> np.ndarray:
    """A cinematic impact: a deep pitch drop with a noise burst."""
    env = envelope(0.05, attack=0.002, decay=1.2, sustain=0.0, release=0.8)
    t = _time(len(env))
    freq = 32 + 90 * np.exp(-t / 0.08)
    body = np.sin(2 * np.pi * np.cumsum(freq) / SR)
    burst = noise(rng, len(env) / SR, 80, 2500) * np.exp(-t / 0.09)
    return np.tanh(1.4 * (body + 0.5 * burst / np.std(burst)) * env)


def swell(rng: np.random.Generator, seconds: float, *, low: float = 400, high: float = 9000) -> np.ndarray:
    """A riser: noise whose band opens and level grows over `seconds`, cut off smoothly at the end."""
    length = round(seconds * SR)
    t = _time(length)
    progress = t / seconds
    bright = noise(rng, seconds, high / 3, high)
    dark = noise(rng, seconds, low / 2, low * 2)
    mix = dark * (1 - progress) + bright * progress
    shape = progress**2.5 * (0.5 - 0.5 * np.cos(np.pi * np.minimum(1.0, (seconds - t) / 0.02)))
    return mix / np.std(mix) * 0.3 * shape


def crackle(rng: np.random.Generator, samples: int, *, per_second: float = 6.0) -> np.ndarray:
    """Vinyl surface: soft hiss and sparse, dull pops (a whole loop long, so it wraps by itself)."""
    hiss = band(rng.standard_normal(samples), 800, 6000) * 0.02
    pops = np.zeros(samples)
    count = round(per_second * samples / SR)
    pops[rng.integers(0, samples, count)] = rng.uniform(-1, 1, count)
    return hiss + band(pops, 300, 2500) * 3.0


# ---------------------------------------------------------------------------------------------------------
# Songs: a loop of whole bars, parts in buses, circular effects, one master
# ---------------------------------------------------------------------------------------------------------


def loop_samples(bpm: int, bars: int) -> int:
    """The loop's length: `bars` bars at `bpm`, to the nearest sample, so the tempo heard is the one listed.
    (Mixing is slower on a length with a large prime factor, a few seconds a track; a length rounded to small
    factors would drift off the beat grid by up to a tenth of a second a loop.)"""
    return round(bars * BEATS_PER_BAR * 60 * SR / bpm)


@dataclass(frozen=True)
class Bus:
    """How a group of parts is mixed: level, tone, reverb and echo sends, ducking under the kick."""

    gain: float = 1.0
    low: float | None = None  # high-pass corner (Hz)
    high: float | None = None  # low-pass corner (Hz)
    reverb: float = 0.0
    echo: float = 0.0
    duck: float = 0.0


@dataclass
class Song:
    """A loop being composed. Positions are in beats from the loop start; anything placed past the end
    wraps around to the start, so the loop is seamless by construction."""

    bpm: int
    bars: int
    seed: int
    buses: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.length = loop_samples(self.bpm, self.bars)
        # The beat is a fraction of a sample longer or shorter than 60/bpm: the grid divides the loop exactly.
        self.beat_samples = self.length / (self.bars * BEATS_PER_BAR)
        self.rng = np.random.default_rng(self.seed)

    def seconds(self, beats: float) -> float:
        return beats * self.beat_samples / SR

    def add(
        self, bus: str, sound: np.ndarray, beat: float, *, gain: float = 1.0, position: float = 0.0, jitter: float = 0.0
    ) -> None:
        stereo = sound if sound.ndim == 2 else pan(sound, position)
        if bus not in self.buses:
            self.buses[bus] = np.zeros((2, self.length))
        track = self.buses[bus]
        start = round(beat * self.beat_samples) + (round(self.rng.normal(0, jitter) * SR) if jitter else 0)
        placed = 0
        while placed < stereo.shape[1]:
            at = (start + placed) % self.length
            take = min(stereo.shape[1] - placed, self.length - at)
            track[:, at : at + take] += gain * stereo[:, placed : placed + take]
            placed += take

    def play(
        self,
        bus: str,
        pattern: str,
        sounds: list[np.ndarray],
        bars: Iterable[int],
        *,
        gain: float = 1.0,
        position: float = 0.0,
        swing: float = 0.0,
        jitter: float = 0.0,
    ) -> None:
        """Hits from a step pattern (16 steps a bar; a longer pattern spans several bars): X loud, x normal,
        o ghost, . rest. `swing` delays the off-beat sixteenths by that share of a sixteenth."""
        span = len(pattern) // STEPS_PER_BAR
        for bar in (bar for bar in bars if bar < self.bars):
            for step, char in enumerate(pattern):
                if char == "." or step // STEPS_PER_BAR != bar % span:
                    continue
                local = step % STEPS_PER_BAR
                beat = bar * BEATS_PER_BAR + (local + (swing if local % 2 else 0.0)) / 4
                sound = sounds[int(self.rng.integers(len(sounds)))]
                self.add(bus, sound, beat, gain=gain * VELOCITIES[char], position=position, jitter=jitter)

    def duck_curve(self, depth: float) -> np.ndarray:
        """Gain that dips on every beat and recovers over it (side-chained to a four-on-the-floor kick)."""
        since = (np.arange(self.length) % self.beat_samples) / SR
        dip = (1 - np.exp(-since / 0.004)) * np.exp(-since / (0.35 * self.seconds(1)))
        return 1 - depth * dip

    def mix(
        self, buses: dict[str, Bus], *, room: float = 2.0, echo_beats: float = 0.75, echo_feedback: float = 0.4
    ) -> np.ndarray:
        """Every bus filtered, ducked and levelled, plus the echo and reverb returns. All of it is done on the
        loop's spectrum: filters, echoes and the room are circular, so what leaves the end enters the start."""
        freq = np.fft.rfftfreq(self.length, 1 / SR)
        dry = np.zeros((2, len(freq)), dtype=complex)
        reverb_send, echo_send = np.zeros_like(dry), np.zeros_like(dry)
        for name, audio in self.buses.items():
            setting = buses.get(name, Bus())
            signal = audio * self.duck_curve(setting.duck) if setting.duck else audio
            spectrum = np.fft.rfft(signal, axis=1) * (setting.gain * response(freq, setting.low, setting.high))
            dry += spectrum
            reverb_send += setting.reverb * spectrum
            echo_send += setting.echo * spectrum
        echoes = self._echoes(echo_send, freq, echo_beats, echo_feedback)
        wet = (reverb_send + 0.3 * echoes) * self._room(seconds=room)
        return np.fft.irfft((dry + echoes + wet) * response(freq, 28, None), n=self.length, axis=1)

    def _echoes(self, send: np.ndarray, freq: np.ndarray, beats: float, feedback: float) -> np.ndarray:
        """Ping-pong echoes, each darker than the last (as a spectrum: a delay is a phase turn)."""
        delay = np.exp(-2j * np.pi * freq * round(beats * self.beat_samples) / SR)
        repeat = send * response(freq, 200, 5000)
        wet = np.zeros_like(send)
        for index in range(1, 7):
            repeat = repeat * response(freq, None, 4500) * feedback * delay
            wet += repeat[::-1] if index % 2 else repeat
        return wet

    def _room(self, *, seconds: float) -> np.ndarray:
        """A diffuse room's spectrum: decorrelated, exponentially decaying noise per channel."""
        length = min(round(seconds * 1.5 * SR), self.length)
        t = _time(length)
        impulse = self.rng.standard_normal((2, length)) * np.exp(-6.9 * t / seconds)
        impulse[:, : round(0.018 * SR)] = 0  # pre-delay
        impulse = band(impulse, 150, 6000)
        impulse /= np.sqrt(np.sum(impulse**2, axis=1, keepdims=True))
        return np.fft.rfft(impulse, n=self.length, axis=1)


def master(mixed: np.ndarray) -> np.ndarray:
    """A touch of saturation to glue the mix (pointwise, so the loop stays seamless)."""
    return np.tanh(1.2 * mixed / np.max(np.abs(mixed))) / np.tanh(1.2)


def soft_ceiling(samples: np.ndarray) -> np.ndarray:
    """Peaks above KNEE bent smoothly towards CEILING; everything below untouched."""
    magnitude = np.abs(samples)
    over = magnitude > KNEE
    bent = KNEE + (CEILING - KNEE) * np.tanh((magnitude[over] - KNEE) / (CEILING - KNEE))
    out = samples.copy()
    out[over] = np.sign(samples[over]) * bent
    return out


# ---------------------------------------------------------------------------------------------------------
# The tracks
# ---------------------------------------------------------------------------------------------------------


def _chords(
    song: Song,
    bus: str,
    progression: list[list[float]],
    voice: Callable[[float, float], np.ndarray],
    *,
    beats_each: int,
    gain: float,
) -> None:
    """One sustained chord every `beats_each` beats through the whole loop, cycling through the progression."""
    for index, beat in enumerate(range(0, song.bars * BEATS_PER_BAR, beats_each)):
        for freq in progression[index % len(progression)]:
            song.add(bus, voice(freq, song.seconds(beats_each)), beat, gain=gain)


def upbeat_corporate(song: Song) -> None:
    """G major, I–V–vi–IV: pluck chords on eighths, driving bass, four on the floor, bell arpeggio."""
    rng = song.rng
    pluck_chords = [notes("D4 G4 B4"), notes("D4 F#4 A4"), notes("E4 G4 B4"), notes("E4 G4 C5")]
    pad_chords = [notes("G3 B3 D4"), notes("F#3 A3 D4"), notes("G3 B3 E4"), notes("G3 C4 E4")]
    roots = notes("G2 D2 E2 C2")
    arps = [notes("G5 B5 D6 B5"), notes("F#5 A5 D6 A5"), notes("G5 B5 E6 B5"), notes("G5 C6 E6 C6")]
    every = range(song.bars)
    for bar in every:
        chord = bar % 4
        for eighth in range(8):
            velocity = 0.9 if eighth % 2 else 0.6
            for freq in pluck_chords[chord]:
                sound = pluck(freq, song.seconds(0.4), brightness=0.75, position=0.13, ring=0.5)
                song.add("keys", sound, bar * 4 + eighth / 2, gain=velocity, position=0.25 if eighth % 2 else -0.25)
            root = roots[chord] * (2 if eighth == 7 else 1)
            song.add(
                "bass", bass(root, song.seconds(0.35), bite=900), bar * 4 + eighth / 2, gain=0.8 if eighth % 2 else 1.0
            )
        if bar >= 4:
            for step in range(8):
                freq = arps[chord][step % 4]
                song.add(
                    "bells",
                    bell(freq, song.seconds(0.4), ring=0.9),
                    bar * 4 + step / 2 + 0.25,
                    gain=0.7,
                    position=0.5 * np.sin(step),
                )
    _chords(
        song, "pad", pad_chords, lambda f, s: pad(f, s, attack=0.3, release=0.6, brightness=0.4), beats_each=4, gain=0.5
    )
    kicks, claps = [kick(rng) for _ in range(3)], [clap(rng) for _ in range(3)]
    song.play("drums", "X...X...X...X...", kicks, every, gain=0.9)
    song.play("drums", "....X.......X...", claps, every, gain=0.6)
    song.play("shaker", "xoxoxoxoxoxoxoxo", [shaker(rng) for _ in range(4)], every, gain=0.8, position=0.3)
    song.play(
        "drums",
        "..x...x...x...x.",
        [hat(rng, decay=0.18) for _ in range(2)],
        range(4, song.bars),
        gain=0.5,
        position=-0.2,
    )
    song.play("drums", "............xxXX", [snare(rng) for _ in range(3)], [3, 7, song.bars - 1], gain=0.4)
    song.play("drums", "X...............", [cymbal(rng)], [0, 4], gain=0.45)


def calm_ambient(song: Song) -> None:
    """D major, slow: wide pads two bars a chord, a sub bass, a soft marimba pulse, a few piano notes."""
    progression = [notes("D3 A3 C#4 F#4"), notes("B2 F#3 A3 C#4 D4"), notes("G2 D3 F#3 B3"), notes("A2 E3 B3 C#4")]
    roots = notes("D2 B1 G1 A1")
    pulses = [notes("F#4 A4 C#5 A4"), notes("D4 F#4 B4 F#4"), notes("D4 F#4 B4 F#4"), notes("C#4 E4 A4 E4")]
    melody = {1: notes("A5"), 3: notes("F#5"), 5: notes("B5"), 7: notes("E5")}
    for bar in range(song.bars):
        chord = (bar // 2) % 4
        if bar % 2 == 0:
            for freq in progression[chord]:
                song.add(
                    "pad",
                    pad(freq, song.seconds(8), attack=1.5, release=2.5, brightness=0.3, detune=0.12),
                    bar * 4,
                    gain=0.55,
                )
            song.add("bass", sub_bass(roots[chord], song.seconds(8), attack=0.4, release=1.0), bar * 4, gain=0.6)
        for step in range(8):
            freq = pulses[chord][step % 4]
            song.add(
                "pulse",
                marimba(freq, song.seconds(0.5)),
                bar * 4 + step / 2,
                gain=0.5 if step % 2 else 0.75,
                position=-0.35 if step % 2 else 0.35,
            )
        if bar in melody:
            song.add("piano", piano(melody[bar][0], song.seconds(2), velocity=0.5), bar * 4 + 2, gain=0.6)
    song.play(
        "pulse",
        "x.......o.......",
        [kick(song.rng, top=90, bottom=45, decay=0.4, click=0.0, drive=1.0)],
        range(song.bars),
        gain=0.35,
    )


def energetic_pop(song: Song) -> None:
    """A minor, vi–IV–I–V: pumping supersaw chords, off-beat bass, claps, hats, a synth hook and a riser."""
    rng = song.rng
    chords = [notes("A3 C4 E4 A4"), notes("A3 C4 F4 A4"), notes("G3 C4 E4 G4"), notes("G3 B3 D4 G4")]
    roots = notes("A1 F1 C2 G1")
    hook = [
        ("E5", 0, 0.5),
        ("E5", 0.75, 0.25),
        ("D5", 1.5, 0.5),
        ("C5", 2, 0.5),
        ("D5", 2.75, 0.75),
        ("E5", 3.5, 0.5),
        ("A5", 4, 0.5),
        ("G5", 4.75, 0.25),
        ("E5", 5.5, 0.5),
        ("C5", 6, 0.5),
        ("D5", 6.5, 0.5),
        ("B4", 7, 1.0),
    ]
    every = range(song.bars)
    _chords(
        song,
        "chords",
        chords,
        lambda f, s: pad(f, s, attack=0.01, release=0.2, detune=0.15, brightness=0.8),
        beats_each=4,
        gain=0.55,
    )
    for bar in every:
        root = roots[bar % 4]
        for eighth in range(1, 8, 2):
            song.add(
                "bass", bass(root * (2 if eighth == 5 else 1), song.seconds(0.45), bite=1800), bar * 4 + eighth / 2
            )
        song.add("bass", sub_bass(root, song.seconds(3.8), attack=0.02, release=0.08), bar * 4, gain=0.45)
        if bar >= 8:
            for name, start, length in hook:
                if (bar - 8) % 2 == start // 4:
                    song.add(
                        "lead",
                        synth_pluck(hz(name), song.seconds(length), odd_only=False, sweep=0.12, peak=5000),
                        bar * 4 + start % 4,
                        gain=0.6,
                    )
    kicks = [kick(rng, top=170, bottom=50, decay=0.28, drive=2.2) for _ in range(3)]
    song.play("drums", "X...X...X...X...", kicks, every)
    song.play("drums", "....X.......X...", [clap(rng) for _ in range(3)], every, gain=0.7)
    song.play("drums", "....x.......x...", [snare(rng, tone=200) for _ in range(3)], every, gain=0.35)
    song.play("hats", "xoxoxoxoxoxoxoxo", [hat(rng, decay=0.03) for _ in range(4)], every, gain=0.6, position=0.25)
    song.play(
        "hats",
        "..X...X...X...X.",
        [hat(rng, decay=0.2) for _ in range(2)],
        range(8, song.bars),
        gain=0.5,
        position=-0.2,
    )
    song.play("drums", "X...............", [cymbal(rng)], [0, 8], gain=0.5)
    song.play("drums", "........xxxxXXXX", [snare(rng, tone=210) for _ in range(3)], [song.bars - 1], gain=0.45)
    song.add("fx", swell(rng, song.seconds(4)), (song.bars - 1) * 4, gain=0.8)


def cinematic_build(song: Song) -> None:
    """D minor, i–VI–III–VII: low strings, then an ostinato, then taiko and brass, rising into the impact
    that opens the loop."""
    rng = song.rng
    strings = [notes("D2 A2 D3 F3"), notes("Bb1 F2 D3 F3"), notes("F2 C3 F3 A3"), notes("C2 G2 E3 G3")]
    ostinato = [notes("D4 A4 F4 A4"), notes("D4 Bb4 F4 Bb4"), notes("C4 A4 F4 A4"), notes("C4 G4 E4 G4")]
    horns = [notes("D4 F4 A4"), notes("D4 F4 Bb4"), notes("C4 F4 A4"), notes("C4 E4 G4")]
    _chords(
        song,
        "strings",
        strings,
        lambda f, s: pad(f, s, attack=0.5, release=1.0, brightness=0.45, vibrato=0.003),
        beats_each=4,
        gain=0.6,
    )
    song.add("fx", boom(rng), 0, gain=1.0)
    song.play("fx", "X...............", [cymbal(rng, decay=2.5)], [0], gain=0.5)
    taiko = [tom(rng, 62, decay=0.6) for _ in range(3)]
    toms = [tom(rng, 110, decay=0.35) for _ in range(3)]
    song.play("drums", "X...............", taiko, range(0, 4), gain=0.8)
    song.play("drums", "X.......X.......", taiko, range(4, 8), gain=0.85)
    song.play("drums", "..........x.x...", toms, range(4, 8), gain=0.5, position=0.3)
    song.play("drums", "X.x.X.x.X.xxX.x.", taiko, range(8, song.bars), gain=0.9)
    song.play(
        "drums",
        "....x.......x...",
        [snare(rng, tone=170, decay=0.22) for _ in range(3)],
        range(8, song.bars),
        gain=0.45,
    )
    song.play("drums", "xxxxxxxxXXXXXXXX", toms, [song.bars - 1], gain=0.6, position=-0.3)
    for bar in range(4, song.bars):
        figure = ostinato[bar % 4]
        for step in range(8 if bar < 8 else 16):
            freq = figure[step % 4] * (0.5 if bar >= 8 and step % 8 >= 4 else 1)
            song.add(
                "ostinato",
                pad(freq, song.seconds(0.3 if bar < 8 else 0.15), attack=0.005, release=0.06, brightness=0.6),
                bar * 4 + step / (2 if bar < 8 else 4),
                gain=0.5 + 0.1 * (step % 2 == 0),
            )
    for bar in range(8, song.bars):
        for freq in horns[bar % 4]:
            song.add("brass", brass(freq, song.seconds(1.5)), bar * 4, gain=0.45)
            song.add("brass", brass(freq, song.seconds(0.9)), bar * 4 + 2.5, gain=0.35)
    song.add("fx", swell(rng, song.seconds(8), low=200, high=7000), (song.bars - 2) * 4, gain=0.9)


def lofi_chill(song: Song) -> None:
    """C major, ii–V–I–vi sevenths on a tine piano, dusty swung drums, warm bass, vinyl crackle."""
    rng = song.rng
    chords = [notes("F3 A3 C4 E4"), notes("F3 B3 E4"), notes("E3 G3 B3 D4"), notes("G3 B3 C4 E4")]
    roots = notes("D2 G2 C2 A1")
    fifths = notes("A2 D3 G2 E2")
    motif = [("A4", 0.0), ("C5", 0.75), ("E5", 1.5), ("D5", 2.5), ("B4", 3.0)]
    every = range(song.bars)
    for bar in every:
        chord = bar % 4
        for beat, length, velocity in ((0.0, 1.5, 0.65), (2.5, 1.0, 0.5)):
            for index, freq in enumerate(chords[chord]):
                song.add(
                    "keys",
                    electric_piano(freq, song.seconds(length), velocity),
                    bar * 4 + beat + index * 0.02,
                    gain=0.5,
                    position=-0.3 + 0.2 * index,
                    jitter=0.003,
                )
        song.add("bass", sub_bass(roots[chord], song.seconds(1.6), release=0.1), bar * 4, gain=0.85)
        song.add("bass", sub_bass(fifths[chord], song.seconds(0.4), release=0.08), bar * 4 + 2.5, gain=0.6)
        song.add("bass", sub_bass(roots[chord], song.seconds(0.4), release=0.08), bar * 4 + 3.25, gain=0.55)
        if bar >= 4:
            for name, beat in motif:
                song.add(
                    "bells",
                    bell(hz(name), song.seconds(0.6), ring=0.7),
                    bar * 4 + beat,
                    gain=0.35,
                    position=0.4,
                    jitter=0.004,
                )
    swing = 0.33
    song.play(
        "drums",
        "X.........X.....",
        [kick(rng, top=110, bottom=45, decay=0.3, click=0.1, drive=1.2) for _ in range(3)],
        every,
        gain=0.9,
        swing=swing,
    )
    song.play(
        "drums",
        ".......x........",
        [kick(rng, top=100, bottom=45, decay=0.25, click=0.1, drive=1.2)],
        every,
        gain=0.5,
        swing=swing,
    )
    song.play(
        "drums",
        "....X.......X...",
        [snare(rng, tone=175, decay=0.13, rattle=0.6) for _ in range(3)],
        every,
        gain=0.6,
        swing=swing,
    )
    song.play(
        "hats", "x.o.x.o.x.o.x.oo", [hat(rng, decay=0.05) for _ in range(4)], every, gain=0.7, swing=swing, jitter=0.004
    )
    song.add("vinyl", crackle(rng, song.length), 0, gain=0.6)


def inspiring_piano(song: Song) -> None:
    """C major, I–V–vi–IV then vi–IV–I–V: broken-chord piano and a melody, strings and light drums join."""
    rng = song.rng
    progression = ["C", "G", "Am", "F", "C", "G", "Am", "F", "Am", "F", "C", "G"]
    broken = {
        "C": notes("C3 G3 C4 E4 G4 E4 C4 G3"),
        "G": notes("B2 G3 B3 D4 G4 D4 B3 G3"),
        "Am": notes("A2 E3 A3 C4 E4 C4 A3 E3"),
        "F": notes("F2 C3 F3 A3 C4 A3 F3 C3"),
    }
    strings = {"C": notes("E4 G4 C5"), "G": notes("D4 G4 B4"), "Am": notes("E4 A4 C5"), "F": notes("F4 A4 C5")}
    melody = [
        [("E5", 0, 1.5), ("D5", 1.5, 0.5), ("C5", 2, 2)],
        [("D5", 0, 1.5), ("B4", 1.5, 0.5), ("G4", 2, 2)],
        [("C5", 0, 1), ("E5", 1, 1), ("A5", 2, 1.5), ("G5", 3.5, 0.5)],
        [("F5", 0, 1.5), ("E5", 1.5, 0.5), ("C5", 2, 1), ("D5", 3, 1)],
    ]
    for bar, chord in enumerate(progression[: song.bars]):
        for step, freq in enumerate(broken[chord]):
            # The pedal is down: every note of the bar rings to its end.
            song.add(
                "piano",
                piano(freq, song.seconds(4 - step / 2), velocity=0.55 + 0.1 * (step % 4 == 0)),
                bar * 4 + step / 2,
                gain=0.7,
                position=-0.2,
                jitter=0.003,
            )
        for name, beat, length in melody[bar % 4]:
            song.add(
                "piano",
                piano(hz(name), song.seconds(length), velocity=0.75),
                bar * 4 + beat,
                gain=0.8,
                position=0.2,
                jitter=0.003,
            )
        if bar >= 4:
            for freq in strings[chord]:
                song.add(
                    "strings",
                    pad(freq, song.seconds(4), attack=0.6, release=0.9, brightness=0.35, vibrato=0.003),
                    bar * 4,
                    gain=0.45,
                )
    later = range(4, song.bars)
    song.play(
        "drums",
        "X.......X.......",
        [kick(rng, top=120, bottom=48, decay=0.35, drive=1.2) for _ in range(2)],
        later,
        gain=0.7,
    )
    song.play("shaker", "x.o.x.o.x.o.x.o.", [shaker(rng) for _ in range(4)], later, gain=0.7, position=0.3)
    song.play("drums", "....x.......x...", [clap(rng, tail=0.2) for _ in range(3)], range(8, song.bars), gain=0.45)


def tech_pulse(song: Song) -> None:
    """F minor: rolling FM bass off the kick, sixteenth-note arpeggio with echoes, pumping pad, blips."""
    rng = song.rng
    progression = [notes("F3 Ab3 C4"), notes("F3 Ab3 Db4"), notes("Eb3 Ab3 C4"), notes("Eb3 G3 Bb3")]
    roots = notes("F1 Db1 Ab1 Eb1")
    arps = [notes("F4 Ab4 C5 F5"), notes("F4 Ab4 Db5 F5"), notes("Eb4 Ab4 C5 Eb5"), notes("Eb4 G4 Bb4 Eb5")]
    every = range(song.bars)
    _chords(
        song,
        "pad",
        progression,
        lambda f, s: pad(f, s, attack=0.2, release=0.5, odd_only=True, brightness=0.5),
        beats_each=8,
        gain=0.5,
    )
    for bar in every:
        chord = (bar // 2) % 4
        for beat in range(4):
            for sixteenth in (1, 2, 3):
                song.add(
                    "bass",
                    fm_bass(roots[chord] * 2, song.seconds(0.2), index=2.5 if sixteenth == 1 else 1.5),
                    bar * 4 + beat + sixteenth / 4,
                    gain=0.8,
                )
        if bar >= 2:
            for step in range(16):
                freq = arps[chord][(step * 3) % 4] * (2 if step % 8 >= 6 else 1)
                song.add(
                    "arp",
                    synth_pluck(freq, song.seconds(0.2), sweep=0.05),
                    bar * 4 + step / 4,
                    gain=0.45 + 0.15 * (step % 4 == 0),
                    position=0.4 if step % 2 else -0.4,
                )
    song.play(
        "drums", "X...X...X...X...", [kick(rng, top=160, bottom=44, decay=0.3, drive=2.0) for _ in range(2)], every
    )
    song.play("drums", "....X.......X...", [clap(rng, tail=0.1) for _ in range(3)], range(2, song.bars), gain=0.6)
    song.play("hats", "xoxXxoxXxoxXxoxX", [hat(rng, decay=0.025) for _ in range(4)], every, gain=0.6, position=0.2)
    song.play(
        "hats",
        "..x...x...x...x.",
        [hat(rng, decay=0.15) for _ in range(2)],
        range(8, song.bars),
        gain=0.45,
        position=-0.2,
    )
    blips = [fm_bass(hz(name), 0.05, index=4.0) for name in ("C6", "F6", "Ab6", "Eb6")]
    song.play("blips", "..x....x.x....x...x...x...x..x..", blips, every, gain=0.25, position=0.5)
    song.add("fx", swell(rng, song.seconds(4), low=600, high=10_000), (song.bars - 1) * 4, gain=0.6)


# Ukulele strings (re-entrant tuning, G4 C4 E4 A4) fretted for each chord.
UKULELE_CHORDS = {"C": "G4 C4 E4 C5", "Am": "A4 C4 E4 A4", "F": "A4 C4 F4 A4", "G7": "G4 D4 F4 B4"}


def playful_ukulele(song: Song) -> None:
    """C major, I–vi–IV–V7: ukulele strums, boom-chick pizzicato bass, glockenspiel tune, claps, shaker."""
    rng = song.rng
    progression = ["C", "Am", "F", "G7"]
    roots = {"C": notes("C3 G2"), "Am": notes("A2 E2"), "F": notes("F2 C3"), "G7": notes("G2 D3")}
    tune = [
        [("E5", 0.0, 0.5), ("G5", 0.5, 0.5), ("C6", 1.0, 0.5), ("G5", 2.0, 0.5), ("E5", 2.5, 0.5), ("G5", 3.0, 1.0)],
        [("A5", 0.0, 0.5), ("E5", 0.5, 0.5), ("C5", 1.0, 1.0), ("E5", 2.5, 0.5), ("A5", 3.0, 0.5), ("G5", 3.5, 0.5)],
        [("F5", 0.0, 0.5), ("A5", 0.5, 0.5), ("C6", 1.0, 0.5), ("A5", 2.0, 0.5), ("F5", 2.5, 0.5), ("A5", 3.0, 1.0)],
        [("G5", 0.0, 0.5), ("F5", 0.5, 0.25), ("E5", 0.75, 0.25), ("D5", 1.0, 1.0), ("B4", 2.0, 0.5), ("D5", 3.0, 1.0)],
    ]
    # Down, down-up, up-down-up in eighths: (eighth, down?, velocity)
    strums = [(0, True, 1.0), (2, True, 0.8), (3, False, 0.55), (5, False, 0.6), (6, True, 0.8), (7, False, 0.55)]
    for bar in range(song.bars):
        name = progression[bar % 4]
        strings = notes(UKULELE_CHORDS[name])
        for eighth, down, velocity in strums:
            order = strings if down else strings[::-1]
            for index, freq in enumerate(order):
                song.add(
                    "uke",
                    pluck(freq, song.seconds(0.55), brightness=0.7, position=0.22, ring=0.7),
                    bar * 4 + eighth / 2 + index * 0.03,
                    gain=velocity * (0.6 if down else 0.45),
                    position=-0.25,
                    jitter=0.002,
                )
        low, high = roots[name]
        song.add("bass", pluck(low, song.seconds(0.5), brightness=0.3, position=0.3, ring=0.5), bar * 4, gain=1.1)
        song.add("bass", pluck(high, song.seconds(0.5), brightness=0.3, position=0.3, ring=0.5), bar * 4 + 2, gain=0.9)
        if bar >= 4:
            for note, beat, length in tune[bar % 4]:
                song.add(
                    "glock", bell(hz(note), song.seconds(length), ring=0.8), bar * 4 + beat, gain=0.5, position=0.35
                )
        if bar >= 8:
            for note, beat, length in tune[bar % 4]:
                song.add(
                    "whistle",
                    whistle(hz(note) / 2, song.seconds(length * 0.9)),
                    bar * 4 + beat,
                    gain=0.25,
                    position=0.15,
                )
    every = range(song.bars)
    song.play(
        "drums",
        "X.......x.......",
        [kick(rng, top=120, bottom=55, decay=0.2, drive=1.0) for _ in range(2)],
        every,
        gain=0.6,
    )
    song.play("drums", "....X.......X...", [clap(rng, tail=0.08) for _ in range(4)], every, gain=0.55)
    song.play(
        "shaker", "x.o.x.o.x.o.x.ox", [shaker(rng) for _ in range(4)], every, gain=0.7, position=0.4, jitter=0.003
    )


def funky_groove(song: Song) -> None:
    """E minor (Dorian), Em9 and A13 vamp then C–B7 turnaround: slap bass, clav, ghost-note drums, horns."""
    rng = song.rng
    progression = ["Em", "Em", "A", "A", "Em", "Em", "A", "A", "C", "C", "B", "B"]
    clav_chords = {
        "Em": notes("G4 B4 D5 F#5"),
        "A": notes("G4 C#5 F#5"),
        "C": notes("G4 B4 E5"),
        "B": notes("A4 D#5 F#5"),
    }
    roots = {"Em": "E2", "A": "A1", "C": "C2", "B": "B1"}
    # (sixteenth, semitones above the root, pop?, length in sixteenths)
    groove = [
        (0, 0, False, 3),
        (3, 0, False, 1),
        (4, 12, True, 1),
        (6, 0, False, 1),
        (7, 10, False, 2),
        (10, 0, False, 1),
        (11, 7, False, 1),
        (12, 12, True, 1),
        (14, 10, False, 1),
        (15, 7, False, 1),
    ]
    stabs = "x..x..x.x..x.x.."
    for bar in range(song.bars):
        name = progression[bar % len(progression)]
        root = hz(roots[name])
        for step, semitones, popped, length in groove:
            freq = root * 2 ** (semitones / 12)
            song.add(
                "bass",
                slap_bass(freq, song.seconds(length / 4 * 0.8), pop=1.0 if popped else 0.0),
                bar * 4 + step / 4,
                gain=0.9 if popped else 0.75,
                jitter=0.002,
            )
        for step, char in enumerate(stabs):
            if char != ".":
                for freq in clav_chords[name]:
                    song.add(
                        "clav",
                        clav(freq, song.seconds(0.18)),
                        bar * 4 + step / 4 + 0.07 * (step % 2),
                        gain=0.32,
                        position=0.35,
                        jitter=0.002,
                    )
        if bar % 4 == 3:
            for freq in notes("E4 G4 B4") if name != "B" else notes("D#4 F#4 B4"):
                song.add("horns", brass(freq, song.seconds(0.4)), bar * 4 + 3.5, gain=0.45)
                song.add("horns", brass(freq * 2 ** (2 / 12), song.seconds(0.3)), bar * 4 + 2.75, gain=0.35)
    every = range(song.bars)
    swing = 0.15
    song.play(
        "drums",
        "X..x..X...X..x..",
        [kick(rng, top=130, bottom=50, decay=0.25, drive=1.5) for _ in range(3)],
        every,
        swing=swing,
    )
    song.play(
        "drums", "....X..o.o..X..o", [snare(rng, tone=210, decay=0.14) for _ in range(4)], every, gain=0.65, swing=swing
    )
    song.play(
        "hats",
        "xoxoXoxoxoxoXoxo",
        [hat(rng, decay=0.035) for _ in range(4)],
        every,
        gain=0.6,
        swing=swing,
        position=0.3,
    )
    song.play("hats", "..............x.", [hat(rng, decay=0.2)], every, gain=0.45, swing=swing, position=0.3)


def retro_synthwave(song: Song) -> None:
    """A minor, i–VI–III–VII: eighth-note saw bass, gated snare in a big room, echoing arpeggio, lush pad,
    a singing lead."""
    rng = song.rng
    progression = [notes("A3 C4 E4"), notes("A3 C4 F4"), notes("G3 C4 E4"), notes("G3 B3 D4")]
    roots = notes("A1 F1 C2 G1")
    arps = [notes("A4 C5 E5 A5"), notes("F4 A4 C5 F5"), notes("E4 G4 C5 E5"), notes("D4 G4 B4 D5")]
    tune = [
        ("E5", 0, 2),
        ("D5", 2, 1),
        ("C5", 3, 1),
        ("C5", 4, 2),
        ("A4", 6, 2),
        ("G4", 8, 2),
        ("C5", 10, 2),
        ("B4", 12, 3),
        ("D5", 15, 1),
    ]
    every = range(song.bars)
    _chords(
        song,
        "pad",
        progression,
        lambda f, s: pad(f, s, attack=0.4, release=0.9, detune=0.14, brightness=0.45, vibrato=0.002),
        beats_each=4,
        gain=0.55,
    )
    for bar in every:
        root = roots[bar % 4]
        for eighth in range(8):
            song.add(
                "bass",
                bass(root * (2 if eighth % 2 else 1), song.seconds(0.42), bite=1400, sub=0.5),
                bar * 4 + eighth / 2,
                gain=0.85,
            )
        if bar >= 4:
            for step in range(16):
                pattern = (0, 1, 2, 3, 2, 1, 2, 3)
                song.add(
                    "arp",
                    synth_pluck(arps[bar % 4][pattern[step % 8]], song.seconds(0.2), odd_only=False, sweep=0.06),
                    bar * 4 + step / 4,
                    gain=0.4,
                    position=0.3,
                )
        if bar >= 8:
            for name, beat, length in tune:
                if beat // 4 == bar % 4:
                    song.add(
                        "lead",
                        lead(hz(name), song.seconds(length * 0.95)),
                        bar * 4 + beat % 4,
                        gain=0.45,
                        position=-0.1,
                    )
    song.play(
        "drums", "X.......X.......", [kick(rng, top=140, bottom=48, decay=0.35, drive=1.6) for _ in range(2)], every
    )
    song.play(
        "snare", "....X.......X...", [snare(rng, tone=180, decay=0.2, rattle=1.0) for _ in range(3)], every, gain=0.7
    )
    song.play("hats", "x.x.x.x.x.x.x.x.", [hat(rng, decay=0.05) for _ in range(3)], every, gain=0.5, position=0.25)
    song.play("drums", "X...............", [cymbal(rng, decay=2.0)], [0, 8], gain=0.4)


@dataclass(frozen=True)
class Track:
    name: str
    mood: str
    bpm: int
    bars: int
    compose: Callable[[Song], None]
    buses: dict[str, Bus]
    room: float = 2.0
    echo_beats: float = 0.75


TRACKS = [
    Track(
        name="upbeat_corporate",
        mood="upbeat",
        bpm=116,
        bars=12,
        compose=upbeat_corporate,
        buses={
            "keys": Bus(gain=0.5, low=180, high=7000, reverb=0.25, echo=0.15),
            "bass": Bus(gain=0.45, high=2500, duck=0.3),
            "bells": Bus(gain=0.25, reverb=0.35, echo=0.25),
            "pad": Bus(gain=0.3, high=3000, reverb=0.4, duck=0.35),
            "drums": Bus(gain=0.75, reverb=0.08),
            "shaker": Bus(gain=0.3, low=3000, reverb=0.1),
        },
    ),
    Track(
        name="calm_ambient",
        mood="calm",
        bpm=72,
        bars=8,
        compose=calm_ambient,
        buses={
            "pad": Bus(gain=0.5, high=3500, reverb=0.6),
            "bass": Bus(gain=0.45, high=400),
            "pulse": Bus(gain=0.45, reverb=0.5, echo=0.35),
            "piano": Bus(gain=0.35, high=5000, reverb=0.7, echo=0.3),
        },
        room=3.5,
        echo_beats=0.75,
    ),
    Track(
        name="energetic_pop",
        mood="energetic",
        bpm=128,
        bars=16,
        compose=energetic_pop,
        buses={
            "chords": Bus(gain=0.5, low=200, high=7000, reverb=0.25, duck=0.7),
            "bass": Bus(gain=0.45, high=3000, duck=0.5),
            "lead": Bus(gain=0.45, reverb=0.25, echo=0.25),
            "drums": Bus(gain=0.9, reverb=0.06),
            "hats": Bus(gain=0.3, low=5000, reverb=0.05),
            "fx": Bus(gain=0.35, reverb=0.3),
        },
        room=1.6,
        echo_beats=0.75,
    ),
    Track(
        name="cinematic_build",
        mood="dramatic",
        bpm=90,
        bars=12,
        compose=cinematic_build,
        buses={
            "strings": Bus(gain=0.45, high=3500, reverb=0.5),
            "ostinato": Bus(gain=0.28, low=200, high=5000, reverb=0.35),
            "brass": Bus(gain=0.3, high=4000, reverb=0.45),
            "drums": Bus(gain=0.85, high=6000, reverb=0.35),
            "fx": Bus(gain=0.6, reverb=0.5),
        },
        room=3.0,
    ),
    Track(
        name="lofi_chill",
        mood="chill",
        bpm=82,
        bars=8,
        compose=lofi_chill,
        buses={
            "keys": Bus(gain=0.75, high=4000, reverb=0.3, echo=0.1),
            "bass": Bus(gain=0.35, high=350),
            "bells": Bus(gain=0.3, high=5000, reverb=0.4, echo=0.2),
            "drums": Bus(gain=0.6, high=6000, reverb=0.1),
            "hats": Bus(gain=0.28, low=4000, high=8000, reverb=0.1),
            "vinyl": Bus(gain=0.3, high=6000),
        },
        room=1.4,
        echo_beats=0.5,
    ),
    Track(
        name="inspiring_piano",
        mood="inspiring",
        bpm=96,
        bars=12,
        compose=inspiring_piano,
        buses={
            "piano": Bus(gain=0.55, high=8000, reverb=0.35),
            "strings": Bus(gain=0.35, high=3500, reverb=0.5),
            "drums": Bus(gain=0.6, reverb=0.2),
            "shaker": Bus(gain=0.25, low=3000, reverb=0.15),
        },
        room=2.6,
    ),
    Track(
        name="tech_pulse",
        mood="futuristic",
        bpm=124,
        bars=16,
        compose=tech_pulse,
        buses={
            "pad": Bus(gain=0.4, low=200, high=3500, reverb=0.3, duck=0.75),
            "bass": Bus(gain=0.4, high=2500, duck=0.6),
            "arp": Bus(gain=0.4, low=300, reverb=0.2, echo=0.4),
            "drums": Bus(gain=0.85, reverb=0.05),
            "hats": Bus(gain=0.3, low=6000),
            "blips": Bus(gain=0.35, echo=0.5, reverb=0.2),
            "fx": Bus(gain=0.3, reverb=0.3),
        },
        room=1.8,
        echo_beats=0.75,
    ),
    Track(
        name="playful_ukulele",
        mood="playful",
        bpm=112,
        bars=12,
        compose=playful_ukulele,
        buses={
            "uke": Bus(gain=0.6, low=150, reverb=0.2),
            "bass": Bus(gain=0.6, high=2000),
            "glock": Bus(gain=0.3, reverb=0.3, echo=0.15),
            "whistle": Bus(gain=0.35, reverb=0.3),
            "drums": Bus(gain=0.6, reverb=0.1),
            "shaker": Bus(gain=0.3, low=3000, reverb=0.1),
        },
        room=1.5,
        echo_beats=0.5,
    ),
    Track(
        name="funky_groove",
        mood="groovy",
        bpm=104,
        bars=12,
        compose=funky_groove,
        buses={
            "bass": Bus(gain=0.45, high=4000),
            "clav": Bus(gain=0.6, low=300, reverb=0.1),
            "horns": Bus(gain=0.35, high=5000, reverb=0.3),
            "drums": Bus(gain=0.8, reverb=0.1),
            "hats": Bus(gain=0.3, low=5000),
        },
        room=1.3,
    ),
    Track(
        name="retro_synthwave",
        mood="nostalgic",
        bpm=100,
        bars=12,
        compose=retro_synthwave,
        buses={
            "pad": Bus(gain=0.35, high=3000, reverb=0.5),
            "bass": Bus(gain=0.5, high=2500, duck=0.3),
            "arp": Bus(gain=0.25, low=300, reverb=0.3, echo=0.45),
            "lead": Bus(gain=0.35, high=6000, reverb=0.4, echo=0.3),
            "drums": Bus(gain=0.8, reverb=0.1),
            "snare": Bus(gain=0.6, reverb=0.8),
            "hats": Bus(gain=0.25, low=6000),
        },
        room=2.4,
        echo_beats=0.75,
    ),
]


def render_track(track: Track, *, bars: int | None = None) -> np.ndarray:
    """The track's loop as float32 stereo (shape (2, samples)), before levelling: `bars` shortens it (the
    arrangement is cut to that many bars)."""
    song = Song(bpm=track.bpm, bars=bars or track.bars, seed=zlib.crc32(track.name.encode()))
    track.compose(song)
    return master(song.mix(track.buses, room=track.room, echo_beats=track.echo_beats)).astype(np.float32)


def levelled(samples: np.ndarray) -> np.ndarray:
    """The loop at TARGET_LUFS (EBU R128, measured by ffmpeg) with its peaks under CEILING."""
    with tempfile.TemporaryDirectory(prefix="pytoon-music-") as scratch:
        probe = Path(scratch) / "probe.wav"
        pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
        with wave.open(str(probe), "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(SR)
            out.writeframes(pcm.T.tobytes())
        loudness = measure_loudness(probe).integrated_lufs
    if loudness is None:
        raise ValueError("the track is silent")
    return soft_ceiling(samples * 10 ** ((TARGET_LUFS - loudness) / 20)).astype(np.float32)


def encode_mp3(samples: np.ndarray, path: Path) -> None:
    """MP3 with a gapless header; no tags and bit-exact flags, so the bytes depend on the audio alone."""
    run_ffmpeg(
        [
            "-f",
            "f32le",
            "-ar",
            str(SR),
            "-ac",
            "2",
            "-i",
            "pipe:0",
            "-c:a",
            "libmp3lame",
            "-b:a",
            MP3_BITRATE,
            "-map_metadata",
            "-1",
            "-id3v2_version",
            "0",
            "-fflags",
            "+bitexact",
            "-flags:a",
            "+bitexact",
            "-f",
            "mp3",
            "-y",
            output_target(path),
        ],
        input=np.ascontiguousarray(samples.T).astype("<f4").tobytes(),
        timeout=ENCODE_TIMEOUT_S,
        label="music encode",
    )


def manifest_entry(track: Track, samples: int) -> dict[str, object]:
    return {
        "name": track.name,
        "mood": track.mood,
        "bpm": track.bpm,
        "bars": track.bars,
        "duration_seconds": round(samples / SR, 3),
        "file": f"{track.name}.mp3",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="regenerate only these tracks (the manifest lists every track)")
    args = parser.parse_args()
    unknown = set(args.only or ()) - {t.name for t in TRACKS}
    if unknown:
        parser.error(f"unknown tracks: {', '.join(sorted(unknown))}")
    entries = []
    for track in TRACKS:
        if not args.only or track.name in args.only:
            samples = levelled(render_track(track))
            encode_mp3(samples, OUT / f"{track.name}.mp3")
            print(f"{track.name}: {samples.shape[1] / SR:.2f} s, {(OUT / f'{track.name}.mp3').stat().st_size} bytes")
        entries.append(manifest_entry(track, loop_samples(track.bpm, track.bars)))
    manifest = {"sample_rate": SR, "channels": 2, "tracks": entries}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
