"""captions.srt says, to the frame, when the burned-in captions change."""

from __future__ import annotations

import re
from pathlib import Path

import av
import numpy as np

from pytoon.chain import plan_documents
from pytoon.models import FPS, Captions
from pytoon.render.assemble import assemble_output
from pytoon.render.audio import build_audio
from pytoon.render.captions import cues_to_srt
from pytoon.render.segment import render_segment
from tests.factories import make_spec

SRT_TIME = re.compile(r"(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)")


def _frames_from_srt(srt: str) -> list[tuple[int, int]]:
    cues = []
    for match in SRT_TIME.finditer(srt):
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, match.groups())
        start = (h1 * 3600 + m1 * 60 + s1) + ms1 / 1000
        end = (h2 * 3600 + m2 * 60 + s2) + ms2 / 1000
        cues.append((round(start * FPS), round(end * FPS)))
    return cues


def test_burned_captions_change_exactly_at_the_srt_times(tmp_path: Path) -> None:
    # A text card without an image and a static camera: between frames only the captions can change.
    spec = make_spec(
        job_id="srt",
        preset_id="meme_fast",
        target_duration_seconds=3,
        captions=Captions(hook="First thing", beats=["Second thing"], cta="Last thing"),
    )
    plan = plan_documents(spec).plan
    plan = plan.model_copy(
        update={
            "segments": [
                s.model_copy(
                    update={
                        "visual": s.visual.model_copy(
                            update={"motion": s.visual.motion.model_copy(update={"zoom_start": 1.0, "zoom_end": 1.0})}
                        )
                    }
                )
                for s in plan.segments
            ]
        }
    )
    files = [
        render_segment(s, plan.caption_layout, {}, tmp_path / f"seg_{s.index:03d}.mp4").path for s in plan.segments
    ]
    silence = build_audio(plan.audio, {}, plan.duration_seconds, tmp_path / "audio.m4a")
    output = assemble_output(files, plan, silence, tmp_path / "out").output_path
    change = []  # change[i]: mean absolute difference from frame i to frame i+1
    with av.open(str(output)) as container:
        previous = None
        for frame in container.decode(video=0):
            pixels = frame.to_ndarray(format="gray").astype(np.int16)  # one frame at a time keeps memory flat
            if previous is not None:
                change.append(float(np.abs(pixels - previous).mean()))
            previous = pixels

    cues = _frames_from_srt(cues_to_srt(plan.captions))
    assert cues == [(0, 30), (30, 60), (60, 90)]
    assert len(change) == 89
    boundaries = {start for start, _ in cues[1:]}
    for i, amount in enumerate(change):
        if i + 1 in boundaries:
            assert amount > 1.0, f"caption did not change at frame {i + 1}"
        else:
            assert amount < 0.5, f"picture changed inside a cue at frame {i + 1}"
