"""All eight presets render through planner → segments → assembly, and differ where their fields differ.

Each preset renders the same 2 s job (two images, one caption); the checks decode the outputs.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import av
import numpy as np
import pytest

from pytoon.chain import plan_documents
from pytoon.models import Captions
from pytoon.presets import all_presets
from pytoon.render.assemble import assemble_output
from pytoon.render.audio import build_audio
from pytoon.render.segment import render_segment
from tests.factories import make_spec
from tests.media import flat_image, textured_image

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}
CAPTION = "Fresh drop"
# One folder per test run (the renders are shared by several tests through the cache below).
RENDERS = Path(tempfile.mkdtemp(prefix="pytoon-presets-"))


# The frames the tests look at. Keeping only these (not every decoded frame of every cached render) holds the
# module's memory to a few hundred MB instead of gigabytes.
SAMPLED_FRAMES = {0, 2, 5, 10, 15, 25, 30, 45, 75}


@dataclass(frozen=True)
class Render:
    frame_count: int
    frames: dict[int, np.ndarray]  # SAMPLED_FRAMES that exist, as decoded RGB


@cache
def _render(preset_id: str, images: tuple[str, ...] = ("red", "blue"), seconds: int = 2) -> Render:
    """Render the job for one preset and return sampled decoded frames (cached: several tests read them).

    Images are named: a flat colour from COLOURS, or "textured"; the names serve as asset keys.
    """
    root = RENDERS / preset_id / "-".join(images)
    root.mkdir(parents=True, exist_ok=True)
    files = {name: flat_image(root / f"{name}.jpg", colour) for name, colour in COLOURS.items()}
    files["textured"] = textured_image(root / "textured.jpg")
    spec = make_spec(
        job_id="preset-test",
        preset_id=preset_id,
        target_duration_seconds=seconds,
        image_uris=list(images),
        captions=Captions(hook=CAPTION),
    )
    plan = plan_documents(spec).plan
    segment_files = []
    for segment in plan.segments:
        out = root / f"seg_{segment.index:03d}.mp4"
        render_segment(segment, plan.caption_layout, files, out)
        segment_files.append(out)
    out_dir = root / "out"
    out_dir.mkdir(exist_ok=True)
    silence = build_audio(plan.audio, {}, plan.duration_seconds, root / "audio.m4a")
    facts = assemble_output(segment_files, plan, silence, out_dir)
    count, frames = 0, {}
    with av.open(str(facts.output_path)) as container:
        for count, frame in enumerate(container.decode(video=0), start=1):
            if count - 1 in SAMPLED_FRAMES:
                frames[count - 1] = frame.to_ndarray(format="rgb24")
            assert (frame.height, frame.width) == (1920, 1080)
    return Render(count, frames)


PRESETS = [p.id for p in all_presets()]


@pytest.mark.parametrize("preset_id", PRESETS)
def test_every_preset_renders_the_full_contract(preset_id: str) -> None:
    rendered = _render(preset_id)
    assert rendered.frame_count == 60
    assert all(rendered.frames[i].std() > 3 for i in (0, 15, 30, 45)), "blank frame"


def _caption_rows(rendered: Render) -> float:
    """Mean row of near-white pixels (the caption text) in a frame showing only flat colour plus caption."""
    frame = rendered.frames[10].astype(int)
    white = (frame.min(axis=-1) > 235).nonzero()[0]
    assert white.size > 200, "no caption pixels"
    return float(white.mean())


def _by_preset() -> dict[str, object]:
    return {p.id: p for p in all_presets()}


def test_caption_position_follows_the_preset() -> None:
    presets = _by_preset()
    rows = {pid: _caption_rows(_render(pid)) for pid in ("overlay_classic", "overlay_bold", "product_hero_punchy")}
    assert presets["overlay_bold"].caption_style.position == "upper_third" and rows["overlay_bold"] < 1920 / 3
    assert (
        presets["product_hero_punchy"].caption_style.position == "center" and 640 < rows["product_hero_punchy"] < 1280
    )
    assert presets["overlay_classic"].caption_style.position == "lower_third" and rows["overlay_classic"] > 1280


def test_caption_font_and_size_follow_the_preset() -> None:
    def mask(pid: str) -> np.ndarray:
        return _render(pid).frames[10].min(axis=-1) > 235

    # Same size rule and position, different fonts (Bebas Neue, Impact→Anton, Arial Black→Archivo Black).
    punchy, meme_fast, meme_smooth = mask("product_hero_punchy"), mask("meme_fast"), mask("meme_smooth")
    assert (punchy != meme_fast).sum() > 500 and (meme_fast != meme_smooth).sum() > 500
    # Same font and position, small vs auto size: the small caption covers fewer pixels.
    assert mask("brand_safe_minimal").sum() < mask("overlay_classic").sum()


def test_transition_cut_vs_crossfade() -> None:
    def boundary_mix(pid: str) -> float:
        frames = _render(pid).frames
        # First frame of the second segment (frame 30): a cut shows the second image, a crossfade a blend.
        centre = frames[30][250:350, 500:580].reshape(-1, 3).mean(axis=0)  # above the centred caption
        return float(centre[0])  # red channel: high for the first (red) image, low for the second (blue)

    assert _by_preset()["meme_fast"].transitions.type == "cut"
    assert boundary_mix("meme_fast") < 80  # pure blue image
    assert boundary_mix("meme_smooth") > 80  # still partly red


def test_motion_profile_changes_how_much_the_picture_moves() -> None:
    def movement(pid: str) -> float:
        frames = _render(pid, images=("textured", "textured")).frames
        return float(np.abs(frames[25].astype(int) - frames[2].astype(int)).mean())

    # Same archetype and look, different motion profiles: minimal moves least, punchy most.
    assert movement("brand_safe_minimal") < movement("overlay_classic") < movement("overlay_bold")


def test_overlay_glow_differs_from_plain_overlay() -> None:
    classic, glow = (
        _render("overlay_classic", images=("textured", "textured")).frames,
        _render("overlay_glow", images=("textured", "textured")).frames,
    )
    assert np.abs(classic[5].astype(int) - glow[5].astype(int)).mean() > 1


def test_overlay_blurs_the_background_hero_does_not() -> None:
    def corner_detail(pid: str) -> float:
        corner = _render(pid, images=("textured", "textured")).frames[5][200:400, 20:200].astype(float)
        return float(np.abs(np.diff(corner, axis=1)).mean())

    assert corner_detail("overlay_classic") < corner_detail("product_hero_clean") / 3


def test_every_image_appears_in_order() -> None:
    frames = _render("meme_fast", images=("green", "red", "blue"), seconds=3).frames
    shown = []
    for middle in (15, 45, 75):  # one segment per image, 30 frames each
        colour = frames[middle][250:350, 500:580].reshape(-1, 3).mean(axis=0)
        shown.append(min(COLOURS, key=lambda name: np.abs(np.array(COLOURS[name]) - colour).sum()))
    assert shown == ["green", "red", "blue"]
