"""Production-run projects as data: the shipped files load and fit the render's rules, and a broken file is
refused with its file and field named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytoon.limits import MAX_DURATION_SECONDS
from pytoon.music import get_track
from pytoon.presets import get_preset
from pytoon.runs.models import UnknownProjectError
from pytoon.runs.projects import Project, ProjectFileError, get_project, project_from_file, project_names
from pytoon.video_engines.selection import engine_config

SHIPPED = Path(__file__).parents[2] / "src/pytoon/runs/projects"


def test_the_shipped_projects() -> None:
    assert project_names() == ["aismr", "motivational", "product_launch"]
    for name in project_names():
        project = get_project(name)
        assert project.name == name
        assert 1 <= project.clip_count * project.clip_seconds <= MAX_DURATION_SECONDS
        # What the render and the engines will be asked for exists.
        assert get_preset(project.preset_id).id == project.preset_id
        assert get_track(project.music).name == project.music
        assert project.engine is None or project.engine in engine_config().engines
        assert len(project.shots) >= project.clip_count and project.publish_targets
    assert get_project("product_launch").voice and not get_project("aismr").voice
    assert get_project("motivational").caption_style.uppercase


def test_an_unknown_project_lists_the_known_ones() -> None:
    with pytest.raises(UnknownProjectError) as raised:
        get_project("cooking")
    assert str(raised.value) == "unknown project 'cooking'; known projects: aismr, motivational, product_launch"


def _aismr(**changes: Any) -> dict[str, Any]:
    return json.loads((SHIPPED / "aismr.json").read_text()) | changes


def _shots(caption: str) -> list[dict[str, str]]:
    return [{"prompt": f"Shot {n} of {{subject}}", "caption": caption} for n in range(6)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"preset_id": "neon"}, "preset_id: Unknown preset: neon"),
        ({"music": "jazz"}, "music: 'jazz' is not in the music library (valid names: calm_ambient,"),
        ({"engine": "veo"}, "engine: 'veo' is not a video engine (known: runway, luma, pika, sora) or null"),
        ({"clip_count": 7, "clip_seconds": 10}, "clip_count × clip_seconds is 70 s; a video lasts 1 to 60 s"),
        ({"clip_count": 9}, "shots: 8 shots for 9 clips; each clip needs its own"),
        ({"colour": "teal"}, "colour: Extra inputs are not permitted"),
        ({"caption_style": {"max_chars": 32, "font": "Inter"}}, "caption_style.font: Extra inputs are not permitted"),
        ({"hashtags": ["asmr"]}, "hashtags: 'asmr' is not a hashtag"),
        ({"hashtags": ["#asmr", "#ASMR"]}, "hashtags: hashtags repeat"),
        ({"publish_targets": ["tiktok", "myspace"]}, "publish_targets.1: Input should be 'tiktok', 'instagram'"),
        ({"hooks": ["Watch this."]}, "hooks: may hold only {subject} and must hold {subject}, got 'Watch this.'"),
        ({"shots": _shots("Slice. Press.")}, "shots.0.caption (with a 16-character {keyword}): one sentence per"),
        ({"shots": _shots("Every {keyword} detail, up close.")}, "40 characters, more than caption_style.max_chars"),
        ({"shots": _shots("{colour} detail.")}, "shots.0.caption: may hold only {keyword}, got '{colour} detail.'"),
        (
            {"caption_style": {"max_chars": 150}, "shots": _shots("WWWWWWW " * 18)},
            "lines at the smallest caption size (28 px) in this preset; at most 3 fit",
        ),
        ({"voice": True, "caption_style": {"max_chars": 32, "uppercase": True}}, "with a voice the shown captions"),
        ({"ideation_guidance": "Anything nsfw goes."}, "ideation_guidance: the text refused by the content rules"),
        ({"name": "asmr"}, "name: 'asmr' is not the file's name"),
    ],
)
def test_a_broken_file_names_the_file_and_the_field(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    path = tmp_path / "aismr.json"
    path.write_text(json.dumps(_aismr(**changes)))
    with pytest.raises(ProjectFileError) as raised:
        project_from_file(path)
    assert str(raised.value).startswith("project file aismr.json: ")
    assert message in str(raised.value)


def test_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "aismr.json"
    path.write_text('{"name": "aismr",')
    with pytest.raises(ProjectFileError, match=r"^project file aismr\.json: not readable JSON"):
        project_from_file(path)


def test_an_unchanged_copy_loads(tmp_path: Path) -> None:
    path = tmp_path / "aismr.json"
    path.write_text(json.dumps(_aismr()))
    assert project_from_file(path) == get_project("aismr")
    assert isinstance(project_from_file(path), Project)
