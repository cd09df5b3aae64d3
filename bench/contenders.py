"""One benchmark contender per invocation (run by bench/run.py in its own process, so it is measured alone).

    contenders.py pytoon  JOB INPUTS OUT.mp4   the whole pipeline on embedded AWS (Step Functions + Lambdas)
    contenders.py ffmpeg  JOB INPUTS OUT.mp4   the same job as one hand-written ffmpeg command
    contenders.py steps   JOB INPUTS OUT.mp4   each segment and the soundtrack alone, one after another

Prints one JSON line of details on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference import CAPTIONS, PRESET, reference_jobs  # noqa: E402

from pytoon.fonts import font_path  # noqa: E402
from pytoon.models import (
    FPS,  # noqa: E402
    TransitionKind,  # noqa: E402
)
from pytoon.presets import get_preset  # noqa: E402
from pytoon.render.ffmpeg import run_ffmpeg, segment_encoder_args  # noqa: E402
from pytoon.timeline import frames as frames_of_ms  # noqa: E402
from pytoon.timeline import transition_ms  # noqa: E402


def _job(name: str, inputs: Path):
    return next(j for j in reference_jobs(inputs) if j.name == name)


def run_pytoon(job_name: str, inputs: Path, out: Path) -> dict:
    from pytoon.assets import AssetCategory, check_upload, store_checked
    from pytoon.aws import client, keys
    from pytoon.aws.executions import execution_arn
    from pytoon.aws.jobs import JobRepository
    from pytoon.aws.storage import ArtifactStore
    from pytoon.clock import seconds_since
    from pytoon.config import get_settings
    from pytoon.local.embedded import EmbeddedAWS
    from pytoon.local.progress import watch_job
    from pytoon.models import Captions
    from pytoon.submission import JobRequest, submit_request

    job = _job(job_name, inputs)

    def check(path: Path, category: AssetCategory):
        return check_upload(category=category, filename=path.name, data=path.read_bytes())

    # As `pytoon render` does: every upload is validated (decoded in full) at once, while the cloud starts.
    pool = ThreadPoolExecutor(max_workers=4)
    image_checks = [pool.submit(check, path, AssetCategory.IMAGE) for path in job.images]
    audio_checks = [pool.submit(check, path, AssetCategory.AUDIO) for path in (job.music, job.voice)]
    pool.shutdown(wait=False)
    with EmbeddedAWS() as embedded:
        settings = get_settings()
        images = [store_checked(c.result(), "bench").key for c in image_checks]
        music, voice = (store_checked(c.result(), "bench").key for c in audio_checks)
        request = JobRequest(
            preset_id=PRESET,
            target_duration_seconds=job.seconds,
            image_uris=[images[i % len(images)] for i in range(job.seconds // 3)],
            music_uri=music,
            voice_uri=voice,
            captions=Captions(**CAPTIONS),
        )
        started = time.monotonic()
        job_id = submit_request(request, tenant_id="bench", settings=settings).job_id
        # As `pytoon render` does: the record is re-read whenever a Lambda invocation finishes.
        record = watch_job(job_id, embedded.changes, timeout_seconds=3600)
        # From the moment the handler stored the final status to the moment it was seen here.
        finished_seen_after = seconds_since(record.updated_at)
        render_wall = time.monotonic() - started
        jobs = JobRepository.from_settings(settings)
        if record.error:
            raise SystemExit(f"render failed: {record.error}")
        store = ArtifactStore.from_settings(settings)
        store.download(keys.output_key(job_id), out)
        store.download(keys.plan_key(job_id), out.with_suffix(".plan.json"))
        segments = jobs.segments(job_id)
        history = client("stepfunctions", settings.region).get_execution_history(
            executionArn=execution_arn(settings.state_machine_arn, job_id), maxResults=1000
        )["events"]
    return {
        "render_wall_seconds": render_wall,
        "finished_seen_after_seconds": finished_seen_after,
        "plan_seconds": _state_seconds(history, "Plan"),
        "assemble_seconds": _state_seconds(history, "Assemble"),
        "audio_seconds": _state_seconds(history, "BuildAudio"),
        "slowest_segment_seconds": max(s.render_seconds or 0 for s in segments),
        "segment_seconds_total": sum(s.render_seconds or 0 for s in segments),
        "segments": len(segments),
    }


def _state_seconds(history: list[dict], state: str) -> float:
    entered = next(e["timestamp"] for e in history if e.get("stateEnteredEventDetails", {}).get("name") == state)
    exited = next(e["timestamp"] for e in history if e.get("stateExitedEventDetails", {}).get("name") == state)
    return (exited - entered).total_seconds()


def run_steps_alone(job_name: str, inputs: Path, out: Path) -> dict:
    """Every segment, then the soundtrack, rendered one at a time in this process, as separate Lambdas would
    run them with a machine each: the step times of a cloud run, without the local contention for 2 CPUs."""
    from pytoon.models import RenderPlan
    from pytoon.render.audio import build_audio
    from pytoon.render.segment import render_segment

    plan = RenderPlan.model_validate_json(out.with_name("pytoon.plan.json").read_text())
    job = _job(job_name, inputs)
    by_name = {p.name: p for p in job.images}
    files = {key: by_name[key.rsplit("/", 1)[1]] for segment in plan.segments for key in segment.asset_keys()}
    segment_seconds = []
    for segment in plan.segments:
        started = time.monotonic()
        render_segment(segment, plan.caption_layout, files, out)
        segment_seconds.append(time.monotonic() - started)
    audio_files = {plan.audio.music_key: job.music, plan.audio.voice_key: job.voice}
    started = time.monotonic()
    build_audio(plan.audio, audio_files, plan.duration_seconds, out.with_suffix(".m4a"))
    return {"segment_seconds": segment_seconds, "audio_seconds": time.monotonic() - started}


def run_ffmpeg_command(job_name: str, inputs: Path, out: Path) -> dict:
    """The same job as one ffmpeg command: zoompan Ken Burns, xfade, drawtext captions, ducked music, loudnorm."""
    job = _job(job_name, inputs)
    preset = get_preset(PRESET)
    count = job.seconds // 3
    overlap = frames_of_ms(transition_ms(TransitionKind.FADE, preset.transitions)) / FPS
    args: list[str] = []
    for i in range(count):
        length = 3 + (overlap if i < count - 1 else 0)
        args += [
            "-loop",
            "1",
            "-framerate",
            str(FPS),
            "-t",
            f"{length:.4f}",
            "-i",
            str(job.images[i % len(job.images)]),
        ]
    args += ["-stream_loop", "-1", "-i", str(job.music), "-i", str(job.voice)]
    graph = []
    for i in range(count):
        frames = int(round((3 + overlap) * FPS))
        graph.append(
            f"[{i}:v]scale=1296:2304:force_original_aspect_ratio=increase,crop=1296:2304,"
            f"zoompan=z='1+0.08*on/{frames}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:s=1080x1920:fps={FPS},"
            f"setsar=1,format=yuv420p[v{i}]"
        )
    last = "v0"
    for i in range(1, count):
        # Every clip but the last runs 3 s plus the overlap, so clip i fades in at exactly 3·i seconds.
        graph.append(f"[{last}][v{i}]xfade=transition=fade:duration={overlap:.4f}:offset={3.0 * i:.4f}[x{i}]")
        last = f"x{i}"
    texts = [CAPTIONS["hook"], *CAPTIONS["beats"], CAPTIONS["cta"]]
    # This ffmpeg build has no drawtext (it needs harfbuzz since 6.1), so captions go through libass.
    subtitles = out.with_suffix(".ass")
    subtitles.write_text(ass_script(even_cues(texts, job.seconds), preset.caption_style.safe_margin_px + 150))
    font_dir = font_path(preset.caption_style.font).parent
    graph.append(f"[{last}]ass=filename='{subtitles}':fontsdir='{font_dir}'[video]")
    music, voice = count, count + 1
    graph.append(
        f"[{music}:a]volume={preset.audio.music_level_db}dB,atrim=0:{job.seconds},"
        f"afade=t=out:st={job.seconds - 1.5}:d=1.5,aresample=48000,aformat=channel_layouts=stereo[m];"
        f"[{voice}:a]volume={preset.audio.voice_level_db}dB,aresample=48000,aformat=channel_layouts=stereo,"
        f"apad,atrim=0:{job.seconds},asplit=2[vk][vm];"
        f"[m][vk]sidechaincompress=threshold=0.05:ratio=8:attack=20:release=300[md];"
        f"[md][vm]amix=inputs=2:normalize=0,loudnorm=I=-14:TP=-1,aresample=48000[audio]"
    )
    # Pytoon's own encoder settings, so both produce the same codec, quality and colour tagging; its -vf
    # (RGB→BT.709 conversion) moves into the graph, since a stream fed by -filter_complex takes no -vf.
    encoder = [a for a in segment_encoder_args() if a != "-an"]
    vf_at = encoder.index("-vf")
    graph[-1] = graph[-1].replace("[video]", f",{encoder[vf_at + 1]}[video]")
    del encoder[vf_at : vf_at + 2]
    started = time.monotonic()
    run_ffmpeg(
        [
            *args,
            "-filter_complex",
            ";".join(graph),
            "-map",
            "[video]",
            "-map",
            "[audio]",
            *encoder,
            "-c:a",
            "aac",
            "-b:a",
            "192k",
            "-ar",
            "48000",
            "-t",
            str(job.seconds),
            "-movflags",
            "+faststart",
            "-y",
            str(out),
        ],
        timeout=3600,
    )
    return {"seconds": time.monotonic() - started}


def even_cues(texts: list[str], seconds: float) -> list[tuple[str, float, float]]:
    """(text, start, end) of captions sharing `seconds` equally, in order."""
    slot = seconds / len(texts)
    return [(text, i * slot, (i + 1) * slot) for i, text in enumerate(texts)]


def ass_script(cues: list[tuple[str, float, float]], margin_v: int) -> str:
    def stamp(t: float) -> str:
        return f"{int(t // 3600)}:{int(t % 3600 // 60):02d}:{t % 60:05.2f}"

    events = "\n".join(f"Dialogue: 0,{stamp(start)},{stamp(end)},Caption,,0,0,0,,{text}" for text, start, end in cues)
    return f"""[Script Info]
ScriptType: v4.00+
PlayResX: 1080
PlayResY: 1920

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, OutlineColour, BackColour, Bold, BorderStyle, Outline, Shadow, \
Alignment, MarginL, MarginR, MarginV
Style: Caption,Inter SemiBold,56,&H00FFFFFF,&H80000000,&H80000000,0,3,12,0,2,80,80,{margin_v}

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
{events}
"""


CONTENDERS = {"pytoon": run_pytoon, "ffmpeg": run_ffmpeg_command, "steps": run_steps_alone}

if __name__ == "__main__":
    mode, job_name, inputs, out = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    print(json.dumps(CONTENDERS[mode](job_name, inputs, out)))
