"""A job's voiceover in the chain: what a voice script must meet at submit, the job fitted to the voice as
spoken, and the caption cues its sentences become.

The script is spoken sentence by sentence before the job is planned, so the planner knows when every sentence
is heard: each caption is one sentence, on screen from its first word to its last. The voice is never cut; a
voice longer than the requested video makes the video longer (to at most the longest video), and a script
too long for that is refused at submit when the offline voice shows it, or fails the job when only the
provider that spoke it does.
"""

from __future__ import annotations

import math

from pytoon.errors import PytoonError
from pytoon.limits import MAX_DURATION_SECONDS
from pytoon.models import FPS, CaptionCue, JobSpec, Preset, SpokenVoice

# The video runs on this long after the last word: the voice never ends on the final frame.
VOICE_TAIL_MS = 500
MAX_VIDEO_MS = MAX_DURATION_SECONDS * 1000


class VoiceScriptError(PytoonError):
    """A voice script that cannot be spoken into a video; the message says which sentence or why."""


class VoiceTooLongError(PytoonError):
    """The voice as spoken does not fit in the longest video."""


def script_sentences(script: str) -> list[str]:
    """The sentences a voice script is spoken (and captioned) as."""
    from pytoon.scene_planner import sentences

    return sentences(script)


def voice_script_to_speak(script: str | None, preset: Preset) -> str | None:
    """A request's voice script (V1 or V2) as it is spoken: None for none (or only blanks), else the script
    stripped, once it meets the voiceover rules (`check_voice_script`)."""
    if script is None or not script.strip():
        return None
    check_voice_script(script, preset)
    return script.strip()


def check_voice_script(script: str, preset: Preset) -> list[str]:
    """The script's sentences, once the content rules allow it, each can be shown as a caption in this preset
    and the offline voice speaks it all within the longest video. Raises VoiceScriptError naming what does not
    fit (ContentRefusedError for refused content)."""
    from pytoon.caption_rules import text_problem
    from pytoon.config import get_tts_settings
    from pytoon.content_rules import check_prompt
    from pytoon.models import displayable
    from pytoon.render.captions import caption_layout
    from pytoon.voice import spoken_duration_ms

    check_prompt(script, "voice_script")
    texts = script_sentences(script)
    if not texts:
        raise VoiceScriptError("voice_script has nothing to speak")
    layout = caption_layout(preset.caption_style)
    for number, text in enumerate(texts, start=1):
        label = f"voice_script sentence {number} ({text[:40]!r})"
        try:
            displayable(text)
        except ValueError as exc:
            raise VoiceScriptError(f"{label}: {exc}") from None
        problem = text_problem(label, text, layout)
        if problem:
            raise VoiceScriptError(f"{problem} (each spoken sentence is shown as one caption)")
    spoken = spoken_duration_ms(texts, get_tts_settings())
    if spoken + VOICE_TAIL_MS > MAX_VIDEO_MS:
        raise VoiceScriptError(
            f"voice_script takes about {spoken / 1000:.1f} s to speak; a video lasts at most "
            f"{MAX_DURATION_SECONDS} s, so shorten the script"
        )
    return texts


def voiced_duration_ms(spec: JobSpec, voice: SpokenVoice) -> int:
    """How long the video must be for this voice: its own length, or the voice and its tail if longer."""
    return max(spec.duration_ms, voice.duration_ms + VOICE_TAIL_MS)


def fit_to_voice(spec: JobSpec, voice: SpokenVoice) -> JobSpec:
    """The spec with its voice as spoken, lengthened to hold all of it: a prompt job to the next whole second,
    a supplied scene graph by holding its last scene longer. Raises VoiceTooLongError past the longest video."""
    needed = voiced_duration_ms(spec, voice)
    if needed > MAX_VIDEO_MS:
        raise VoiceTooLongError(
            f"the voiceover as spoken by {voice.provider} lasts {voice.duration_ms / 1000:.1f} s: with "
            f"{VOICE_TAIL_MS / 1000:g} s after its last word it does not fit in a {MAX_DURATION_SECONDS} s video; "
            "shorten the voice_script"
        )
    update: dict[str, object] = {"voice": voice, "voice_key": voice.key}
    extra = needed - spec.duration_ms
    if extra > 0 and spec.scene_graph is not None:
        scenes = [dict(scene) for scene in spec.scene_graph["scenes"]]
        scenes[-1]["duration"] += extra
        update["scene_graph"] = {**spec.scene_graph, "scenes": scenes}
        update["target_duration_seconds"] = math.ceil(needed / 1000)
    elif extra > 0:
        update["target_duration_seconds"] = math.ceil(needed / 1000)
    return spec.model_copy(update=update)


def voice_caption_cues(voice: SpokenVoice) -> list[CaptionCue]:
    """One cue per spoken sentence, from the frame its speech starts to the frame after it ends (±1 frame)."""
    cues = []
    for number, sentence in enumerate(voice.sentences, start=1):
        start = round(sentence.start_ms * FPS / 1000)
        end = max(start + 1, round(sentence.end_ms * FPS / 1000))
        cues.append(CaptionCue(index=number, start_frame=start, end_frame=end, text=sentence.text))
    return cues
