"""The offline voice (eSpeak NG over its C API): what it writes is speech (formant bands, syllabic energy), read back
by an independent decoder; voice and rate settings; concurrent callers; the copy that runs on Lambda's older glibc;
the spoken-duration estimate."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from pytoon.config import TtsSettings
from pytoon.tts.espeak import espeak_samples, without_new_math_versions
from pytoon.voice import AttemptOutcome, VoiceoverError, spoken_duration_ms, synthesize_sentences
from tests.media import audio_stream, speech_like, tone

OFFLINE = TtsSettings(providers=("espeak",))
SENTENCE = "Meet Aurora, the bottle that keeps your drinks cold all day long."
# Where the first formants of speech fall: a voice puts energy in all of them, a tone or a buzz in one.
BANDS_HZ = ((300, 800), (800, 1500), (1500, 2500), (2500, 3500))


def _spectrum(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Average power spectrum over half-overlapping Hann windows of 2048 samples."""
    size = 2048
    window = np.hanning(size)
    frames = [samples[at : at + size] * window for at in range(0, samples.size - size, size // 2)]
    power = np.mean([np.abs(np.fft.rfft(frame)) ** 2 for frame in frames], axis=0)
    return np.fft.rfftfreq(size, 1 / rate), power


def has_formant_bands(samples: np.ndarray, rate: int) -> bool:
    """Energy in every band from 300 to 3500 Hz (at least 2% of it each), and no single frequency holding a
    fifth of it."""
    frequencies, power = _spectrum(samples.astype(np.float64), rate)
    inside = (frequencies >= 300) & (frequencies < 3500)
    total = power[inside].sum()
    shares = [power[(frequencies >= low) & (frequencies < high)].sum() / total for low, high in BANDS_HZ]
    return min(shares) >= 0.02 and power[inside].max() / total < 0.2


def has_syllabic_energy(samples: np.ndarray, rate: int) -> bool:
    """Loudness that rises and falls like syllables over 20 ms frames: strongly varying, with dips below a tenth
    of the loudest frame (stops, pauses) in at least 5% of the frames."""
    frame = rate // 50
    count = samples.size // frame
    rms = np.sqrt(np.mean(samples[: count * frame].astype(np.float64).reshape(count, frame) ** 2, axis=1))
    return rms.std() / rms.mean() > 0.4 and np.mean(rms < rms.max() * 0.1) >= 0.05


def _spoken(tmp_path: Path, settings: TtsSettings = OFFLINE, text: str = SENTENCE) -> Path:
    voiceover = synthesize_sentences([text], settings, tmp_path / "voice.wav")
    assert voiceover.provider == "espeak"
    return voiceover.path


def test_espeak_speaks_a_sentence_as_speech(tmp_path: Path) -> None:
    written = audio_stream(_spoken(tmp_path))

    assert (written.codec, written.sample_rate, written.channels) == ("pcm_s16le", 48_000, 1)
    # Eleven words at 165 words a minute, the comma's pause included.
    assert 2.5 < written.duration_seconds < 6.0
    voice = written.samples[0]
    assert has_formant_bands(voice, written.sample_rate)
    assert has_syllabic_energy(voice, written.sample_rate)


@pytest.mark.parametrize(
    "name, make",
    [
        ("1 kHz tone", lambda path: tone(path, "sine=frequency=1000", 2.0, channels=1)),
        ("pink noise", lambda path: tone(path, "anoisesrc=color=pink:seed=7", 2.0, channels=1)),
        ("bursts of a 180 Hz buzz", lambda path: speech_like(path, 2.0)),
    ],
)
def test_the_speech_checks_refuse_what_is_not_a_voice(tmp_path: Path, name: str, make: object) -> None:
    sound = audio_stream(make(tmp_path / "sound.wav"))  # type: ignore[operator]
    samples = sound.samples[0]

    assert not (has_formant_bands(samples, sound.sample_rate) and has_syllabic_energy(samples, sound.sample_rate))


def test_the_rate_setting_changes_how_fast_it_speaks(tmp_path: Path) -> None:
    slow = synthesize_sentences([SENTENCE], OFFLINE.model_copy(update={"espeak_rate_wpm": 120}), tmp_path / "a.wav")
    fast = synthesize_sentences([SENTENCE], OFFLINE.model_copy(update={"espeak_rate_wpm": 300}), tmp_path / "b.wav")

    assert 1.8 < slow.duration_ms / fast.duration_ms < 3.2


def test_another_voice_speaks_its_language(tmp_path: Path) -> None:
    german = TtsSettings(providers=("espeak",), espeak_voice="de")
    text = "Guten Morgen, wie geht es Ihnen heute?"
    written = audio_stream(_spoken(tmp_path, german, text))

    assert has_formant_bands(written.samples[0], written.sample_rate)
    assert not np.array_equal(espeak_samples(text, "de", 165)[0], espeak_samples(text, "en-us", 165)[0])


def test_an_unknown_voice_fails_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(VoiceoverError) as raised:
        synthesize_sentences(
            [SENTENCE], TtsSettings(providers=("espeak",), espeak_voice="xx-nowhere"), tmp_path / "v.wav"
        )

    (attempt,) = raised.value.attempts
    assert attempt.outcome is AttemptOutcome.FAILED
    assert attempt.reason == "eSpeak NG has no voice 'xx-nowhere'"
    assert not (tmp_path / "v.wav").exists()


def test_callers_in_parallel_each_get_their_own_sentence() -> None:
    # One to six words: each sentence has its own length, and a mix-up would show as a wrong one.
    words = "Aurora keeps drinks cold all day".split()
    texts = [" ".join(words[:n]) + "." for n in range(1, 7)]
    alone = {text: espeak_samples(text, "en-us", 165)[0].size for text in texts}
    together: dict[str, list[int]] = {text: [] for text in texts}

    def speak(text: str) -> None:
        together[text].append(espeak_samples(text, "en-us", 165)[0].size)

    threads = [threading.Thread(target=speak, args=(text,)) for text in texts * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # eSpeak's pitch flutter runs on across calls, so a sentence's length varies a little (the texts differ by
    # far more: at least a word, over 4,000 samples).
    assert all(abs(size - alone[text]) < 0.02 * alone[text] for text in texts for size in together[text])
    assert all(len(sizes) == 3 for sizes in together.values())


# A sentence spoken first in a fresh process: the library's state (its pitch flutter runs on across calls) is the
# same, so the samples are too.
_SPEAK_FIRST = """
import hashlib, sys
from pytoon.tts import espeak
if sys.argv[2] == "copy":
    espeak._load = espeak.load_compatible_copy
samples, rate = espeak.espeak_samples(sys.argv[1], "en-us", 165)
print(hashlib.sha256(samples.tobytes()).hexdigest(), rate, samples.size)
"""


def _speak_first(text: str, library: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _SPEAK_FIRST, text, library], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.split()


def test_the_copy_for_older_glibc_speaks_exactly_as_the_library_does() -> None:
    import espeakng_loader

    image = Path(espeakng_loader.get_library_path()).read_bytes()
    patched = without_new_math_versions(image)
    # Only the version requirement changes: same size, a few bytes differ, and the result is stable.
    assert len(patched) == len(image) and patched != image
    assert 0 < sum(a != b for a, b in zip(patched, image, strict=True)) <= 8
    assert without_new_math_versions(patched) == patched

    from_copy = _speak_first(SENTENCE, "copy")
    assert from_copy == _speak_first(SENTENCE, "wheel")
    assert int(from_copy[2]) > 2 * int(from_copy[1])  # over two seconds of it


def test_the_spoken_duration_is_what_the_offline_voice_takes(tmp_path: Path) -> None:
    script = [SENTENCE, "Cold for twenty four hours.", "Order yours today."]
    voiceover = synthesize_sentences(script, OFFLINE, tmp_path / "v.wav")

    estimate = spoken_duration_ms(script, OFFLINE)

    assert abs(estimate - voiceover.duration_ms) <= 30
    assert spoken_duration_ms(script * 2, OFFLINE) > 2 * estimate  # one more pause
