from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytoon.models import Archetype, CaptionCue, CaptionStyle, MotionKind
from pytoon.render import segment as segment_module
from pytoon.render.assemble import write_concat_list
from pytoon.render.captions import caption_layout, render_caption_image, safe_area
from pytoon.render.ffmpeg import FfmpegError, media_input, output_target, run_ffmpeg
from pytoon.render.frames import Camera, camera_progress
from pytoon.render.segment import crossfade_alpha, render_segment
from tests.media import decode_frames, flat_image, motion, segment, textured_image, video_stream, visual

LAYOUT = caption_layout(CaptionStyle(font="Inter", size_rules="auto", position="lower_third", safe_margin_px=120))
STILL = motion(MotionKind.STATIC, zoom=(1.0, 1.0))


def test_segment_is_h264_high_1080x1920_30fps_with_exact_frames_and_smooth_motion(tmp_path: Path) -> None:
    images = {"img": textured_image(tmp_path / "t.jpg")}
    plan = segment(visual(count=12, motion=motion(zoom=(1.0, 1.1), pan_y_start=-0.5, pan_y_end=0.5)))
    facts = render_segment(plan, LAYOUT, images, tmp_path / "seg.mp4")
    assert (facts.frames, facts.duration_seconds, facts.path) == (12, 0.4, tmp_path / "seg.mp4")

    stream = video_stream(facts.path)
    assert (stream.width, stream.height, stream.pix_fmt) == (1080, 1920, "yuv420p")
    assert (stream.codec, stream.profile, stream.fps) == ("h264", "High", Fraction(30))
    assert stream.frames == 12 and stream.pts == [512 * i for i in range(12)]  # in order: no B-frames
    assert stream.keyframes == [0]  # opens with an IDR
    assert stream.time_base == Fraction(1, 15360) and stream.duration_seconds == pytest.approx(0.4)
    assert (stream.colorspace, stream.color_range) == (1, 1)  # BT.709, limited ("tv") range

    frames = decode_frames(facts.path)
    assert len(frames) == 12
    for f in range(1, 12):
        assert np.abs(frames[f].astype(int) - frames[f - 1]).mean() > 0.3
    for frame in frames.values():
        for edge in (frame[:2], frame[-2:], frame[:, :2], frame[:, -2:]):
            assert edge.mean(axis=-1).min() > 40  # bright image: a black bar would read ~16


def test_crossfade_frames_are_true_mixes_of_both_neighbours(tmp_path: Path) -> None:
    images = {
        "red": flat_image(tmp_path / "r.jpg", (220, 20, 20)),
        "blue": flat_image(tmp_path / "b.jpg", (20, 20, 220)),
    }
    red = visual(image_key="red", start=0, count=10, motion=STILL)
    blue = visual(image_key="blue", start=10, count=6, motion=STILL)
    plan = segment(blue, 1, previous=red, crossfade=3)
    facts = render_segment(plan, LAYOUT, images, tmp_path / "seg.mp4")
    means = [frame.reshape(-1, 3).mean(axis=0) for frame in decode_frames(facts.path).values()]
    for k, alpha in enumerate([0.25, 0.5, 0.75, 1.0, 1.0, 1.0]):
        expected = (1 - alpha) * np.array([220, 20, 20]) + alpha * np.array([20, 20, 220])
        assert means[k] == pytest.approx(expected, abs=6), f"frame {k}"
    assert [crossfade_alpha(k, 3) for k in range(3)] == [0.25, 0.5, 0.75]


def test_captions_show_only_during_their_cue_and_only_in_their_box(tmp_path: Path) -> None:
    images = {"grey": flat_image(tmp_path / "g.jpg", (128, 128, 128))}
    cue = CaptionCue(index=1, start_frame=24, end_frame=28, text="Only while I am on")
    plan = segment(visual(image_key="grey", start=20, count=10, motion=STILL), captions=[cue])
    frames = decode_frames(render_segment(plan, LAYOUT, images, tmp_path / "seg.mp4").path)

    image, (x, y) = render_caption_image(cue.text, LAYOUT)
    margin = 4  # chroma subsampling and compression smear an edge by a pixel or two
    outside = np.ones((1920, 1080), bool)
    outside[y - margin : y + image.height + margin, x - margin : x + image.width + margin] = False
    area = safe_area(LAYOUT)
    assert area.left <= x and x + image.width <= area.right and area.top <= y and y + image.height <= area.bottom
    for number, frame in frames.items():
        changed = np.abs(frame.astype(int) - 128).max(axis=-1) > 12
        if 4 <= number < 8:
            assert changed.sum() > 5_000, f"caption missing on frame {number}"
            assert not (changed & outside).any(), f"caption pixels outside its box on frame {number}"
            box = frame[y + 3 : y + 10, x + 20 : x + image.width - 20]
            assert box.mean() < 80  # the darkened box behind the text
        else:
            assert not changed.any(), f"caption visible on frame {number}"


def test_segments_join_by_stream_copy_into_one_seamless_video(tmp_path: Path) -> None:
    images = {"img": textured_image(tmp_path / "t.jpg")}
    counts, start, files = [1, 7, 5], 0, []
    previous = None
    for index, count in enumerate(counts):
        vis = visual(start=start, count=count, motion=motion(zoom=(1.0 + 0.02 * index, 1.05 + 0.02 * index)))
        plan = segment(vis, index, previous=previous, crossfade=2 if previous else 0)
        files.append(render_segment(plan, LAYOUT, images, tmp_path / f"seg_{index:03d}.mp4").path)
        previous, start = vis, start + count
    joined = tmp_path / "joined.mp4"
    listing = write_concat_list(files)
    run_ffmpeg(["-f", "concat", *media_input(listing), "-c", "copy", "-y", output_target(joined)], timeout=60)

    stream = video_stream(joined)
    assert stream.frames == 13 and stream.duration_seconds == pytest.approx(13 / 30)
    assert stream.pts == [512 * i for i in range(13)]  # no gap, overlap or duplicate at the joins
    assert stream.keyframes == [0, 1, 8]  # every segment still opens with its IDR
    expected = [frame for path in files for frame in decode_frames(path).values()]
    actual = list(decode_frames(joined).values())
    assert len(actual) == 13
    assert all(np.array_equal(a, b) for a, b in zip(actual, expected, strict=True))  # bit-identical


def test_a_failed_render_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = {"img": textured_image(tmp_path / "t.jpg")}
    out = tmp_path / "out" / "seg.mp4"
    out.parent.mkdir()
    # ffmpeg killed halfway through the encode (by the timeout): no partial file, no scratch pictures.
    with pytest.raises(FfmpegError, match="timed out"):
        render_segment(segment(visual(count=900)), LAYOUT, images, out, timeout=2)
    assert list(out.parent.iterdir()) == []

    # A step failing after pictures were written.
    def exploding(text: str, layout: object) -> None:
        raise RuntimeError("font went away")

    monkeypatch.setattr(segment_module, "render_caption_image", exploding)
    cue = CaptionCue(index=1, start_frame=0, end_frame=5, text="Hello")
    with pytest.raises(RuntimeError, match="font went away"):
        render_segment(segment(visual(count=10), captions=[cue]), LAYOUT, images, out)
    assert list(out.parent.iterdir()) == []


def test_missing_image_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="No image file for key 'img'"):
        render_segment(segment(visual(Archetype.OVERLAY)), LAYOUT, {}, tmp_path / "seg.mp4")


def test_ken_burns_moves_smoothly_by_fractions_of_a_pixel(tmp_path: Path) -> None:
    """Dark round markers on a light picture, tracked to a fraction of a pixel on every frame: they follow
    the eased camera (rounding the crops costs at most a quarter pixel) and move by smoothly changing
    amounts: none stands still (or jumps) while its neighbours move, as whole-pixel crops at frame
    resolution would make them."""
    size, sigma = (1100, 1900), 5.0
    markers = [(300.5, 450.5), (800.5, 460.5), (290.5, 1450.5), (790.5, 1440.5), (600.5, 900.5)]
    y, x = np.mgrid[0 : size[1], 0 : size[0]] + 0.5
    ink = sum(np.exp(-((x - mx) ** 2 + (y - my) ** 2) / (2 * sigma**2)) for mx, my in markers)
    Image.fromarray((225 - 180 * np.clip(ink, 0, 1)).astype(np.uint8)).convert("RGB").save(tmp_path / "m.png")
    vis = visual(count=40, motion=motion(zoom=(1.0, 1.2), pan_x_start=-0.6, pan_x_end=0.4, pan_y_end=0.5))
    frames = decode_frames(render_segment(segment(vis), LAYOUT, {"img": tmp_path / "m.png"}, tmp_path / "s.mp4").path)

    def expected(f: int) -> np.ndarray:
        left, top, right, bottom = Camera.at(vis.motion, camera_progress(vis, f)).window(size)
        scale = 1080 / (right - left)
        return np.array([((mx - left) * scale, (my - top) * scale) for mx, my in markers])

    def measured(frame: np.ndarray, near: np.ndarray) -> np.ndarray:
        """Centroids of the darkness around each marker's expected spot (pixel centres at +0.5)."""
        darkness = np.clip(200.0 - frame.astype(float).mean(axis=-1), 0, None)
        found = []
        for cx, cy in near:
            x0, y0 = int(cx) - 20, int(cy) - 20
            patch = darkness[y0 : y0 + 41, x0 : x0 + 41]
            py, px = np.mgrid[y0 : y0 + 41, x0 : x0 + 41] + 0.5
            found.append(((patch * px).sum() / patch.sum(), (patch * py).sum() / patch.sum()))
        return np.array(found)

    truth = np.array([expected(f) for f in range(40)])
    seen = np.array([measured(frames[f], truth[f]) for f in range(40)])
    assert np.abs(seen - truth).max() < 0.4  # on the camera's path on every frame: sub-pixel, in step
    moved = np.linalg.norm(np.diff(seen, axis=0), axis=-1)  # (39 steps, markers)
    should = np.linalg.norm(np.diff(truth, axis=0), axis=-1)
    assert moved.max() > 5  # the test has motion to measure
    assert np.abs(moved - should).max() < 0.65  # each step as long as the camera's, give or take
    stalls = (moved[1:-1] < 0.2) & (moved[:-2] >= 1) & (moved[2:] >= 1)
    assert not stalls.any()  # never a frame standing still between moving neighbours
