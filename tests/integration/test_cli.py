"""The `pytoon` console script, run the way a user runs it: from any directory, as its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import pytest

pytestmark = pytest.mark.integration

PYTOON = Path(sys.executable).with_name("pytoon")


def test_render_writes_the_video_and_its_sidecars(media_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "clips" / "launch.mp4"
    result = subprocess.run(
        [
            str(PYTOON),
            "render",
            "--prompt",
            "Launch day. Shop now.",
            "--image",
            str(media_dir / "product_1.png"),
            "--music",
            str(media_dir / "music.wav"),
            "--preset",
            "overlay_classic",
            "--duration",
            "2",
            "-o",
            str(output),
        ],
        cwd=tmp_path,  # not the repo root: handlers must load from template.yaml's CodeUri, not from sys.path
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert str(output) in summary and "duration 2.00s" in summary and "wall time" in summary
    assert "DONE" in result.stderr  # the progress bar reached the end

    with av.open(str(output)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 60
    assert output.with_name("launch.thumbnail.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert "Launch day." in output.with_name("launch.srt").read_text()
    metadata = json.loads(output.with_name("launch.metadata.json").read_text())
    assert metadata["spec"]["preset"]["id"] == "overlay_classic"


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    result = subprocess.run(
        [
            str(PYTOON),
            "render",
            "--prompt",
            "x",
            "--image",
            str(text),
            "--duration",
            "2",
            "-o",
            str(tmp_path / "o.mp4"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "input rejected" in result.stderr and "Traceback" not in result.stderr
    missing = subprocess.run(
        [str(PYTOON), "render", "--prompt", "x", "--image", "/nope.png"], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr
