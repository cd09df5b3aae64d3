"""A job fitted to its voice as spoken: lengthened to hold it (a prompt job to the next whole second, a supplied
scene graph by its last scene), refused past the longest video; one caption cue per spoken sentence; the
script checked at submit."""

from __future__ import annotations

import pytest

from pytoon.chain import plan_documents
from pytoon.models import FPS, SpokenSentence, SpokenVoice
from pytoon.presets import get_preset
from pytoon.voice_track import (
    VoiceScriptError,
    VoiceTooLongError,
    check_voice_script,
    fit_to_voice,
    voice_caption_cues,
)
from tests.factories import make_spec
from tests.unit.test_chain import supplied_spec
from tests.unit.test_scene_graph_rules import scene_document


def voice(duration_ms: int, *spans: tuple[int, int], provider: str = "espeak") -> SpokenVoice:
    spans = spans or ((0, duration_ms),)
    return SpokenVoice(
        key="jobs/job1/voiceover.wav",
        provider=provider,
        duration_ms=duration_ms,
        sentences=[SpokenSentence(text=f"Sentence {n}.", start_ms=a, end_ms=b) for n, (a, b) in enumerate(spans, 1)],
    )


@pytest.mark.parametrize(
    ("target", "voice_ms", "fitted_seconds"),
    [
        (3, 5210, 6),  # 5.71 s with the tail: the next whole second
        (3, 5500, 6),  # exactly 6 s with the tail
        (3, 5501, 7),
        (6, 5210, 6),  # fits already: unchanged
        (6, 5500, 6),
        (10, 59_500, 60),  # the longest video, exactly
    ],
)
def test_a_prompt_job_lasts_at_least_its_voice_and_half_a_second(target: int, voice_ms: int, fitted_seconds: int):
    spec = make_spec(prompt="Stay cold.", target_duration_seconds=target)
    spoken = voice(voice_ms)
    fitted = fit_to_voice(spec, spoken)
    assert fitted.target_duration_seconds == fitted_seconds and fitted.duration_ms == fitted_seconds * 1000
    assert fitted.voice == spoken and fitted.voice_key == spoken.key
    assert fitted.prompt == spec.prompt and spec.voice is None  # the spec given is left as it was


def test_a_supplied_scene_graph_holds_its_last_scene_for_the_voice() -> None:
    spec = supplied_spec([scene_document(1, duration=2500), scene_document(2, duration=3000)])
    fitted = fit_to_voice(spec, voice(7000))
    assert [s["duration"] for s in fitted.scene_graph["scenes"]] == [2500, 5000]  # 7.5 s: 2 s more, all on scene 2
    assert fitted.duration_ms == 7500 and fitted.target_duration_seconds == 8
    assert [s["duration"] for s in spec.scene_graph["scenes"]] == [2500, 3000]
    # The plan covers the lengthened graph frame for frame.
    assert plan_documents(fitted).plan.total_frames == 7500 * FPS // 1000


def test_a_scene_graph_long_enough_for_its_voice_is_unchanged() -> None:
    spec = supplied_spec([scene_document(1, duration=2500), scene_document(2, duration=3000)])
    fitted = fit_to_voice(spec, voice(5000))
    assert fitted.scene_graph == spec.scene_graph and fitted.duration_ms == 5500 and fitted.voice is not None


@pytest.mark.parametrize(
    "spec",
    [
        make_spec(prompt="Stay cold.", target_duration_seconds=5),
        make_spec(prompt="Stay cold.", target_duration_seconds=60),
        supplied_spec([scene_document(1, duration=2500)]),
    ],
)
def test_a_voice_past_the_longest_video_is_refused_naming_who_spoke_it(spec) -> None:
    with pytest.raises(VoiceTooLongError) as refused:
        fit_to_voice(spec, voice(59_501, provider="openai"))
    assert str(refused.value) == (
        "the voiceover as spoken by openai lasts 59.5 s: with 0.5 s after its last word it does not fit in a 60 s "
        "video; shorten the voice_script"
    )


def test_each_spoken_sentence_is_one_cue_from_its_first_frame_to_the_frame_after_it() -> None:
    spoken = voice(5210, (0, 1345), (1645, 3755), (4055, 5210), (5210, 5212))
    cues = voice_caption_cues(spoken)
    assert [(c.index, c.text) for c in cues] == [(n, f"Sentence {n}.") for n in range(1, 5)]
    # 1345 ms is frame 40.35, 1645 ms 49.35, 3755 ms 112.65: the nearest frame boundary.
    assert [(c.start_frame, c.end_frame) for c in cues[:3]] == [(0, 40), (49, 113), (122, 156)]
    assert (cues[3].start_frame, cues[3].end_frame) == (156, 157)  # a blip of speech is still on screen a frame
    for cue, sentence in zip(cues, spoken.sentences, strict=True):
        assert abs(cue.start_frame / FPS - sentence.start_ms / 1000) <= 1 / FPS
        assert abs(cue.end_frame / FPS - sentence.end_ms / 1000) <= 1 / FPS


def test_a_voice_script_is_its_sentences() -> None:
    sentences = check_voice_script(
        "  Meet Aurora.   It keeps drinks cold! Order now?  ", get_preset("product_hero_clean")
    )
    assert sentences == ["Meet Aurora.", "It keeps drinks cold!", "Order now?"]


@pytest.mark.parametrize(
    ("script", "says"),
    [
        (" \n ", "voice_script has nothing to speak"),
        # The sentence is quoted with the override escaped, so the message itself is safe to show.
        ("Fine. Sale \u202eelas.", "voice_script sentence 2 ('Sale \\u202eelas.'): control and bidi-override"),
        ("Fine. " + "Far too long for one caption " * 6 + ".", "each spoken sentence is shown as one caption"),
        ("Our grinder makes every morning better, faster and quieter than before. " * 14, "so shorten the script"),
    ],
)
def test_a_voice_script_that_cannot_be_spoken_into_a_video_says_why(script: str, says: str) -> None:
    with pytest.raises(VoiceScriptError) as refused:
        check_voice_script(script, get_preset("product_hero_clean"))
    assert says in str(refused.value)
