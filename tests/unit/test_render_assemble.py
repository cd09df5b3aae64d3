from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pytoon.models import Archetype, AudioPlan, CaptionCue, CaptionStyle, MotionKind
from pytoon.render.assemble import AssemblyError, assemble_output, thumbnail_frame, thumbnail_source
from pytoon.render.audio import build_audio
from pytoon.render.captions import caption_layout
from pytoon.render.segment import render_segment
from tests.media import (
    audio_stream,
    cutout_png,
    decode_frames,
    motion,
    music_bed,
    product_photo,
    render_plan,
    segment,
    speech_like,
    video_stream,
    visual,
)

LAYOUT = caption_layout(CaptionStyle(font="Inter", size_rules="auto", position="lower_third", safe_margin_px=120))


def test_assembles_a_seamless_short_with_audio_and_thumbnail(tmp_path: Path) -> None:
    images = {"photo": product_photo(tmp_path / "p.jpg"), "cut": cutout_png(tmp_path / "c.png")}
    hook = CaptionCue(index=1, start_frame=2, end_frame=9, text="Cold for 24 hours")
    cta = CaptionCue(index=2, start_frame=11, end_frame=18, text="Yours for $29")
    hero = visual(image_key="photo", start=0, count=10)
    overlay = visual(
        Archetype.OVERLAY,
        image_key="cut",
        start=10,
        count=8,
        motion=motion(MotionKind.PAN_UP, zoom=(1.1, 1.1), pan_y_start=0.5, pan_y_end=-0.5),
    )
    plans = [segment(hero, 0, captions=[hook]), segment(overlay, 1, previous=hero, crossfade=3, captions=[cta])]
    segment_dir = tmp_path / "segments"
    segment_dir.mkdir()
    files = [render_segment(p, LAYOUT, images, segment_dir / f"seg_{p.index:03d}.mp4").path for p in plans]
    audio = {"m": music_bed(tmp_path / "m.mp3", 2.0), "v": speech_like(tmp_path / "v.wav", 0.5)}
    plan = render_plan(plans, LAYOUT, audio=AudioPlan(music_key="m", voice_key="v"))

    soundtrack = build_audio(plan.audio, audio, plan.total_frames / 30, tmp_path / "audio.m4a")
    facts = assemble_output(files, plan, soundtrack, tmp_path / "out")

    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["output.mp4", "thumbnail.jpg"]
    assert sorted(p.name for p in segment_dir.iterdir()) == ["seg_000.mp4", "seg_001.mp4"]
    assert facts.frame_count == 18 and facts.duration_seconds == pytest.approx(0.6)
    assert set(facts.timings) == {"mux", "verify", "thumbnail"}
    assert facts.media.video is not None and facts.media.audio is not None
    assert (facts.media.video.width, facts.media.video.height, facts.media.video.profile) == (1080, 1920, "High")

    video = video_stream(facts.output_path)
    assert (video.width, video.height, video.pix_fmt, video.codec, video.profile) == (
        1080,
        1920,
        "yuv420p",
        "h264",
        "High",
    )
    assert video.fps == Fraction(30) and video.frames == 18 and video.pts == [512 * i for i in range(18)]
    assert video.keyframes == [0, 10]
    assert video.duration_seconds == pytest.approx(0.6)
    sound = audio_stream(facts.output_path)
    assert (sound.codec, sound.profile, sound.sample_rate, sound.channels) == ("aac", "LC", 48_000, 2)
    assert sound.duration_seconds == pytest.approx(0.6, abs=1e-6)
    with av.open(str(facts.output_path)) as container:
        assert container.duration / 1e6 == pytest.approx(0.6, abs=0.001)
    assert facts.loudness.integrated_lufs is not None and abs(facts.loudness.integrated_lufs + 14) <= 1
    assert facts.loudness.true_peak_dbtp is not None and facts.loudness.true_peak_dbtp <= -1

    data = facts.output_path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: playable while downloading

    # The video was copied, not re-encoded: the output's frames are the segments' frames, bit for bit.
    joined = list(decode_frames(facts.output_path).values())
    originals = [frame for path in files for frame in decode_frames(path).values()]
    assert all(np.array_equal(a, b) for a, b in zip(joined, originals, strict=True))

    thumbnail = Image.open(facts.thumbnail_path)
    assert (thumbnail.format, thumbnail.size, thumbnail.mode) == ("JPEG", (1080, 1920), "RGB")
    caption_frame = joined[thumbnail_frame(plan)]
    assert thumbnail_frame(plan) == 5
    assert np.abs(np.asarray(thumbnail).astype(int) - caption_frame).mean() < 3


def test_one_second_video_without_audio_gets_silence_and_a_thumbnail(tmp_path: Path) -> None:
    plans = [segment(visual(Archetype.MEME_TEXT, image_key=None, count=30, card_text="One second"))]
    files = [render_segment(plans[0], LAYOUT, {}, tmp_path / "seg_000.mp4").path]
    plan = render_plan(plans, LAYOUT)
    silence = build_audio(plan.audio, {}, 1.0, tmp_path / "audio.m4a")
    facts = assemble_output(files, plan, silence, tmp_path / "out")
    assert facts.frame_count == 30
    sound = audio_stream(facts.output_path)
    assert sound.duration_seconds == pytest.approx(1.0, abs=1e-6) and np.abs(sound.samples).max() == 0
    assert facts.loudness.integrated_lufs is None
    assert Image.open(facts.thumbnail_path).size == (1080, 1920)


def test_frame_count_mismatch_fails_without_publishing(tmp_path: Path) -> None:
    plans = [segment(visual(image_key=None, count=6))]
    files = [render_segment(plans[0], LAYOUT, {}, tmp_path / "seg_000.mp4").path]
    plan = render_plan(plans, LAYOUT, total_frames=9)
    silence = build_audio(plan.audio, {}, 0.3, tmp_path / "audio.m4a")
    with pytest.raises(AssemblyError, match="6 frames, the plan has 9"):
        assemble_output(files, plan, silence, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_thumbnail_frame_choice() -> None:
    plans = [segment(visual(image_key=None, count=300))]
    assert thumbnail_frame(render_plan(plans, LAYOUT, captions=[])) == 30
    short = [segment(visual(image_key=None, count=20))]
    assert thumbnail_frame(render_plan(short, LAYOUT, captions=[])) == 10
    cue = CaptionCue(index=1, start_frame=40, end_frame=100, text="hook")
    assert thumbnail_frame(render_plan(plans, LAYOUT, captions=[cue])) == 70
    late = CaptionCue(index=1, start_frame=15, end_frame=60, text="hook")
    assert thumbnail_frame(render_plan(short, LAYOUT, captions=[late])) == 19


def test_thumbnail_is_decoded_from_the_segment_showing_its_frame() -> None:
    first, second = visual(image_key=None, count=40), visual(image_key=None, start=40, count=50)
    plans = [segment(first, 0), segment(second, 1, previous=first)]
    files = [Path("seg_000.mp4"), Path("seg_001.mp4")]
    cue = CaptionCue(index=1, start_frame=50, end_frame=70, text="hook")
    assert thumbnail_source(files, render_plan(plans, LAYOUT, captions=[cue])) == (files[1], 20)
    assert thumbnail_source(files, render_plan(plans, LAYOUT, captions=[])) == (files[0], 30)
    with pytest.raises(AssemblyError, match="No segment of the plan shows frame 25"):
        thumbnail_source(files[:1], render_plan(plans[1:], LAYOUT, captions=[]))
