"""Clip scenes, decoded from the rendered files: any frame rate becomes 30 fps CFR in order, any shape is
cover-fitted (no bars, no distortion), a short clip holds its last frame, and a clip leaving in the next
segment's transition plays on (sought, not decoded from the start) and then holds."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from pytoon.models import CaptionStyle, MotionKind, OverlayKind, OverlayPlan, TransitionKind
from pytoon.render import clips
from pytoon.render.captions import caption_layout
from pytoon.render.segment import render_segment
from tests.media import (
    LOOK,
    clip_frame_number,
    counter_clip,
    decode_frames,
    flat_image,
    make_test_clip,
    motion,
    save_png,
    segment,
    video_stream,
    visual,
)

LAYOUT = caption_layout(CaptionStyle(font="Inter", size_rules="auto", position="lower_third", safe_margin_px=120))


def clip_visual(start: int = 0, count: int = 30, **fields: object):
    return visual(image_key=None, clip_key="clip", start=start, count=count, **fields)


def numbers(path: Path, columns: slice = slice(None)) -> list[int]:
    return [clip_frame_number(frame[:, columns]) for frame in decode_frames(path).values()]


def red_columns(frame: np.ndarray) -> np.ndarray:
    row = frame[960].astype(int)
    return np.flatnonzero((row[:, 0] > 170) & (row[:, 1] < 90) & (row[:, 2] < 90))


def test_a_24fps_landscape_clip_plays_in_order_at_30fps_cover_fitted(tmp_path: Path) -> None:
    clip = counter_clip(tmp_path / "clip.mp4", 48)  # 2 s at 24 fps, 640x360
    facts = render_segment(segment(clip_visual(count=45)), LAYOUT, {"clip": clip}, tmp_path / "seg.mp4")
    stream = video_stream(facts.path)
    assert (stream.width, stream.height, stream.fps, stream.frames) == (1080, 1920, Fraction(30), 45)
    assert stream.pts == [512 * i for i in range(45)]  # constant frame rate

    shown = numbers(facts.path)
    assert shown[0] == 0 and shown[-1] == 35  # the clip's first frame first; 45 frames at 30 fps = 1.5 s
    steps = np.diff(shown)
    assert set(steps) == {0, 1}  # in order, nothing skipped: 24 frames a second spread over 30
    assert (steps == 0).sum() == 45 - 36  # one frame in five shown twice
    assert all(abs(n - k * 24 / 30) <= 1 for k, n in enumerate(shown))

    frame = decode_frames(facts.path, {10})[10]
    save_png(frame, LOOK / "clip_landscape.png")
    for edge in (frame[:, :3], frame[:, -3:], frame[:3], frame[-3:]):
        assert edge.max(axis=-1).min() > 50  # the clip's bands to the very edge: no (black) bars
    # The middle 9:16 of the clip, scaled by 1920/360 both ways: its red lines (at 40 % and 60 % of the
    # clip's width, 4 px wide) land where that geometry puts them, as wide as it makes them.
    scale = 1920 / 360
    left_edge = (640 - 360 * 1080 / 1920) / 2
    lines = red_columns(frame)
    first, second = lines[lines < 540], lines[lines >= 540]
    for found, x in ((first, 256), (second, 384)):
        # (4:2:0 crops start on even pixels and are an even number wide: up to a source pixel off, ~5 here)
        assert found.mean() + 0.5 == pytest.approx((x - left_edge) * scale, abs=8)
        assert len(found) == pytest.approx(4 * scale, abs=3)
    assert second.mean() - first.mean() == pytest.approx(128 * scale, rel=0.01)  # no distortion


def test_a_short_clip_holds_its_last_frame_and_its_audio_is_dropped(tmp_path: Path) -> None:
    clip = counter_clip(tmp_path / "clip.mp4", 12, audio=True)  # 0.5 s, with a sound track
    facts = render_segment(segment(clip_visual(count=30)), LAYOUT, {"clip": clip}, tmp_path / "seg.mp4")
    assert video_stream(facts.path).frames == 30
    shown = numbers(facts.path)
    assert shown[:15] == sorted(shown[:15]) and shown[14] == 11
    assert shown[15:] == [11] * 15  # held
    frames = decode_frames(facts.path, {14, 29})
    assert np.abs(frames[14].astype(int) - frames[29]).mean() < 1


def test_a_portrait_1080x1920_clip_passes_through_sharp(tmp_path: Path) -> None:
    clip = counter_clip(tmp_path / "clip.mp4", 6, fps=30, size=(1080, 1920))
    facts = render_segment(segment(clip_visual(count=6)), LAYOUT, {"clip": clip}, tmp_path / "seg.mp4")
    assert numbers(facts.path) == [0, 1, 2, 3, 4, 5]  # 30 fps: frame for frame
    frame = decode_frames(facts.path, {3})[3]
    lines = red_columns(frame)
    assert list(lines) == [430, 431, 432, 433, 646, 647, 648, 649]  # the 4 px lines at 40 % and 60 %
    # Not resampled: the line's edges stay one pixel wide (a scaler would spread them over several).
    row = frame[960].astype(int)
    assert np.abs(row[429] - row[420]).max() < 24 and np.abs(row[434] - row[440]).max() < 24


def test_a_rotated_phone_clip_is_shown_upright(tmp_path: Path) -> None:
    # Stored on its side (640x360) with a display matrix saying "turn 90 degrees": a portrait clip.
    for rotation in (90, -90):
        clip = counter_clip(tmp_path / f"r{rotation}.mp4", 8, fps=30, size=(360, 640), rotation=rotation)
        facts = render_segment(segment(clip_visual(count=8)), LAYOUT, {"clip": clip}, tmp_path / f"r{rotation}s.mp4")
        assert numbers(facts.path) == list(range(8))  # bands horizontal, most significant on top


@pytest.mark.parametrize("suffix", [".mov", ".webm"])
def test_mov_and_webm_clips_render(tmp_path: Path, suffix: str) -> None:
    colours = [(220, 40, 40), (40, 200, 60), (40, 60, 220)]
    clip = make_test_clip(tmp_path / f"c{suffix}", seconds=1.0, fps=25, size=(480, 480), colours=colours, audio=True)
    facts = render_segment(segment(clip_visual(count=30)), LAYOUT, {"clip": clip}, tmp_path / "seg.mp4")
    frames = decode_frames(facts.path)
    assert len(frames) == 30
    for k, colour in ((2, colours[0]), (15, colours[1]), (27, colours[2])):
        assert frames[k].reshape(-1, 3).mean(axis=0) == pytest.approx(colour, abs=8)


def test_motion_does_not_apply_to_clips(tmp_path: Path) -> None:
    clip = counter_clip(tmp_path / "clip.mp4", 4, fps=30, size=(1080, 1920))
    still = render_segment(segment(clip_visual(count=4)), LAYOUT, {"clip": clip}, tmp_path / "a.mp4")
    zooming = clip_visual(count=4, motion=motion(MotionKind.ZOOM_IN, zoom=(1.0, 1.5), pan_x_end=1.0))
    moved = render_segment(segment(zooming), LAYOUT, {"clip": clip}, tmp_path / "b.mp4")
    for a, b in zip(decode_frames(still.path).values(), decode_frames(moved.path).values(), strict=True):
        assert np.array_equal(a, b)


def test_a_leaving_clip_plays_on_then_holds_and_is_sought_not_decoded_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = counter_clip(tmp_path / "clip.mp4", 100)  # 100 frames at 24 fps: 125 frames at 30 fps
    image = {"img": flat_image(tmp_path / "g.jpg", (128, 128, 128))}
    whole = numbers(render_segment(segment(clip_visual(count=130)), LAYOUT, {"clip": clip}, tmp_path / "w.mp4").path)

    seeks: list[str] = []
    source = clips.clip_source

    def recording(path: Path, first: int, count: int) -> tuple[list[str], str]:
        args, filters = source(path, first, count)
        seeks.append(args[args.index("-ss") + 1] if "-ss" in args else "")
        return args, filters

    monkeypatch.setattr("pytoon.render.segment.clip_source", recording)
    # The clip's scene ended at frame 90 (mid-clip); the next one swipes in over 8 frames: the clip plays on.
    previous = clip_visual(count=90, overlays=[OverlayPlan(kind=OverlayKind.TEXT, text="Logo", position="top-left")])
    plan = segment(visual(image_key="img", start=90, count=12, motion=motion(MotionKind.STATIC, zoom=(1.0, 1.0))), 1,
                   previous=previous, crossfade=8, transition=TransitionKind.SWIPE_LEFT)  # fmt: skip
    files = {"clip": clip, **image}
    facts = render_segment(plan, LAYOUT, files, tmp_path / "swipe.mp4")
    assert seeks == [f"{87 / 30:.6f}"]  # 3 frames before the first one wanted
    swiped = numbers(facts.path, slice(0, 60))[:6]  # the leaving clip's left edge, while it is still there
    assert swiped == whole[90:96]  # the same frames as if it had played on in its own scene
    save_png(decode_frames(facts.path, {4})[4], LOOK / "clip_swipe_mid.png")

    # As a fade's outgoing visual it starts one frame early (the frame before the segment); a clip that
    # ended long before holds its last frame through the whole transition.
    seeks.clear()
    plan = segment(plan.visual, 1, previous=clip_visual(count=90), crossfade=4)
    render_segment(plan, LAYOUT, files, tmp_path / "fade.mp4")
    assert seeks == [f"{86 / 30:.6f}"]
    seeks.clear()
    late = visual(image_key="img", start=300, count=12, motion=motion(MotionKind.STATIC, zoom=(1.0, 1.0)))
    plan = segment(late, 1, previous=clip_visual(count=300), crossfade=8, transition=TransitionKind.SWIPE_RIGHT)
    held = numbers(render_segment(plan, LAYOUT, files, tmp_path / "held.mp4").path, slice(-60, None))[:6]
    assert held == [99] * 6
    end_frames = 100 * 30 // 24
    assert seeks == [f"{(end_frames - clips.SEEK_END_MARGIN_FRAMES) / 30:.6f}"]  # no seek past the clip's end


def test_a_clip_scene_starting_before_its_segment_is_sought_too(tmp_path: Path) -> None:
    clip = counter_clip(tmp_path / "clip.mp4", 100)
    whole = numbers(render_segment(segment(clip_visual(count=100)), LAYOUT, {"clip": clip}, tmp_path / "w.mp4").path)
    vis = clip_visual(count=100)
    later = segment(vis).model_copy(update={"start_frame": 60, "frame_count": 20})
    assert numbers(render_segment(later, LAYOUT, {"clip": clip}, tmp_path / "l.mp4").path) == whole[60:80]


def test_the_video_end_is_read_from_packets(tmp_path: Path) -> None:
    assert clips.video_end_seconds(counter_clip(tmp_path / "a.mp4", 100, audio=True)) == pytest.approx(100 / 24)
