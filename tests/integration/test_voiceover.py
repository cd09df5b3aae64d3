"""Voice scripts over real HTTP on the embedded backend: spoken offline by default or by a provider's loopback
fake, the captions cued to the spoken sentences, the voice heard inside its captions and mixed to loudness, the
music ducked under it, the video lengthened to hold it, and every way speaking it fails."""

from __future__ import annotations

import math
import re
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from pytoon.models import FPS
from pytoon.presets import get_preset
from pytoon.render.captions import caption_layout, render_caption_image
from pytoon.render.ffmpeg import media_input, output_target, run_ffmpeg
from pytoon.render.probe import measure_loudness
from tests.fakes.elevenlabs import DEFAULT_VOICE_ID, FakeElevenLabs, fake_elevenlabs
from tests.fakes.openai_speech import FakeOpenAISpeech, fake_openai_speech
from tests.integration.conftest import download, finished_v2_job, submit_v2_job, upload, wait_for_job
from tests.media import LOOK, decode_frames, save_png, tone, video_stream

pytestmark = pytest.mark.integration

FRAME_S = 1 / FPS
ANALYSIS_RATE = 16_000
SENTENCES = ["Meet the new Aurora bottle.", "It keeps your drinks cold all day.", "Order yours today."]
SHORT_SENTENCES = ["Cold all day.", "Order now."]
# About 6 s when spoken offline.
LONG_SENTENCES = [
    "This bottle keeps your water cold for a full day.",
    "It is light enough to carry anywhere you go.",
    "Order yours today.",
]
MUSIC_TONE_HZ = 5500  # above nearly all of the voice's energy: the music's level can be read on its own


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


_SRT_TIME = re.compile(r"(\d\d):(\d\d):(\d\d),(\d\d\d)")


def _srt_seconds(stamp: str) -> float:
    match = _SRT_TIME.fullmatch(stamp.strip())
    assert match, stamp
    hours, minutes, seconds, millis = map(int, match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _srt_cues(url: str) -> list[Cue]:
    cues = []
    for block in httpx.get(url, timeout=60).raise_for_status().text.strip().split("\n\n"):
        _, timing, *lines = block.strip().splitlines()
        start, end = timing.split("-->")
        cues.append(Cue(_srt_seconds(start), _srt_seconds(end), " ".join(lines)))
    return cues


def _mono_samples(media: Path) -> np.ndarray:
    """The first audio stream transcoded to a mono 16-bit WAV at ANALYSIS_RATE, read back as floats in [-1, 1]."""
    wav = media.with_suffix(".analysis.wav")
    run_ffmpeg(
        [*media_input(media), "-map", "0:a:0", "-ac", "1", "-ar", str(ANALYSIS_RATE), "-c:a", "pcm_s16le",
         "-y", output_target(wav)],
        timeout=60,
    )  # fmt: skip
    with wave.open(str(wav)) as reader:
        assert (reader.getnchannels(), reader.getframerate()) == (1, ANALYSIS_RATE)
        pcm = reader.readframes(reader.getnframes())
    return np.frombuffer(pcm, "<i2").astype(np.float64) / 32768


def _window(samples: np.ndarray, start: float, end: float) -> np.ndarray:
    window = samples[round(start * ANALYSIS_RATE) : round(end * ANALYSIS_RATE)]
    assert window.size > ANALYSIS_RATE // 100, (start, end)
    return window


def _rms(samples: np.ndarray, start: float, end: float) -> float:
    return float(np.sqrt(np.mean(_window(samples, start, end) ** 2)))


def _band_db(samples: np.ndarray, start: float, end: float, low: float, high: float) -> float:
    """The level (dBFS RMS) of what lies between `low` and `high` Hz from start to end."""
    window = _window(samples, start, end)
    spectrum = np.fft.rfft(window)
    freqs = np.fft.rfftfreq(window.size, 1 / ANALYSIS_RATE)
    spectrum[(freqs < low) | (freqs > high)] = 0
    band = np.fft.irfft(spectrum, window.size)
    return float(20 * np.log10(np.sqrt(np.mean(band**2)) + 1e-12))


def _voiced_spectra(samples: np.ndarray, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    """Power spectra of the 32 ms frames (Hann, 16 ms hop) from start to end within 20 dB of the loudest one (the
    voiced ones), and the frequency of each bin."""
    size = 512
    frames = np.lib.stride_tricks.sliding_window_view(_window(samples, start, end), size)[:: size // 2]
    levels = np.sqrt(np.mean(frames**2, axis=1))
    voiced = frames[levels > levels.max() / 10]
    return np.abs(np.fft.rfft(voiced * np.hanning(size), axis=1)) ** 2, np.fft.rfftfreq(size, 1 / ANALYSIS_RATE)


def _assert_heard_inside_cues(samples: np.ndarray, cues: list[Cue]) -> None:
    """Nearly all of the voice's energy lies inside its cues, and the pauses between sentences are silent."""
    inside = sum(float(np.sum(_window(samples, cue.start, cue.end) ** 2)) for cue in cues)
    assert inside / float(np.sum(samples**2)) > 0.98
    for cue, following in zip(cues, cues[1:], strict=False):
        # A frame's margin either side of the 300 ms pause.
        pause = _rms(samples, cue.end + 0.04, following.start - 0.04)
        assert pause < _rms(samples, cue.start, cue.end) / 30, (cue, following)


def _assert_caption_drawn(frame: np.ndarray, no_caption: np.ndarray, text: str) -> None:
    """White caption text in the preset's caption box where `text` is drawn, and none in the same place of a
    frame without a caption."""
    image, (x, y) = render_caption_image(text, caption_layout(get_preset("product_hero_clean").caption_style))
    width, height = image.size

    def white_share(picture: np.ndarray) -> float:
        return float((picture[y : y + height, x : x + width].min(axis=2) > 200).mean())

    assert white_share(frame) > 0.05 and white_share(no_caption) < 0.001, (white_share(frame), white_share(no_caption))


@pytest.fixture
def openai_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAISpeech]:
    """OpenAI's speech API on loopback, configured for the job functions (which run in this process)."""
    with fake_openai_speech() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.api_url)
        monkeypatch.setenv("PYTOON_TTS_PROVIDERS", "openai,espeak")
        yield fake


@pytest.fixture
def elevenlabs_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeElevenLabs]:
    with fake_elevenlabs() as fake:
        monkeypatch.setenv("ELEVENLABS_API_KEY", fake.api_key)
        monkeypatch.setenv("ELEVENLABS_BASE_URL", fake.api_url)
        monkeypatch.setenv("PYTOON_TTS_PROVIDERS", "elevenlabs,espeak")
        yield fake


def test_offline_voice_is_heard_inside_its_captions_and_mixed_to_loudness(api: httpx.Client, tmp_path: Path) -> None:
    created = submit_v2_job(
        api, prompt="Cold all day. Order now.", voice_script=" ".join(SENTENCES), target_duration_seconds=6
    )
    job = finished_v2_job(api, created["job_id"])
    voiceover = job["voiceover"]
    assert voiceover["provider"] == "espeak" and voiceover["fallback_reason"] is None, voiceover
    assert voiceover["video_follows_voice"] is None  # about 5 s of speech fits the 6 s asked for
    metadata = httpx.get(job["metadata_url"]).raise_for_status().json()
    assert metadata["voiceover"]["provider"] == "espeak"
    assert metadata["voiceover"]["duration_seconds"] == voiceover["duration_seconds"]
    spoken = metadata["voiceover"]["sentences"]
    cues = _srt_cues(job["captions_url"])
    assert [c.text for c in cues] == [s["text"] for s in spoken] == SENTENCES
    for cue, sentence in zip(cues, spoken, strict=True):
        assert cue.start == pytest.approx(sentence["start"], abs=FRAME_S)
        assert cue.end == pytest.approx(sentence["end"], abs=FRAME_S)

    video = download(job["output_url"], tmp_path / "voiced.mp4")
    samples = _mono_samples(video)
    _assert_heard_inside_cues(samples, cues)
    loudness = measure_loudness(video)
    assert loudness.integrated_lufs == pytest.approx(-14, abs=1) and loudness.true_peak_dbtp <= -1.0, loudness

    # Speech, not a tone: its brightness moves with the sounds, its energy spreads over the speech bands and no
    # single peak holds it.
    power, freqs = _voiced_spectra(samples, cues[0].start, cues[-1].end)
    centroids = (power * freqs).sum(axis=1) / power.sum(axis=1)
    low, high = np.percentile(centroids, [10, 90])
    assert high - low > 300, (low, high)
    average = power.mean(axis=0)
    speech_band = average[(freqs >= 200) & (freqs < 4000)].sum()
    for band_low, band_high in [(200, 500), (500, 1000), (1000, 2000), (2000, 4000)]:
        share = average[(freqs >= band_low) & (freqs < band_high)].sum() / speech_band
        assert share > 0.03, (band_low, band_high, share)
    peaks = np.argmax(power, axis=1)
    peak_share = [p[max(0, k - 2) : k + 3].sum() / p.sum() for p, k in zip(power, peaks, strict=True)]
    assert np.median(peak_share) < 0.6  # a sine puts nearly all of a frame's energy in its peak's five bins

    # The second sentence's caption is on screen while it is spoken, and gone in the pause before it.
    pause_frame = round((cues[0].end + cues[1].start) / 2 * FPS)
    cue_frame = round((cues[1].start + cues[1].end) / 2 * FPS)
    frames = decode_frames(video, {pause_frame, cue_frame})
    save_png(frames[cue_frame], LOOK / "voiceover_caption.png")
    save_png(frames[pause_frame], LOOK / "voiceover_pause.png")
    _assert_caption_drawn(frames[cue_frame], frames[pause_frame], cues[1].text)


def test_a_voice_longer_than_the_video_lengthens_it_and_is_never_cut(api: httpx.Client, tmp_path: Path) -> None:
    created = submit_v2_job(api, prompt="Stay cold.", voice_script=" ".join(LONG_SENTENCES), target_duration_seconds=3)
    job = finished_v2_job(api, created["job_id"])
    voice_seconds = job["voiceover"]["duration_seconds"]
    assert voice_seconds > 3.5
    expected = math.ceil(voice_seconds + 0.5)
    follows = job["voiceover"]["video_follows_voice"]
    assert follows and f"the video lasts {expected:.1f} s instead of the requested 3 s" in follows, follows

    video = download(job["output_url"], tmp_path / "lengthened.mp4")
    stream = video_stream(video)
    assert abs(stream.frames - expected * FPS) <= 1, stream.frames
    samples = _mono_samples(video)
    assert samples.size / ANALYSIS_RATE == pytest.approx(expected, abs=FRAME_S)
    cues = _srt_cues(job["captions_url"])
    assert [c.text for c in cues] == LONG_SENTENCES
    _assert_heard_inside_cues(samples, cues)
    # The last word is heard to the end of its cue, then the video runs on in silence.
    last = cues[-1]
    assert last.end <= expected - 0.5
    last_word = _rms(samples, last.end - 0.2, last.end - 0.02)
    assert last_word > _rms(samples, last.start, last.end) / 10
    assert last_word > 30 * _rms(samples, last.end + 0.1, expected - 0.05)


def test_v1_job_speaks_its_voice_script_as_its_captions(api: httpx.Client, media_dir: Path, tmp_path: Path) -> None:
    image = upload(api, media_dir / "product_0.png", "image")["uri"]
    response = api.post(
        "/api/v1/jobs",
        json={"preset_id": "product_hero_clean", "prompt": "Aurora.", "image_uris": [image],
              "target_duration_seconds": 3, "voice_script": " ".join(SHORT_SENTENCES)},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    job = wait_for_job(api, response.json()["job_id"])
    assert job["status"] == "DONE", job["error"]
    assert job["voiceover"]["provider"] == "espeak"
    cues = _srt_cues(job["captions_url"])
    assert [c.text for c in cues] == SHORT_SENTENCES
    _assert_heard_inside_cues(_mono_samples(download(job["output_url"], tmp_path / "v1.mp4")), cues)


@pytest.mark.parametrize("other", ["captions", "voice_uri"])
def test_v1_voice_script_cannot_come_with_captions_or_a_voice(api: httpx.Client, media_dir: Path, other: str) -> None:
    image = upload(api, media_dir / "product_0.png", "image")["uri"]
    given = {"captions": {"hook": "Hello"}, "voice_uri": upload(api, media_dir / "music.wav", "audio")["uri"]}
    response = api.post(
        "/api/v1/jobs",
        json={"preset_id": "product_hero_clean", "prompt": "Aurora.", "image_uris": [image],
              "target_duration_seconds": 3, "voice_script": "Cold all day.", other: given[other]},
    )  # fmt: skip
    assert response.status_code == 422, response.text
    assert f"voice_script cannot be combined with {other}" in response.text


def test_openai_speaks_each_sentence_when_configured(
    api: httpx.Client, openai_fake: FakeOpenAISpeech, tmp_path: Path
) -> None:
    created = submit_v2_job(api, prompt="Stay cold.", voice_script=" ".join(SHORT_SENTENCES), target_duration_seconds=3)
    job = finished_v2_job(api, created["job_id"])
    assert job["voiceover"]["provider"] == "openai" and job["voiceover"]["fallback_reason"] is None
    assert sorted(r.json["input"] for r in openai_fake.requests) == sorted(SHORT_SENTENCES)
    for request in openai_fake.requests:
        assert (request.method, request.path) == ("POST", "/v1/audio/speech")
        assert request.headers["authorization"] == f"Bearer {openai_fake.api_key}"
        assert (request.json["model"], request.json["voice"], request.json["response_format"]) == (
            "gpt-4o-mini-tts",
            "alloy",
            "wav",
        )
    cues = _srt_cues(job["captions_url"])
    assert [c.text for c in cues] == SHORT_SENTENCES
    _assert_heard_inside_cues(_mono_samples(download(job["output_url"], tmp_path / "openai.mp4")), cues)
    # The voiceover alone is downloadable: the WAV that was mixed, as long as the job says.
    with wave.open(str(download(job["voiceover"]["url"], tmp_path / "voice.wav"))) as reader:
        seconds = reader.getnframes() / reader.getframerate()
    assert seconds == pytest.approx(job["voiceover"]["duration_seconds"], abs=0.002)


def test_elevenlabs_speaks_each_sentence_with_its_neighbours(
    api: httpx.Client, elevenlabs_fake: FakeElevenLabs
) -> None:
    created = submit_v2_job(api, prompt="Stay cold.", voice_script=" ".join(SHORT_SENTENCES), target_duration_seconds=3)
    job = finished_v2_job(api, created["job_id"])
    assert job["voiceover"]["provider"] == "elevenlabs" and job["voiceover"]["fallback_reason"] is None
    requests = sorted(elevenlabs_fake.requests, key=lambda r: SHORT_SENTENCES.index(r.json["text"]))
    assert [r.json["text"] for r in requests] == SHORT_SENTENCES
    for request in requests:
        assert (request.method, request.path) == ("POST", f"/v1/text-to-speech/{DEFAULT_VOICE_ID}")
        assert request.headers["xi-api-key"] == elevenlabs_fake.api_key
        assert request.query == {"output_format": "mp3_44100_128"}
        assert request.json["model_id"] == "eleven_multilingual_v2"
    assert requests[0].json["next_text"] == SHORT_SENTENCES[1] and "previous_text" not in requests[0].json
    assert requests[1].json["previous_text"] == SHORT_SENTENCES[0] and "next_text" not in requests[1].json
    assert [c.text for c in _srt_cues(job["captions_url"])] == SHORT_SENTENCES


def test_a_failing_provider_falls_back_to_the_offline_voice_and_says_why(
    api: httpx.Client, openai_fake: FakeOpenAISpeech
) -> None:
    openai_fake.fail(500)
    created = submit_v2_job(api, prompt="Stay cold.", voice_script=" ".join(SHORT_SENTENCES), target_duration_seconds=3)
    job = finished_v2_job(api, created["job_id"])
    assert job["voiceover"]["provider"] == "espeak"
    assert re.fullmatch(r"openai: (sentence [12]: )?HTTP 500 \(server_error\)", job["voiceover"]["fallback_reason"])
    assert [c.text for c in _srt_cues(job["captions_url"])] == SHORT_SENTENCES


def test_a_job_fails_with_the_reason_when_no_provider_can_speak(
    api: httpx.Client, openai_fake: FakeOpenAISpeech, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTOON_TTS_PROVIDERS", "openai")
    openai_fake.fail(500)
    created = submit_v2_job(api, prompt="Stay cold.", voice_script=" ".join(SHORT_SENTENCES), target_duration_seconds=3)
    job = finished_v2_job(api, created["job_id"], status="failed")
    assert job["error"].startswith("the voice script could not be spoken (openai failed: "), job["error"]
    assert "HTTP 500" in job["error"] and job["output_url"] is None and job["voiceover"] is None


def test_a_voice_the_provider_speaks_past_a_minute_fails_the_job(
    api: httpx.Client, openai_fake: FakeOpenAISpeech, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The submit check can only time the offline voice, here configured fast (about 31 s for this script); the
    # remote voice keeps its own pace (63 s), known only once it has spoken.
    monkeypatch.setenv("PYTOON_TTS_ESPEAK_RATE_WPM", "450")
    script = " ".join(f"Sentence {n} says a little more about the bottle you will love." for n in range(1, 20))
    created = submit_v2_job(api, prompt="Stay cold.", voice_script=script, target_duration_seconds=5)
    job = finished_v2_job(api, created["job_id"], status="failed")
    assert len(openai_fake.requests) == 19
    assert re.fullmatch(
        r"the voiceover as spoken by openai lasts (\d+\.\d) s: with 0.5 s after its last word it does not fit in "
        r"a 60 s video; shorten the voice_script",
        job["error"],
    ), job["error"]
    assert float(re.search(r"lasts (\d+\.\d) s", job["error"]).group(1)) > 59.5  # type: ignore[union-attr]


def test_music_is_ducked_under_the_voice_and_comes_back_after_it(api: httpx.Client, tmp_path: Path) -> None:
    bed = tone(tmp_path / "tone.wav", f"sine=frequency={MUSIC_TONE_HZ}:sample_rate=44100", 8)
    music = upload(api, bed, "audio")["uri"]
    created = submit_v2_job(
        api, prompt="Stay cold.", voice_script=SENTENCES[0] + " " + SENTENCES[2], music_source=music,
        target_duration_seconds=8,
    )  # fmt: skip
    job = finished_v2_job(api, created["job_id"])
    assert job["voiceover"]["video_follows_voice"] is None
    cues = _srt_cues(job["captions_url"])
    samples = _mono_samples(download(job["output_url"], tmp_path / "ducked.mp4"))
    band = (MUSIC_TONE_HZ - 40, MUSIC_TONE_HZ + 40)
    under_voice = _band_db(samples, cues[0].start + 0.2, cues[0].end, *band)
    # From past the compressor's release to before the last 1.5 s (the music's fade-out).
    after_voice = _band_db(samples, cues[-1].end + 1.0, 8 - 1.6, *band)
    assert after_voice - under_voice >= 6, (under_voice, after_voice)
    # Ducked, not muted: in both places the tone stands well above a neighbouring band of the same width.
    assert under_voice > _band_db(samples, cues[0].start + 0.2, cues[0].end, 6500, 6580) + 12
    assert after_voice > _band_db(samples, cues[-1].end + 1.0, 8 - 1.6, 6500, 6580) + 12
