"""The V2 reference job as one hand-written ffmpeg command: the same 8 parts (7 pictures with a Ken Burns
zoom, the clip cover-fitted and trimmed), 150 ms crossfades, one caption per part, the music faded and
loudness-normalised, Pytoon's own encoder settings."""

from __future__ import annotations

from pathlib import Path

from contenders import ass_script
from reference import PRESET, V2_SENTENCES, V2ReferenceJob

from pytoon.fonts import font_path
from pytoon.models import FPS, TransitionKind
from pytoon.presets import get_preset
from pytoon.render.ffmpeg import filtered_segment_args, rgb_to_yuv
from pytoon.timeline import frames as frames_of_ms
from pytoon.timeline import transition_ms


def v2_ffmpeg_args(job: V2ReferenceJob, out: Path) -> list[str]:
    """The ffmpeg arguments (after the binary) rendering `job` to `out`; writes the captions' .ass beside it."""
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
    args += ["-stream_loop", "-1", "-i", str(job.music)]
    last = "v0"
    for i in range(1, count):
        graph.append(f"[{last}][v{i}]xfade=transition=fade:duration={overlap:.4f}:offset={part * i:.4f}[x{i}]")
        last = f"x{i}"
    subtitles = out.with_suffix(".ass")
    subtitles.write_text(ass_script(V2_SENTENCES, job.seconds, preset.caption_style.safe_margin_px + 150))
    font_dir = font_path(preset.caption_style.font).parent
    graph.append(f"[{last}]ass=filename='{subtitles}':fontsdir='{font_dir}',{rgb_to_yuv()}[video]")
    graph.append(
        f"[{count}:a]volume={preset.audio.music_level_db}dB,atrim=0:{job.seconds},"
        f"afade=t=out:st={job.seconds - 1.5}:d=1.5,aresample=48000,aformat=channel_layouts=stereo,"
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
