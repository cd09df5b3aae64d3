"""The music library over real HTTP on the embedded backend: GET /api/v2/music lists the manifest, a V2 job
naming any library track plays that track (as loud as every output) and records which one, a tenant's own
audio upload works as music_source, and unknown names and other tenants' uploads are refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from pytoon.aws.apikeys import ApiKeyRepository
from pytoon.config import get_settings
from pytoon.music import library_key, track_names, track_path, tracks
from pytoon.render.probe import measure_loudness
from tests.integration.conftest import upload, wait_for_job
from tests.media import audio_stream, music_bed

pytestmark = pytest.mark.integration

JOB_SECONDS = 2
OUTPUT_RATE = 48_000
# The output's audio is compared with its source away from the 50 ms fade-in and the closing fade-out.
COMPARED_SPAN_S = (0.2, 1.2)
MAX_LAG_SAMPLES = 1024  # an AAC frame either way, in case the encoder's priming shifts the start


def _render(api: httpx.Client, music_source: str) -> dict:
    """A one-scene V2 job (a designed card from one sentence) with this music, run to the end."""
    response = api.post(
        "/api/v2/jobs",
        json={
            "prompt": "Fresh coffee every morning.",
            "target_duration_seconds": JOB_SECONDS,
            "music_source": music_source,
        },
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert wait_for_job(api, job_id)["status"] == "DONE"
    job = api.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "done" and job["scene_count"] == 1, job
    return job


def _mono(path: Path) -> tuple[np.ndarray, int]:
    """MP3 and AAC only: they decode planar, (channels, n); audio_stream gives a packed format (PCM WAV)
    interleaved in one row."""
    stream = audio_stream(path)
    return stream.samples.astype(np.float64).mean(axis=0), stream.sample_rate


def _opening_at_output_rate(path: Path) -> np.ndarray:
    """The first seconds of a source, band-limited resampled to the output's rate (as the audio step's
    aresample does; circular, so only the middle is compared)."""
    mono, rate = _mono(path)
    seconds = JOB_SECONDS + 1
    excerpt = mono[: seconds * rate]
    return np.fft.irfft(np.fft.rfft(excerpt), seconds * OUTPUT_RATE) * (OUTPUT_RATE / rate)


def _similarity(output: np.ndarray, source: np.ndarray) -> float:
    """Best normalised correlation of the output's compared span with the source, over small lags: 1.0 is
    the same waveform at any level."""
    start, end = (round(s * OUTPUT_RATE) for s in COMPARED_SPAN_S)
    span = output[start:end]
    candidates = source[start - MAX_LAG_SAMPLES : end + MAX_LAG_SAMPLES]
    dots = np.correlate(candidates, span, mode="valid")
    norms = np.sqrt(np.convolve(candidates**2, np.ones(len(span)), mode="valid")) * np.linalg.norm(span)
    return float(np.max(dots / norms))


def _assert_output_plays(job: dict, source: Path, tmp_path: Path) -> None:
    """The output's soundtrack is `source`, normalised to the delivery loudness like every output."""
    video = tmp_path / "out.mp4"
    video.write_bytes(httpx.get(job["output_url"], timeout=60).content)
    loudness = measure_loudness(video)
    assert loudness.integrated_lufs is not None and abs(loudness.integrated_lufs + 14.0) <= 1.0, loudness
    assert loudness.true_peak_dbtp is not None and loudness.true_peak_dbtp <= -1.0, loudness
    output, rate = _mono(video)
    assert rate == OUTPUT_RATE
    # The same waveform (another track or a tone scores far lower: other library tracks at most ~0.4).
    assert _similarity(output, _opening_at_output_rate(source)) >= 0.95


# --- the listing ---------------------------------------------------------------------------------------


def test_music_listing_is_the_manifest_sorted_by_name(api: httpx.Client) -> None:
    response = api.get("/api/v2/music")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "tracks": [
            {"name": t.name, "mood": t.mood, "bpm": t.bpm, "duration_seconds": t.duration_seconds}
            for t in sorted(tracks(), key=lambda t: t.name)
        ]
    }


def test_music_listing_needs_a_valid_api_key(api: httpx.Client) -> None:
    missing = httpx.get(f"{api.base_url}/api/v2/music")
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["header", "X-API-Key"]
    wrong = httpx.get(f"{api.base_url}/api/v2/music", headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401 and wrong.json() == {"detail": "Invalid API key"}


# --- jobs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", track_names())
def test_a_job_naming_a_library_track_plays_it_and_records_it(api: httpx.Client, name: str, tmp_path: Path) -> None:
    job = _render(api, name)
    _assert_output_plays(job, track_path(name), tmp_path)
    # GET /api/v2/jobs/{id} has no music field; the scene graph names the track, the timeline and the
    # metadata give its library key.
    graph = api.get(f"/api/v2/jobs/{job['job_id']}/scene-graph").json()
    assert graph["globalAudio"]["backgroundMusic"] == name
    timeline = api.get(f"/api/v2/jobs/{job['job_id']}/timeline").json()
    assert [(t["type"], t["file"]) for t in timeline["tracks"]["audio"]] == [("music", library_key(name))]
    metadata = httpx.get(job["metadata_url"], timeout=60).json()
    assert metadata["spec"]["music"] == library_key(name)


def test_a_job_with_this_tenants_audio_upload_plays_it(api: httpx.Client, tmp_path: Path) -> None:
    bed = music_bed(tmp_path / "bed.mp3", seconds=JOB_SECONDS + 1)
    job = _render(api, upload(api, bed, "audio")["uri"])
    _assert_output_plays(job, bed, tmp_path)


def test_an_unknown_music_name_is_refused_listing_every_valid_name(api: httpx.Client) -> None:
    response = api.post("/api/v2/jobs", json={"prompt": "Hello.", "music_source": "no_such_track"})
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert "'no_such_track'" in detail and ", ".join(track_names()) in detail


def test_another_tenants_audio_upload_is_refused(api: httpx.Client, tmp_path: Path) -> None:
    uri = upload(api, music_bed(tmp_path / "mine.mp3", seconds=1), "audio")["uri"]
    rival_key = ApiKeyRepository.from_settings(get_settings()).create("music-rival", 60).api_key
    with httpx.Client(base_url=api.base_url, headers={"X-API-Key": rival_key}, timeout=30) as rival:
        response = rival.post("/api/v2/jobs", json={"prompt": "Hello.", "music_source": uri})
    assert response.status_code == 400, response.text
    assert "is not an uploaded asset of this account" in response.json()["detail"]
