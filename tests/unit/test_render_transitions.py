"""Transitions between segments, decoded from the rendered files: fade_black dips to black across the boundary,
swipes push the previous picture (and its overlays) out of the frame, fades blend overlays out with their visual."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pytoon.models import CaptionCue, CaptionStyle, MotionKind, OverlayKind, OverlayPlan, TransitionKind
from pytoon.render.captions import caption_layout
from pytoon.render.segment import crossfade_alpha, render_segment, swipe_progress
from tests.media import LOOK, decode_frames, flat_image, motion, save_png, segment, video_stream, visual

LAYOUT = caption_layout(CaptionStyle(font="Inter", size_rules="auto", position="lower_third", safe_margin_px=120))
STILL = motion(MotionKind.STATIC, zoom=(1.0, 1.0))
ORANGE, TEAL = (230, 140, 40), (40, 180, 200)
RED, BLUE, WHITE, YELLOW = (210, 30, 30), (30, 40, 210), (250, 250, 250), (240, 220, 30)


def luma(frame: np.ndarray) -> float:
    return float((frame.astype(float) @ [0.2126, 0.7152, 0.0722]).mean())


def striped(path: Path, colour: tuple[int, int, int], stripe: tuple[int, int, int], x: int) -> Path:
    """A frame-sized picture in one colour with a 20 px vertical stripe from column x (a still camera at
    zoom 1 shows it pixel for pixel)."""
    image = Image.new("RGB", (1080, 1920), colour)
    ImageDraw.Draw(image).rectangle((x, 0, x + 19, 1919), fill=stripe)
    image.save(path)
    return path


def columns_like(frame: np.ndarray, colours: list[tuple[int, int, int]]) -> np.ndarray:
    """Columns (of the middle rows) whose pixels are nearest to one of `colours` among all the test colours."""
    palette = np.array([RED, BLUE, WHITE, YELLOW], float)
    row = frame[900:1000].astype(float).mean(axis=0)  # (1080, 3)
    nearest = np.abs(row[:, None, :] - palette[None]).sum(axis=-1).argmin(axis=1)
    wanted = [i for i, c in enumerate([RED, BLUE, WHITE, YELLOW]) if c in colours]
    return np.isin(nearest, wanted)


def test_fade_black_darkens_the_outgoing_end_and_raises_the_incoming_start(tmp_path: Path) -> None:
    files = {"a": flat_image(tmp_path / "a.jpg", ORANGE), "b": flat_image(tmp_path / "b.jpg", TEAL)}
    logo = OverlayPlan(kind=OverlayKind.TEXT, text="SALE", position="top-left")
    outgoing = segment(visual(image_key="a", count=30, motion=STILL, overlays=[logo]), 0, fade_out=6)
    # A caption across the boundary: captions are not part of a visual, they stay while the picture dips.
    cue = CaptionCue(index=1, start_frame=25, end_frame=40, text="Still here")
    incoming = segment(
        visual(image_key="b", start=30, count=30, motion=STILL),
        1,
        crossfade=6,
        transition=TransitionKind.FADE_BLACK,
        captions=[cue],
    )
    first = decode_frames(render_segment(outgoing, LAYOUT, files, tmp_path / "s0.mp4").path)
    second = decode_frames(render_segment(incoming, LAYOUT, files, tmp_path / "s1.mp4").path)
    assert len(first) == 30 and len(second) == 30
    save_png(np.concatenate([first[27], first[29], second[0], second[3]], axis=1), LOOK / "fade_black_boundary.png")

    out_levels = [luma(first[f]) for f in range(22, 30)]
    in_levels = [luma(second[f][:1200]) for f in range(0, 8)]  # above the caption
    assert out_levels[-1] < 16 and in_levels[0] < 16  # both boundary frames are black
    assert first[29].max() < 30  # the overlay went dark with its visual
    assert luma(first[15]) > 120 and luma(second[15]) > 120  # mid-scene frames are not
    assert all(a > b for a, b in zip(out_levels[1:], out_levels[2:], strict=False))  # darkening every frame
    assert all(a < b for a, b in zip(in_levels[:6], in_levels[1:7], strict=True))  # brightening every frame
    full_out, full_in = luma(first[10]), luma(second[20])
    for m in range(1, 7):  # the m-th last frame keeps (m - 1) / 6 of the picture
        assert luma(first[30 - m]) == pytest.approx(full_out * (m - 1) / 6, abs=6)
    for k in range(6):  # frame k rises to k / 6
        assert in_levels[k] == pytest.approx(full_in * k / 6, abs=6)
    assert np.abs(second[6][:1200].astype(int) - second[15][:1200]).max() <= 2  # then the picture is untouched
    for frame in (second[0], second[9]):  # the caption is white at full brightness, over black too
        assert (frame[1300:1700].min(axis=-1) > 200).sum() > 2_000


@pytest.mark.parametrize("kind", [TransitionKind.SWIPE_LEFT, TransitionKind.SWIPE_RIGHT])
def test_a_swipe_pushes_the_previous_picture_out_with_an_eased_moving_edge(
    tmp_path: Path, kind: TransitionKind
) -> None:
    files = {
        "red": striped(tmp_path / "red.png", RED, WHITE, 750),
        "blue": striped(tmp_path / "blue.png", BLUE, YELLOW, 300),
    }
    previous = visual(image_key="red", start=0, count=30, motion=STILL)
    n, count = 8, 14
    plan = segment(visual(image_key="blue", start=30, count=count, motion=STILL), 1, previous=previous, crossfade=n,
                   transition=kind)  # fmt: skip
    facts = render_segment(plan, LAYOUT, files, tmp_path / "seg.mp4")
    stream = video_stream(facts.path)
    assert stream.frames == count and stream.pts == [512 * i for i in range(count)]
    frames = decode_frames(facts.path)
    save_png(frames[n // 2], LOOK / f"{kind.value}_mid.png")

    leftwards = kind is TransitionKind.SWIPE_LEFT
    edges, stripes = [], []
    for k in range(n):
        old = columns_like(frames[k], [RED, WHITE])
        new = columns_like(frames[k], [BLUE, YELLOW])
        assert (old | new).all()  # only the two pictures, side by side
        # swipe_left: the previous picture on the left, the incoming one entering from the right
        edge = int(old.sum()) if leftwards else int(new.sum())
        assert (old[:edge].all() and new[edge:].all()) if leftwards else (new[:edge].all() and old[edge:].all())
        pushed = 1080 * swipe_progress(k, n)
        assert edge == pytest.approx(1080 - pushed if leftwards else pushed, abs=2)
        edges.append(edge)
        white = np.flatnonzero(columns_like(frames[k], [WHITE]))
        if white.size:
            stripes.append((edge, white.mean()))
    steps = np.diff(edges)
    assert (steps < 0).all() if leftwards else (steps > 0).all()  # the edge crosses the frame monotonically
    assert abs(steps[0]) < abs(steps[n // 2 - 1]) > abs(steps[-1])  # eased: slow, fast, slow
    # A push, not a wipe: the previous picture's stripe keeps its place relative to the moving edge.
    assert len(stripes) >= 2
    offset = 750 - 1080 if leftwards else 750
    for edge, stripe in stripes:
        assert stripe - edge == pytest.approx(offset + 9.5, abs=2)
    for k in range(n, count):  # after the swipe: the incoming picture alone, in place
        assert columns_like(frames[k], [BLUE]).sum() > 1000
        assert np.flatnonzero(columns_like(frames[k], [YELLOW])).mean() == pytest.approx(309.5, abs=2)


def test_overlays_leave_with_their_visual(tmp_path: Path) -> None:
    """A logo on the previous visual slides out with it in a swipe and blends out with it in a fade."""
    files = {
        "grey": flat_image(tmp_path / "g.jpg", (120, 120, 120), size=(1080, 1920)),
        "dark": flat_image(tmp_path / "d.jpg", (20, 20, 20), size=(1080, 1920)),
    }
    Image.new("RGB", (200, 200), WHITE).save(tmp_path / "logo.png")
    files["logo"] = tmp_path / "logo.png"
    logo = OverlayPlan(kind=OverlayKind.LOGO, image_key="logo", position="top-right")
    previous = visual(image_key="grey", start=0, count=30, motion=STILL, overlays=[logo])
    incoming = visual(image_key="dark", start=30, count=10, motion=STILL)

    swiped = decode_frames(
        render_segment(segment(incoming, 1, previous=previous, crossfade=6, transition=TransitionKind.SWIPE_LEFT),
                       LAYOUT, files, tmp_path / "swipe.mp4").path
    )  # fmt: skip
    rights = []
    for k in range(6):
        white = np.flatnonzero(swiped[k][150:300].min(axis=(0, 2)) > 235)
        grey = np.flatnonzero(np.abs(swiped[k][1000].astype(int) - 120).max(axis=-1) < 8)
        if white.size:  # the logo's right edge stays 54 px inside the previous picture's right edge
            rights.append(white.max() + 1)
            assert white.max() + 1 == pytest.approx(grey.max() + 1 - 54, abs=2)
    assert len(rights) >= 3 and (np.diff(rights) < 0).all()
    assert not (swiped[8] > 200).any()  # gone with it

    faded = decode_frames(
        render_segment(segment(incoming, 1, previous=previous, crossfade=3), LAYOUT, files, tmp_path / "fade.mp4").path
    )
    for k in range(3):
        mix = faded[k][150:300, 850:1000].astype(float).mean()
        assert mix == pytest.approx((1 - crossfade_alpha(k, 3)) * 250 + crossfade_alpha(k, 3) * 20, abs=8)


def test_a_cut_shows_the_incoming_visual_from_its_first_frame(tmp_path: Path) -> None:
    files = {"a": flat_image(tmp_path / "a.jpg", ORANGE), "b": flat_image(tmp_path / "b.jpg", TEAL)}
    previous = visual(image_key="a", count=10, motion=STILL)
    plan = segment(visual(image_key="b", start=10, count=5, motion=STILL), 1, previous=previous, crossfade=4,
                   transition=TransitionKind.CUT)  # fmt: skip
    frames = decode_frames(render_segment(plan, LAYOUT, files, tmp_path / "cut.mp4").path)
    assert len(frames) == 5
    for frame in frames.values():
        assert frame.reshape(-1, 3).mean(axis=0) == pytest.approx(TEAL, abs=4)


def test_a_transition_that_needs_the_previous_visual_says_so(tmp_path: Path) -> None:
    files = {"b": flat_image(tmp_path / "b.jpg", TEAL)}
    for kind in (TransitionKind.FADE, TransitionKind.SWIPE_RIGHT):
        plan = segment(visual(image_key="b", start=10, count=5, motion=STILL), 1, crossfade=3, transition=kind)
        with pytest.raises(ValueError, match=f"a {kind.value} transition needs the previous visual"):
            render_segment(plan, LAYOUT, files, tmp_path / "seg.mp4")
    assert not (tmp_path / "seg.mp4").exists()
