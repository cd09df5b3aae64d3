"""The V2 reference job by hand: its voice script spoken with the same offline voice (eSpeak NG, through the
same pinned library) sentence by sentence with a pause between, then one hand-written ffmpeg command: the
same 8 parts (7 pictures with a Ken Burns zoom, the clip cover-fitted and trimmed), 150 ms crossfades, one
caption per spoken sentence at its spoken time, the music faded and ducked under the voice, the mix
loudness-normalised, Pytoon's own encoder settings.

    python bench/v2_baseline.py INPUTS_DIR OUT.mp4
"""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
from contenders import ass_script
from reference import PRESET, V2_SENTENCES, V2ReferenceJob, v2_reference_job

from pytoon.config import TtsSettings
from pytoon.fonts import font_path
from pytoon.models import FPS, TransitionKind
from pytoon.presets import get_preset
from pytoon.render.audio import DUCK_FILTER
from pytoon.render.ffmpeg import ffmpeg_exe, filtered_segment_args, rgb_to_yuv
from pytoon.timeline import frames as frames_of_ms
from pytoon.timeline import transition_ms
from pytoon.tts.espeak import espeak_samples
from pytoon.voice import PAUSE_MS

Cue = tuple[str, float, float]


def speak(sentences: list[str], out: Path) -> list[Cue]:
    """Each sentence spoken at the default voice and rate, joined with pauses into one WAV at `out`; the
    caption cue (text, start, end) of each sentence where it is heard."""
    settings = TtsSettings()
    pieces: list[np.ndarray] = []
    cues: list[Cue] = []
    cursor, rate = 0, 0
    for text in sentences:
        samples, rate = espeak_samples(text, settings.espeak_voice, settings.espeak_rate_wpm)
        if pieces:
            pause = np.zeros(rate * PAUSE_MS // 1000, dtype=np.int16)
            pieces.append(pause)
            cursor += pause.size
        cues.append((text, cursor / rate, (cursor + samples.size) / rate))
        pieces.append(samples)
        cursor += samples.size
    with wave.open(str(out), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(np.concatenate(pieces).tobytes())
    return cues


def v2_ffmpeg_args(job: V2ReferenceJob, voice: Path, cues: list[Cue], out: Path) -> list[str]:
    """The ffmpeg arguments (after the binary) rendering `job` with its spoken `voice` to `out`; writes the
    captions' .ass beside it."""
    preset = get_preset(PRESET)
    count = len(job.media)
    part = job.seconds / count
    overlap = frames_of_ms(transition_ms(TransitionKind.FADE, preset.transitions)) / FPS
    args: list[str] = []
    graph = []
    for i, path in enumerate(job.media):
        # Every part but the last runs its length plus the overlap, so part i fades in at exactly part·i.
        length = part + (overlap if i < count - 1 else 0)
        if path.suffix == ".mp4":
            args += ["-t", f"{length:.4f}", "-i", str(path)]
            graph.append(
                f"[{i}:v]scale=1080:1920:force_original_aspect_ratio=increase,crop=1080:1920,fps={FPS},"
                f"setsar=1,format=yuv420p[v{i}]"
            )
        else:
            args += ["-loop", "1", "-framerate", str(FPS), "-t", f"{length:.4f}", "-i", str(path)]
            graph.append(
                f"[{i}:v]scale=1296:2304:force_original_aspect_ratio=increase,crop=1296:2304,"
                f"zoompan=z='1+0.08*on/{round(length * FPS)}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:"
                f"s=1080x1920:fps={FPS},setsar=1,format=yuv420p[v{i}]"
            )
    args += ["-stream_loop", "-1", "-i", str(job.music), "-i", str(voice)]
    last = "v0"
    for i in range(1, count):
        graph.append(f"[{last}][v{i}]xfade=transition=fade:duration={overlap:.4f}:offset={part * i:.4f}[x{i}]")
        last = f"x{i}"
    subtitles = out.with_suffix(".ass")
    subtitles.write_text(ass_script(cues, preset.caption_style.safe_margin_px + 150))
    font_dir = font_path(preset.caption_style.font).parent
    graph.append(f"[{last}]ass=filename='{subtitles}':fontsdir='{font_dir}',{rgb_to_yuv()}[video]")
    graph.append(
        f"[{count}:a]volume={preset.audio.music_level_db}dB,atrim=0:{job.seconds},"
        f"afade=t=out:st={job.seconds - 1.5}:d=1.5,aresample=48000,aformat=channel_layouts=stereo[music]"
    )
    graph.append(
        f"[{count + 1}:a]aresample=48000,aformat=channel_layouts=stereo,volume={preset.audio.voice_level_db}dB,"
        "asplit=2[voice_key][voice]"
    )
    graph.append(
        f"[music][voice_key]{DUCK_FILTER}[bed];[bed][voice]amix=inputs=2:duration=first:normalize=0,"
        "loudnorm=I=-14:TP=-1,aresample=48000[audio]"
    )
    encoder = [a for a in filtered_segment_args() if a != "-an"]
    return [
        "-hide_banner", "-nostdin", "-loglevel", "error",
        *args,
        "-filter_complex", ";".join(graph),
        "-map", "[video]", "-map", "[audio]",
        *encoder,
        "-c:a", "aac", "-b:a", "192k", "-ar", "48000",
        "-t", str(job.seconds), "-movflags", "+faststart", "-y", str(out),
    ]  # fmt: skip


def main(inputs: Path, out: Path) -> None:
    job = v2_reference_job(inputs)
    voice = out.with_suffix(".voice.wav")
    cues = speak(V2_SENTENCES, voice)
    subprocess.run([ffmpeg_exe(), *v2_ffmpeg_args(job, voice, cues, out)], check=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
