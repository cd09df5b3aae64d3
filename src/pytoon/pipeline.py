"""The render pipeline's steps, one domain function per Lambda handler.

Each step reads what it needs from S3/DynamoDB by job id, writes deterministic keys, and returns a small
typed result for the state machine. Every step is safe to run twice.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import PIL
from pydantic import BaseModel

from pytoon import __version__
from pytoon.aws import keys
from pytoon.aws.jobs import PROGRESS_DONE, PROGRESS_PLANNED, PROGRESS_RENDERED, JobRepository, SegmentRecord
from pytoon.aws.metrics import MetricsStore
from pytoon.aws.storage import ArtifactStore, ObjectNotFoundError
from pytoon.chain import plan_render, plan_scene_graph
from pytoon.clock import seconds_since, utc_now_iso
from pytoon.config import Settings, get_settings, get_tts_settings
from pytoon.engines import LOCAL_ENGINE
from pytoon.errors import InvalidTransitionError, JobNotFoundError, SegmentRenderError, public_message
from pytoon.models import (
    FPS,
    AssetCategory,
    Attempt,
    AttemptOutcome,
    JobSpec,
    JobStatus,
    MediaKind,
    RenderPlan,
    SegmentPlan,
    SegmentStatus,
    SpokenVoice,
)
from pytoon.music import library_file
from pytoon.notifications import notify
from pytoon.observability import logger
from pytoon.planner import audio_plan, effective_motion_profile
from pytoon.render.assemble import OutputFacts, assemble_output
from pytoon.render.audio import AudioFacts, build_audio
from pytoon.render.captions import cues_to_srt
from pytoon.render.ffmpeg import FfmpegError, ffmpeg_version
from pytoon.render.segment import render_segment as render_segment_file
from pytoon.scene_planner import PlannedMedia
from pytoon.video_engines.clip_steps import ClipPhase, ClipServices, ClipSlot, ClipStep, clip_step
from pytoon.video_engines.generation import Generation, Phase
from pytoon.voice_track import fit_to_voice, script_sentences


class JobRef(BaseModel):
    """The payload of every job-level step: ids only (Step Functions payloads stay small)."""

    job_id: str


class SegmentRef(JobRef):
    index: int


class PlanResult(BaseModel):
    """The segments in the order the state machine needs them: the scenes external engines generate, the
    segments that can render at once (beside the generation), and those that show a generated clip (their own
    scene's, or the previous one's in their transition) and so render once the clips are in."""

    job_id: str
    generated: list[SegmentRef]
    ready: list[SegmentRef]
    after_clips: list[SegmentRef]


class ClipStepRef(SegmentRef):
    step: ClipStep
    # The waiting task's token (AWAIT only).
    task_token: str | None = None


class ClipStepResult(BaseModel):
    job_id: str
    index: int
    phase: ClipPhase
    wait_seconds: int


class SegmentResult(BaseModel):
    job_id: str
    index: int
    key: str
    skipped: bool


class SpeakResult(BaseModel):
    job_id: str
    provider: str
    duration_ms: int


class StoredVoiceover(BaseModel):
    """voiceover.json: the voice as spoken and every provider tried for it, in order."""

    voice: SpokenVoice
    attempts: list[Attempt]


class AudioResult(BaseModel):
    job_id: str
    key: str
    integrated_lufs: float | None
    true_peak_dbtp: float | None


class AssembleResult(BaseModel):
    job_id: str
    output_key: str
    duration_seconds: float


class FailureResult(BaseModel):
    job_id: str
    status: JobStatus
    reason: str


class _Context:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = ArtifactStore.from_settings(settings)
        self.jobs = JobRepository.from_settings(settings)
        self.metrics = MetricsStore.from_settings(settings)

    @contextmanager
    def scratch(self, name: str) -> Iterator[Path]:
        # /tmp survives into the next warm invocation: always clean up so a retry starts fresh.
        path = self.settings.work_dir / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def submitted_spec(self, job_id: str) -> JobSpec:
        """The job's spec as it was submitted."""
        return JobSpec.model_validate(self.store.get_json(keys.spec_key(job_id)))

    def load_spec(self, job_id: str) -> JobSpec:
        """The job's spec with its voice as spoken, once the voiceover step has spoken it."""
        spec = self.submitted_spec(job_id)
        if not spec.voice_script:
            return spec
        stored = StoredVoiceover.model_validate(self.store.get_json(keys.voiceover_facts_key(job_id)))
        return fit_to_voice(spec, stored.voice)

    def load_plan(self, job_id: str) -> RenderPlan:
        return RenderPlan.model_validate(self.store.get_json(keys.plan_key(job_id)))


def _ctx() -> _Context:
    return _Context(get_settings())


def resolve_media(ctx: _Context, spec: JobSpec) -> tuple[JobSpec, list[PlannedMedia]]:
    """The job's media as stored keys with their kinds: uploads were checked when the job was made; https
    URLs (in the media list or a supplied scene graph) are fetched, validated like uploads and stored under
    the job, all within one deadline; a URL that fails fails the job with the reason and the URL. Returns the
    spec with a supplied scene graph's URLs replaced by those keys."""
    from pytoon.media_fetch import MediaUrlError, fetch_media, job_fetch_deadline

    urls = [ref.url for ref in spec.media if ref.url]
    if spec.scene_graph is not None:
        for scene in spec.scene_graph["scenes"]:
            assets = [scene["media"].get("asset"), *(o["asset"] for o in scene.get("overlays", []))]
            urls += [a for a in assets if a and a.lower().startswith("https://")]
    fetched: dict[str, PlannedMedia] = {}
    deadline = job_fetch_deadline()
    with ctx.scratch(f"{spec.job_id}/media") as work:
        for number, url in enumerate(dict.fromkeys(urls)):
            try:
                media = fetch_media(url, work / str(number), job_deadline=deadline)
            except MediaUrlError as exc:
                raise type(exc)(f"{exc} ({url})") from exc
            key = keys.fetched_media_key(spec.job_id, number, media.path.suffix)
            ctx.store.put_file(key, media.path, media.content_type)
            media.path.unlink()  # /tmp holds 2 GB, and a job may name 30 clips of up to 200 MB
            kind = MediaKind.VIDEO if media.category is AssetCategory.VIDEO else MediaKind.IMAGE
            fetched[url] = PlannedMedia(key=key, kind=kind)
    planned = [fetched[ref.url] if ref.url else PlannedMedia(key=ref.key or "", kind=ref.kind or MediaKind.IMAGE)
               for ref in spec.media]  # fmt: skip
    if spec.scene_graph is not None and fetched:
        text = json.dumps(spec.scene_graph)
        for url, media in fetched.items():
            text = text.replace(json.dumps(url), json.dumps(media.key))
        spec = spec.model_copy(update={"scene_graph": json.loads(text)})
    return spec, planned


def plan_job(job_id: str) -> PlanResult:
    """Scene graph (stored as soon as it is made), then timeline and frame-exact plan, then the segments."""
    ctx = _ctx()
    spec, media = resolve_media(ctx, ctx.load_spec(job_id))
    planned = plan_scene_graph(spec, media, use_llm=True)
    graph = planned.graph
    ctx.store.put_json(keys.scene_graph_key(job_id), graph.document())
    ctx.jobs.transition(
        job_id,
        JobStatus.PLANNING,
        segment_count=len(graph.scenes),
        planner=planned.planner.value,
        planner_fallback_reason=planned.planner_fallback_reason,
    )
    timeline, plan = plan_render(spec, graph)
    ctx.store.put_json(keys.timeline_key(job_id), timeline.document())
    ctx.store.put_json(keys.plan_key(job_id), plan.model_dump(mode="json"))
    ctx.jobs.put_segments(job_id, plan.segments, graph.scenes)
    fallbacks = [s.fallback_reason for s in plan.segments if s.fallback_reason]
    ctx.jobs.transition(
        job_id,
        JobStatus.RENDERING_SEGMENTS,
        segment_count=len(plan.segments),
        fallback_used=bool(fallbacks),
        fallback_reason=fallbacks[0] if fallbacks else None,
    )
    for segment, scene in zip(plan.segments, graph.scenes, strict=True):
        if segment.fallback_reason:
            asked = scene.media.engine if spec.api_version == 2 and scene.media.engine else spec.engine_policy.value
            ctx.metrics.increment("pytoon_fallback_total", type="engine_fallback", engine=asked, reason="unavailable")
    ctx.jobs.raise_progress(job_id, PROGRESS_PLANNED)
    return _plan_result(job_id, plan)


def _plan_result(job_id: str, plan: RenderPlan) -> PlanResult:
    generated = {s.index for s in plan.segments if s.generate_with}
    waits = {s.index for s in plan.segments if s.index in generated or (s.previous and s.index - 1 in generated)}

    def refs(indexes: list[int]) -> list[SegmentRef]:
        return [SegmentRef(job_id=job_id, index=i) for i in indexes]

    every = [s.index for s in plan.segments]
    return PlanResult(
        job_id=job_id,
        generated=refs(sorted(generated)),
        ready=refs([i for i in every if i not in waits]),
        after_clips=refs([i for i in every if i in waits]),
    )


def _update_render_progress(ctx: _Context, job_id: str) -> None:
    segments = ctx.jobs.segments(job_id)
    done = sum(1 for s in segments if s.status is SegmentStatus.DONE)
    span = PROGRESS_RENDERED - PROGRESS_PLANNED
    ctx.jobs.raise_progress(job_id, PROGRESS_PLANNED + span * done / max(1, len(segments)))


def render_segment(job_id: str, index: int) -> SegmentResult:
    ctx = _ctx()
    plan = ctx.load_plan(job_id)
    segment = _with_generated_clips(ctx, job_id, plan, index)
    logger.append_keys(engine=segment.engine)
    key = keys.segment_key(job_id, index)
    stored = {s.index: s for s in ctx.jobs.segments(job_id)}.get(index)
    if (
        stored is not None
        and stored.status is SegmentStatus.DONE
        and stored.spec_hash == segment.spec_hash
        and ctx.store.exists(key)
    ):
        return SegmentResult(job_id=job_id, index=index, key=key, skipped=True)

    ctx.jobs.update_segment(job_id, index, SegmentStatus.RUNNING, error=None)
    started = time.monotonic()
    try:
        with ctx.scratch(f"{job_id}/seg_{index:03d}") as work:
            images = {k: ctx.store.download(k, work / "inputs" / k.replace("/", "_")) for k in segment.asset_keys()}
            out = work / f"seg_{index:03d}.mp4"
            render_segment_file(segment, plan.caption_layout, images, out)
            ctx.store.put_file(key, out, "video/mp4")
    except (FfmpegError, ObjectNotFoundError, OSError, ValueError) as exc:
        reason = public_message(f"segment {index} failed: {exc}")
        ctx.jobs.update_segment(job_id, index, SegmentStatus.FAILED, error=reason)
        raise SegmentRenderError(reason) from exc
    except Exception as exc:
        ctx.jobs.update_segment(
            job_id, index, SegmentStatus.FAILED, error=public_message(f"segment {index} failed: {exc}")
        )
        raise
    render_seconds = round(time.monotonic() - started, 3)
    ctx.jobs.update_segment(
        job_id,
        index,
        SegmentStatus.DONE,
        artifact_key=key,
        engine_used=segment.engine,
        render_seconds=render_seconds,
    )
    ctx.metrics.observe("pytoon_segment_render_seconds", render_seconds, engine=segment.engine)
    if plan.spec.api_version == 2:
        ctx.metrics.observe("pytoon_v2_scene_render_seconds", render_seconds, engine=segment.engine)
    _update_render_progress(ctx, job_id)
    return SegmentResult(job_id=job_id, index=index, key=key, skipped=False)


def speak_job(job_id: str) -> SpeakResult:
    """The voice script spoken sentence by sentence, before planning: the voiceover and when each sentence is
    heard are stored beside the spec, and the job records who spoke it and whether the video follows the voice.
    Speech is paid for once: a retry finds it stored."""
    ctx = _ctx()
    spec = ctx.submitted_spec(job_id)
    if not spec.voice_script:
        raise ValueError(f"job {job_id} has no voice script to speak")
    facts_key = keys.voiceover_facts_key(job_id)
    if ctx.store.exists(facts_key):
        stored = StoredVoiceover.model_validate(ctx.store.get_json(facts_key))
    else:
        # The voice chain (and numpy with it) loads only in the step that speaks: no other step needs it.
        from pytoon.voice import synthesize_sentences

        with ctx.scratch(f"{job_id}/voice") as work:
            spoken = synthesize_sentences(script_sentences(spec.voice_script), get_tts_settings(), work / "voice.wav")
            ctx.store.put_file(keys.voiceover_key(job_id), spoken.path, "audio/wav")
        voice = SpokenVoice(
            key=keys.voiceover_key(job_id),
            provider=spoken.provider,
            duration_ms=spoken.duration_ms,
            sentences=list(spoken.sentences),
        )
        stored = StoredVoiceover(voice=voice, attempts=list(spoken.attempts))
        ctx.store.put_json(facts_key, stored.model_dump(mode="json"))
    voice = stored.voice
    fitted = fit_to_voice(spec, voice)
    failed = [f"{a.provider}: {a.reason}" for a in stored.attempts if a.outcome is AttemptOutcome.FAILED]
    lengthened = fitted.duration_ms > spec.duration_ms
    ctx.jobs.transition(
        job_id,
        JobStatus.PLANNING,
        voice_provider=voice.provider,
        voice_duration_ms=voice.duration_ms,
        voice_fallback_reason="; ".join(failed) or None,
        duration_follows_voice=(
            f"the voiceover lasts {voice.duration_ms / 1000:.1f} s, so the video lasts "
            f"{fitted.duration_ms / 1000:.1f} s instead of the requested {spec.duration_ms / 1000:g} s"
            if lengthened
            else None
        ),
    )
    return SpeakResult(job_id=job_id, provider=voice.provider, duration_ms=voice.duration_ms)


def _generation(ctx: _Context, job_id: str, plan: RenderPlan, index: int) -> Generation | None:
    """How an external engine's generation of the segment's scene ended (None for a scene not generated)."""
    if index < 0 or not plan.segments[index].generate_with:
        return None
    return Generation.model_validate(ctx.store.get_json(keys.generation_key(job_id, index)))


def _showing(clip: str) -> dict[str, Any]:
    """What a visual becomes when it shows a generated clip instead of its card or image."""
    return {"clip_key": clip, "card_text": "", "image_key": None}


def _with_generated_clips(ctx: _Context, job_id: str, plan: RenderPlan, index: int) -> SegmentPlan:
    """The segment as planned, its visual (and the previous scene's, in its transition) showing the clip an
    engine generated in place of the designed card, with the engine that made it or the card's reason."""
    segment = plan.segments[index]
    update: dict[str, Any] = {}
    own = _generation(ctx, job_id, plan, index)
    if own is not None and own.made_clip:
        clip = keys.generated_clip_key(job_id, index)
        start, stop = segment.start_frame, segment.start_frame + segment.frame_count
        update |= {
            "visual": segment.visual.model_copy(update=_showing(clip)),
            "engine": own.engine,
            # The card showed the scene's caption itself; over the clip it is burned in like any other.
            "captions": [c for c in plan.captions if c.start_frame < stop and c.end_frame > start],
        }
    elif own is not None:
        update |= {"engine": LOCAL_ENGINE, "fallback_reason": own.fallback_reason}
    before = _generation(ctx, job_id, plan, index - 1) if segment.previous else None
    if before is not None and before.made_clip and segment.previous:
        clip = keys.generated_clip_key(job_id, index - 1)
        update["previous"] = segment.previous.model_copy(update=_showing(clip))
    return segment.model_copy(update=update)


def generate_clip(job_id: str, index: int, step: ClipStep, task_token: str | None = None) -> ClipStepResult:
    """One step of generating a scene's clip (begin, poll, or collect the finished clip into storage); the
    state machine waits `wait_seconds` between steps. The generation's state is stored between steps; once
    it is DONE the segment records the engine that made the clip, or the card (or image) and why."""
    ctx = _ctx()
    segment = ctx.load_plan(job_id).segments[index]
    slot = ClipSlot(
        state_key=keys.generation_key(job_id, index),
        clip_key=keys.generated_clip_key(job_id, index),
        prompt=segment.generation_prompt or "",
        seconds=segment.duration_seconds,
        chain=segment.generate_with,
        image_key=segment.generation_image_key,
    )
    services = ClipServices(ctx.settings, ctx.store, ctx.metrics)
    with ctx.scratch(f"{job_id}/clip_{index:03d}") as work:
        outcome = clip_step(slot, step, task_token, services, work, describe=f"segment {index} of job {job_id}")
    if outcome.generation.phase is Phase.DONE:
        _record_generation(ctx, job_id, index, outcome.generation)
    return ClipStepResult(job_id=job_id, index=index, phase=outcome.phase, wait_seconds=outcome.wait_seconds)


def _record_generation(ctx: _Context, job_id: str, index: int, generation: Generation) -> None:
    reason = generation.fallback_reason
    ctx.jobs.update_segment(job_id, index, SegmentStatus.PENDING, fallback_reason=reason)
    if reason:
        try:
            ctx.jobs.transition(
                job_id, JobStatus.RENDERING_SEGMENTS, fallback_used=True, fallback_reason=f"scene {index + 1}: {reason}"
            )
        except InvalidTransitionError:
            pass  # the job has already failed (another segment): its reason stands


def build_job_audio(job_id: str) -> AudioResult:
    """The soundtrack, built once from the spec alone (beside planning and rendering); its measured facts
    are stored beside it."""
    ctx = _ctx()
    spec = ctx.load_spec(job_id)
    plan = audio_plan(spec)
    with ctx.scratch(f"{job_id}/audio") as work:
        sources = [k for k in (plan.music_key, plan.voice_key) if k]
        # A music library track is package data, not an object in storage.
        files = {k: library_file(k) or ctx.store.download(k, work / "inputs" / k.replace("/", "_")) for k in sources}
        facts = build_audio(plan, files, spec.duration_ms / 1000, work / "audio.m4a")
        ctx.store.put_file(keys.audio_key(job_id), facts.path, "audio/mp4")
    ctx.store.put_json(keys.audio_facts_key(job_id), facts.model_dump(mode="json", exclude={"path"}))
    return AudioResult(job_id=job_id, key=keys.audio_key(job_id), **facts.loudness.model_dump())


def assemble_job(job_id: str) -> AssembleResult:
    ctx = _ctx()
    ctx.jobs.transition(job_id, JobStatus.ASSEMBLING)
    plan = ctx.load_plan(job_id)
    segments = ctx.jobs.segments(job_id)
    missing = [s.index for s in segments if s.status is not SegmentStatus.DONE]
    if missing or len(segments) != len(plan.segments):
        raise SegmentRenderError(f"segments not rendered: {missing}")
    started = time.monotonic()
    with ctx.scratch(f"{job_id}/assemble") as work:
        seg_files = [
            ctx.store.download(keys.segment_key(job_id, s.index), work / f"seg_{s.index:03d}.mp4")
            for s in plan.segments
        ]
        soundtrack = AudioFacts.model_validate(
            ctx.store.get_json(keys.audio_facts_key(job_id))
            | {"path": ctx.store.download(keys.audio_key(job_id), work / "audio.m4a")}
        )
        facts = assemble_output(seg_files, plan, soundtrack, work / "out")
        metadata = build_metadata(plan, segments=segments, facts=facts)
        metadata["timing"]["assemble_seconds"] = round(time.monotonic() - started, 3)
        ctx.store.put_file(keys.output_key(job_id), facts.output_path, "video/mp4")
        ctx.store.put_file(keys.thumbnail_key(job_id), facts.thumbnail_path, "image/jpeg")
    ctx.store.put_bytes(keys.captions_key(job_id), cues_to_srt(plan.captions).encode(), "application/x-subrip")
    ctx.store.put_json(keys.metadata_key(job_id), metadata)
    ctx.jobs.transition(
        job_id,
        JobStatus.DONE,
        progress_pct=PROGRESS_DONE,
        output_key=keys.output_key(job_id),
        thumbnail_key=keys.thumbnail_key(job_id),
        captions_key=keys.captions_key(job_id),
        metadata_key=keys.metadata_key(job_id),
    )
    record = ctx.jobs.get(job_id)
    ctx.metrics.increment("pytoon_render_success_total", archetype=record.archetype)
    ctx.metrics.observe("pytoon_job_total_seconds", seconds_since(record.created_at), archetype=record.archetype)
    notify(record.tenant_id, "job.completed", {"job_id": job_id, "status": record.status.v2, "error": None})
    return AssembleResult(job_id=job_id, output_key=keys.output_key(job_id), duration_seconds=plan.duration_seconds)


def build_metadata(plan: RenderPlan, *, segments: list[SegmentRecord], facts: OutputFacts) -> dict[str, Any]:
    """metadata.json: the resolved spec, per-segment facts, output facts with measured loudness, tool versions."""
    spec = plan.spec
    by_index = {s.index: s for s in segments}
    return {
        "job_id": plan.job_id,
        "spec": {
            "preset": spec.preset.model_dump(mode="json"),
            "motion_profile": effective_motion_profile(spec),
            "archetype": spec.archetype.value,
            "brand_safe": spec.brand_safe,
            "engine_policy": spec.engine_policy.value,
            "target_duration_seconds": spec.target_duration_seconds,
            "prompt": spec.prompt,
            "images": spec.image_keys,
            "music": spec.music_key,
            "voice": spec.voice_key,
            "music_name": spec.music_name,
            "voice_script": spec.voice_script,
        },
        "voiceover": voiceover_metadata(spec),
        "captions": [
            {"index": c.index, "start": c.start_seconds, "end": c.end_seconds, "text": c.text} for c in plan.captions
        ],
        "segments": [
            {
                "index": p.index,
                "start_seconds": p.start_frame / FPS,
                "duration_seconds": p.duration_seconds,
                "frames": p.frame_count,
                "image": p.visual.image_key,
                "motion": p.visual.motion.kind.value,
                "transition_in": p.transition.value,
                "transition_frames": p.transition_frames,
                "engine": by_index[p.index].engine_used,
                "render_seconds": by_index[p.index].render_seconds,
                "attempts": by_index[p.index].attempts,
                "fallback_used": p.fallback_reason is not None,
                "fallback_reason": p.fallback_reason,
            }
            for p in plan.segments
        ],
        "fallback_used": any(p.fallback_reason for p in plan.segments),
        "fallback_reason": next((p.fallback_reason for p in plan.segments if p.fallback_reason), None),
        "output": {
            "duration_seconds": facts.duration_seconds,
            "frames": facts.frame_count,
            "media": facts.media.model_dump(mode="json"),
            "loudness": facts.loudness.model_dump(mode="json"),
            "loudness_on_target": facts.loudness_on_target,
        },
        "timing": {"assembly_steps_seconds": facts.timings, "completed_at": utc_now_iso()},
        "tools": tool_versions(),
    }


def voiceover_metadata(spec: JobSpec) -> dict[str, Any] | None:
    """Who spoke the voice script, how long it lasts and when each sentence is heard (None without one)."""
    if spec.voice is None:
        return None
    return {
        "provider": spec.voice.provider,
        "duration_seconds": spec.voice.duration_ms / 1000,
        "sentences": [
            {"text": s.text, "start": s.start_ms / 1000, "end": s.end_ms / 1000} for s in spec.voice.sentences
        ],
    }


@cache
def tool_versions() -> dict[str, str]:
    return {
        "pytoon": __version__,
        "ffmpeg": ffmpeg_version(),
        "pillow": PIL.__version__,
        "numpy": metadata.version("numpy"),  # not imported: a render without a voiceover never loads it
        "python": platform.python_version(),
    }


def failure_reason(error: dict[str, Any] | None) -> str:
    """A readable reason from a Step Functions error object ({"Error", "Cause"})."""
    if not error:
        return "render failed"
    name = str(error.get("Error") or "Error")
    cause = error.get("Cause")
    message = ""
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
            message = str(parsed.get("errorMessage") or "") if isinstance(parsed, dict) else cause
        except json.JSONDecodeError:
            message = cause
    message = public_message(message).strip() or name
    return message if len(message) <= 500 else message[:497] + "..."


def mark_failed(job_id: str, error: dict[str, Any] | None) -> FailureResult:
    ctx = _ctx()
    reason = failure_reason(error)
    try:
        ctx.jobs.transition(job_id, JobStatus.FAILED, error=reason)
    except JobNotFoundError:
        # An execution without a job record (started by hand, or its record was deleted): nothing to mark.
        logger.warning("execution failed for a job without a record", extra={"reason": reason})
        return FailureResult(job_id=job_id, status=JobStatus.FAILED, reason=reason)
    except InvalidTransitionError:
        record = ctx.jobs.get(job_id)  # already finished (DONE, or FAILED by an earlier delivery)
    else:
        record = ctx.jobs.get(job_id)
        error_name = str((error or {}).get("Error") or "Unknown")
        ctx.metrics.increment("pytoon_render_failure_total", archetype=record.archetype, reason=error_name)
        notify(record.tenant_id, "job.failed", {"job_id": job_id, "status": record.status.v2, "error": record.error})
    return FailureResult(job_id=job_id, status=record.status, reason=record.error or reason)
