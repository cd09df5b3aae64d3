"""Caption input limits and undrawable text: refused with a 422 that names the field and the limit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from fontTools.ttLib import TTFont
from pydantic import ValidationError

from pytoon.api.app import create_app
from pytoon.aws.apikeys import ApiKeyRepository
from pytoon.config import ApiSettings, get_settings
from pytoon.fonts import EMOJI_FILE, FALLBACK_FILES, FONT_FILES, bundled_path, coverage, undrawable_characters
from pytoon.limits import MAX_CAPTION_BEATS, MAX_CAPTION_CHARS, MAX_CAPTIONS_PER_JOB
from pytoon.submission import JobRequest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The API in process, with a real key in moto's DynamoDB: job requests are validated as in production."""
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="artifacts")
    for name, value in {
        "PYTOON_TABLE_NAME": moto_table,
        "PYTOON_BUCKET_NAME": "artifacts",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    key = ApiKeyRepository.from_settings(get_settings()).create("captions", 100_000).api_key
    yield TestClient(create_app(ApiSettings()), raise_server_exceptions=False, headers={"X-API-Key": key})
    get_settings.cache_clear()


def body_errors(client: TestClient, body: dict) -> list[dict]:
    """The errors of a refused job request."""
    response = client.post("/api/v1/jobs", json={"preset_id": "product_hero_clean", **body})
    assert response.status_code == 422, response.text
    return response.json()["detail"]


def test_an_over_long_hook_is_refused_naming_the_field_and_the_limit(client: TestClient) -> None:
    with pytest.raises(ValidationError, match=f"at most {MAX_CAPTION_CHARS} characters"):
        JobRequest(preset_id="product_hero_clean", captions={"hook": "Buy now " * 25_000})
    # Through the API (whose JSON bodies stop at 64 KB anyway), a 20 KB hook:
    [error] = body_errors(client, {"captions": {"hook": "Buy now " * 2_500}})
    assert error["loc"] == ["body", "captions", "hook"]
    assert error["msg"] == f"String should have at most {MAX_CAPTION_CHARS} characters"


def test_5000_beats_are_refused_not_silently_dropped(client: TestClient) -> None:
    [error] = body_errors(client, {"captions": {"hook": "Hi", "beats": ["beat"] * 5000}})
    assert error["loc"] == ["body", "captions", "beats"]
    assert f"at most {MAX_CAPTION_BEATS} items" in error["msg"]


def test_captions_that_cannot_all_be_shown_in_the_duration_are_refused(client: TestClient) -> None:
    captions = {"hook": "One", "beats": [f"Beat {i}" for i in range(10)], "cta": "Buy"}
    [error] = body_errors(client, {"captions": captions, "target_duration_seconds": 10})
    assert "captions: 12 captions cannot all be shown in 10 s; at most 10" in error["msg"]
    assert JobRequest(preset_id="product_hero_clean", captions=captions, target_duration_seconds=12)


def test_the_longest_job_takes_every_caption_the_model_allows() -> None:
    beats = [f"Beat {i}" for i in range(MAX_CAPTION_BEATS)]
    request = {"preset_id": "meme_fast", "target_duration_seconds": 60}
    assert JobRequest(**request, captions={"hook": "Hook", "beats": beats, "cta": "Buy"})
    assert MAX_CAPTIONS_PER_JOB == MAX_CAPTION_BEATS + 2 == 60


def test_prompt_sentences_obey_the_caption_rules(client: TestClient) -> None:
    [error] = body_errors(client, {"prompt": "Buy. " * 20, "target_duration_seconds": 15})
    assert "prompt (one caption per sentence): 20 captions cannot all be shown in 15 s" in error["msg"]
    [error] = body_errors(client, {"prompt": "Meet Aurora. " + "long " * 40 + "sentence. Order."})
    assert "prompt sentence 2: at most 150 characters per caption, got 209" in error["msg"]
    # A one-sentence prompt in a one-second video: no room for the neutral call to action, so none is added.
    assert JobRequest(preset_id="product_hero_clean", prompt="Meet Aurora.", target_duration_seconds=1)


def test_a_caption_too_wide_for_three_lines_at_the_smallest_size_is_refused(client: TestClient) -> None:
    [error] = body_errors(client, {"captions": {"hook": "W" * 150}})
    assert (
        "captions.hook: needs 6 lines at the smallest caption size (28 px) in this preset; at most 3 fit"
        in (error["msg"])
    )
    # The same number of narrow characters fits.
    assert JobRequest(preset_id="product_hero_clean", captions={"hook": "il " * 50})


@pytest.mark.parametrize(
    ("text", "named"),
    [("Hieroglyphs 𓀀𓀁", "'𓀀' (U+13000), '𓀁' (U+13001)"), ("Bengali বাংলা", "'ব' (U+09AC)")],
)
def test_undrawable_characters_are_refused_by_name(client: TestClient, text: str, named: str) -> None:
    [error] = body_errors(client, {"captions": {"cta": text}})
    assert error["loc"] == ["body", "captions", "cta"]
    assert error["msg"].startswith("Value error, no bundled font can draw") and named in error["msg"]
    [error] = body_errors(client, {"prompt": text})
    assert error["loc"] == ["body", "prompt"] and named in error["msg"]


@pytest.mark.parametrize(("char", "code"), [("\x07", "U+0007"), ("\u202e", "U+202E"), ("\x00", "U+0000")])
def test_control_and_bidi_override_characters_are_refused(client: TestClient, char: str, code: str) -> None:
    [error] = body_errors(client, {"captions": {"beats": [f"Sale{char}now"]}})
    assert error["loc"] == ["body", "captions", "beats", 0]
    assert f"control and bidi-override characters are not allowed: a control character ({code})" in error["msg"]


def test_every_script_a_marketing_team_uses_is_accepted() -> None:
    captions = {
        "hook": "Новинка! Καλοκαίρι ✨ Déjà vu",
        "beats": ["تخفيضات الصيف", "מבצע קיץ", "夏季大促销", "夏のセール", "여름 세일", "गर्मी की सेल", "ลดราคา"],
        "cta": "Buy now 👍🏽 🇫🇷 👨‍👩‍👧‍👦",
    }
    assert JobRequest(preset_id="meme_fast", captions=captions, prompt="Line one\nline two\tend.")


def test_the_cmap_reader_agrees_with_fonttools_for_every_bundled_font() -> None:
    for name in dict.fromkeys([*FONT_FILES.values(), *FALLBACK_FILES, EMOJI_FILE]):
        expected = set(TTFont(bundled_path(name)).getBestCmap())
        found = {code for first, last in coverage(name).ranges() for code in range(first, last + 1)}
        assert found == expected, name


def test_fonts_ship_with_licences_and_no_file_over_5_mb() -> None:
    fonts = bundled_path("FONTS.md").parent
    assert {p.name for p in fonts.glob("OFL-Noto*.txt")} >= {"OFL-NotoSans.txt", "OFL-NotoSansCJK.txt"}
    assert (fonts / "LICENSE-Twemoji.txt").read_text().count("CC-BY") >= 1
    assert "LGPL" in (fonts / "native" / "COPYING-fribidi.txt").read_text()
    assert all(p.stat().st_size < 5 * 1024 * 1024 for p in fonts.rglob("*") if p.is_file())
    added = sum(bundled_path(f).stat().st_size for f in (*FALLBACK_FILES, EMOJI_FILE))
    assert added < 6 * 1024 * 1024


def test_the_coverage_check_is_light_it_loads_no_renderer() -> None:
    code = (
        "import sys; from pytoon.fonts import undrawable_characters as u; "
        "assert u('Hello 世界 👍 𓀀') == ['𓀀']; assert 'PIL.ImageFont' not in sys.modules, 'renderer loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert undrawable_characters("e\u0301 \u200d\ufe0f") == []  # marks and invisible joiners need no glyph


SYSTEM_FRIBIDI = Path("/lib/x86_64-linux-gnu/libfribidi.so.0")


@pytest.mark.skipif(
    not (SYSTEM_FRIBIDI.exists() and shutil.which("unshare") and os.geteuid() == 0),
    reason="needs root and unshare to hide the system libfribidi, as on Lambda",
)
@pytest.mark.parametrize("entry", ["functions.segment_render.app", "functions.api.app"])
def test_shaping_works_without_a_system_libfribidi_as_on_lambda(entry: str) -> None:
    """The Lambda runtime has no libfribidi; the bundled copy is loaded before Pillow looks for it."""
    check = (
        f"import {entry}; from PIL import features; assert features.check('raqm'), 'no raqm'; "
        "from pytoon.render.text import TextStyle; s = TextStyle.for_text('Inter', 56, 'مرحبا'); "
        "assert s.measure('مرحبا') < 0.85 * sum(s.measure(c) for c in 'مرحبا'), 'Arabic not joined'"
    )
    hide = f'mount --bind /dev/null {SYSTEM_FRIBIDI} && exec {sys.executable} -c "{check}"'
    result = subprocess.run(["unshare", "-m", "sh", "-c", hide], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_request_model_error_is_a_validation_error_not_a_crash() -> None:
    with pytest.raises(ValidationError, match="captions.beats\\[1\\]: needs"):
        JobRequest(preset_id="product_hero_clean", captions={"beats": ["ok", "M" * 150]})


def test_a_caption_with_nothing_visible_is_refused(client: TestClient) -> None:
    [error] = body_errors(client, {"captions": {"hook": "\u200d\u200e"}})
    assert "captions.hook: has no visible characters" in error["msg"]
    # Joiners and marks inside visible text are kept.
    assert JobRequest(preset_id="product_hero_clean", captions={"hook": "Family \U0001f468\u200d\U0001f469"})
