"""The ProductionRun state machine's steps: each a short call that moves the run's record along and returns
what the next state needs. Every step is safe to retry: what it already made (ideas, clips, the render job,
a publish request) is found in the record and reused, never made twice.

    ideate → gate ideation → plan clips → each clip (begin/poll/collect, waits between) → prepare render →
    render (a nested RenderJob execution, or a wait for the Remotion service's callback that asks the service
    whenever it runs out) → record render → gate publish → publish (poll while pending) → complete; a rejected
    gate → reject; any failure or timeout → fail, naming the step.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from pytoon.aws import keys
from pytoon.aws.jobs import JobRepository
from pytoon.aws.metrics import MetricsStore
from pytoon.aws.runs import RunRepository
from pytoon.aws.storage import ArtifactStore
from pytoon.aws.tasks import TaskKey
from pytoon.config import RunSettings, Settings, get_settings
from pytoon.engines import LOCAL_ENGINE
from pytoon.errors import PytoonError
from pytoon.models import AssetCategory, JobStatus
from pytoon.observability import logger
from pytoon.resume import register_waiting_task
from pytoon.runs.models import ClipArtifact, Gate, PublishArtifact, RenderArtifact, RunRecord, RunStatus
from pytoon.runs.service import announce, announce_end, gate_task
from pytoon.video_engines.base import EngineError
from pytoon.video_engines.clip_steps import ClipPhase, ClipServices, ClipSlot, ClipStep, clip_step
from pytoon.webhooks import REMOTION_FAILED

# Names of the steps, as the run's `current_step` shows them and as failures name them.
STEP_NAMES = {
    "ideation": "ideation",
    "ideation_approval": "ideation approval",
    "clips": "clip generation",
    "render": "render",
    "publish_approval": "publish approval",
    "publish": "publish",
}
# How long each failing wait lasted, for its reason: the failed step → the timeout that bounded it.
_STEP_TIMEOUTS = {
    "ideation_approval": "ideation_approval_timeout_seconds",
    "publish_approval": "publish_approval_timeout_seconds",
    "render": "render_timeout_seconds",
    "publish": "publish_timeout_seconds",
}
# Token TTL beyond the gate's own timeout: by then the execution has failed the run and the token is useless.
_TOKEN_GRACE_SECONDS = 3600


class RunStepError(PytoonError):
    """A step that cannot go on; the run fails with this message (after the step's name)."""


class PublishFailedError(RunStepError):
    pass


class _Steps:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runs = RunRepository.from_settings(settings)
        self.store = ArtifactStore.from_settings(settings)

    def run(self, run_id: str) -> RunRecord:
        return self.runs.get(run_id)


def _steps() -> _Steps:
    return _Steps(get_settings())


def ideate_run(run_id: str) -> None:
    """Ideas from the brief and the project (by the LLM when one is configured, else by rules), once."""
    from pytoon.runs.ideation import ideate, readable
    from pytoon.runs.projects import get_project

    steps = _steps()
    record = steps.run(run_id)
    if record.artifacts.ideas is not None:
        return
    steps.runs.update(run_id, status=RunStatus.RUNNING, current_step="ideation")
    ideas = ideate(record.brief, get_project(record.project), settings=steps.settings)
    steps.runs.update(run_id, artifacts={"ideas": ideas.model_dump(mode="json"), "ideas_text": readable(ideas)})


def await_gate(run_id: str, gate: Gate, token: str, timeout_seconds: int) -> None:
    """Keep the token the execution waits with at the gate, then show the run as waiting there (in this order:
    a reviewer who sees the run waiting can always decide)."""
    steps = _steps()
    register_waiting_task(
        gate_task(run_id, gate), token, ttl_seconds=timeout_seconds + _TOKEN_GRACE_SECONDS, settings=steps.settings
    )
    steps.runs.update(run_id, status=gate.waiting_status, current_step=f"{gate.value}_approval")
    record = steps.run(run_id)
    announce(record, "run.awaiting_approval", gate=gate.value)


class ClipRef(BaseModel):
    run_id: str
    index: int


class ClipsPlan(BaseModel):
    """The clips an engine is asked for (a Map item each); clips no engine can make are cards already."""

    clips: list[ClipRef]


def plan_clips(run_id: str) -> ClipsPlan:
    """One clip per idea, each the project's clip length, for the engines of the project's chain that are
    available; with none available the clip is done at once, shown as a designed card, and says why."""
    from pytoon.runs.ideation import Ideas
    from pytoon.runs.projects import get_project

    steps = _steps()
    record = steps.run(run_id)
    if not record.artifacts.clips:
        ideas = Ideas.model_validate(record.artifacts.ideas)
        project = get_project(record.project)
        chain, unavailable = _engine_chain(project)
        clips = [
            ClipArtifact(
                index=index,
                prompt=idea.prompt,
                caption=idea.caption,
                seconds=float(project.clip_seconds),
                done=not chain,
                engine=None if chain else LOCAL_ENGINE,
                fallback_reason=None if chain else f"no video engine available ({unavailable}): a designed card",
            )
            for index, idea in enumerate(ideas.clips)
        ]
        steps.runs.update(
            run_id,
            status=RunStatus.AWAITING_VIDEO_GENERATION,
            current_step="clips",
            artifacts={"clips": [clip.model_dump(mode="json") for clip in clips]},
        )
        record = steps.run(run_id)
    else:
        steps.runs.update(run_id, status=RunStatus.AWAITING_VIDEO_GENERATION, current_step="clips")
    return ClipsPlan(clips=[ClipRef(run_id=run_id, index=c.index) for c in record.artifacts.clips if not c.done])


def _engine_chain(project: Any) -> tuple[list[str], str]:
    """The available engines of the project's chain, first choice first, and why the others are not."""
    from pytoon.engines import engine_unavailable
    from pytoon.video_engines.selection import prompt_chain

    reasons = {name: engine_unavailable(name) for name in prompt_chain(project.engine, project.preset_id)}
    unavailable = "; ".join(str(reason) for reason in reasons.values() if reason) or "none is configured"
    return [name for name, reason in reasons.items() if reason is None], unavailable


class RunClipStepRef(ClipRef):
    step: ClipStep
    # The waiting task's token (AWAIT only).
    task_token: str | None = None


class RunClipStepResult(BaseModel):
    run_id: str
    index: int
    phase: ClipPhase
    wait_seconds: int


def generate_run_clip(run_id: str, index: int, step: ClipStep, task_token: str | None = None) -> RunClipStepResult:
    """One step of a run's clip, as a render job's scene is generated; once done, a made clip becomes one of the
    tenant's video uploads (the render job shows it from there) and the clip records its engine or its card."""
    from pytoon.content_rules import engine_prompt
    from pytoon.runs.projects import get_project

    steps = _steps()
    record = steps.run(run_id)
    clip = record.artifacts.clips[index]
    slot = ClipSlot(
        state_key=keys.run_generation_key(run_id, index),
        clip_key=keys.run_clip_key(run_id, index),
        prompt=engine_prompt(clip.prompt, brand_safe=True),
        seconds=clip.seconds,
        chain=_engine_chain(get_project(record.project))[0],
    )
    services = ClipServices(steps.settings, steps.store, MetricsStore.from_settings(steps.settings))
    # /tmp survives into the next warm invocation: always clean up so a retry starts fresh.
    work = steps.settings.work_dir / f"runs/{run_id}/clip_{index:02d}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        outcome = clip_step(slot, step, task_token, services, work, describe=f"clip {index + 1} of run {run_id}")
        generation = outcome.generation
        if outcome.phase == "done" and not clip.done:
            made = generation.made_clip
            done = clip.model_copy(
                update={
                    "done": True,
                    "engine": generation.engine if made else LOCAL_ENGINE,
                    "fallback_reason": generation.fallback_reason,
                    "attempts": [a.model_dump(mode="json") for a in generation.attempts],
                    "clip_key": slot.clip_key if made else None,
                    "asset_key": _as_upload(steps, record, slot.clip_key, index, work) if made else None,
                }
            )
            steps.runs.update(run_id, clip=(index, done.model_dump(mode="json")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return RunClipStepResult(run_id=run_id, index=index, phase=outcome.phase, wait_seconds=outcome.wait_seconds)


def _as_upload(steps: _Steps, record: RunRecord, clip_key: str, index: int, work: Path) -> str:
    """The generated clip stored as one of the tenant's READY video uploads, checked as an upload is."""
    from pytoon.assets import CheckedUpload, inspect_media, store_checked

    path = steps.store.download(clip_key, work / "made.mp4")
    name = f"run-{record.run_id[:8]}-clip-{index + 1}.mp4"
    checked = CheckedUpload(AssetCategory.VIDEO, name, path.read_bytes(), inspect_media(path, AssetCategory.VIDEO))
    return store_checked(checked, record.tenant_id, steps.settings).key


class RenderStart(BaseModel):
    job_id: str
    speak: bool
    renderer: Literal["pytoon", "remotion"] = "pytoon"


def prepare_render(run_id: str) -> RenderStart:
    """The run's render, once: on the Remotion service when it is configured and can render this run (its job
    submitted here), else a V2 render job, recorded but not started (the run starts it as a nested execution
    under the job's id) with one scene per clip, showing the generated clip or the designed card, with its
    caption, the project's preset and music, and the ideas' voice script when the project speaks."""
    from pytoon.runs.ideation import Ideas
    from pytoon.runs.projects import get_project
    from pytoon.submission import submit_request
    from pytoon.v2_jobs import V2JobRequest

    steps = _steps()
    record = steps.run(run_id)
    made = record.artifacts.render
    if made is not None and made.renderer == "remotion":
        return RenderStart(job_id=made.job_id, speak=False, renderer="remotion")
    if made is not None and steps.store.exists(keys.spec_key(made.job_id)):
        return RenderStart(job_id=made.job_id, speak=_speaks(steps, made.job_id))
    project = get_project(record.project)
    ideas = Ideas.model_validate(record.artifacts.ideas)
    remotion_job, fallback_reason = _on_remotion(steps, record, project)
    if remotion_job is not None:
        render = RenderArtifact(job_id=remotion_job, status="queued", renderer="remotion", started_at=time.time())
        _rendering(steps, run_id, render)
        return RenderStart(job_id=remotion_job, speak=False, renderer="remotion")
    scenes = [_scene(clip, project) for clip in record.artifacts.clips]
    request = V2JobRequest(
        preset_id=project.preset_id,
        brand_safe=True,
        voice_script=ideas.voice_script if project.voice else None,
        music_source=project.music,
        scene_graph={"version": "2.0", "scenes": scenes},
    )
    # A retried step (its first try cut off after submitting) gets the job it made, not a second one.
    job = submit_request(
        request,
        tenant_id=record.tenant_id,
        idempotency_key=f"run-render:{run_id}",
        settings=steps.settings,
        start=False,
    )
    _rendering(steps, run_id, RenderArtifact(job_id=job.job_id, status=job.status.v2, fallback_reason=fallback_reason))
    return RenderStart(job_id=job.job_id, speak=request.voice_script is not None)


def _rendering(steps: _Steps, run_id: str, render: RenderArtifact) -> None:
    steps.runs.update(
        run_id,
        status=RunStatus.AWAITING_RENDER,
        current_step="render",
        artifacts={"render": render.model_dump(mode="json")},
    )


def _on_remotion(steps: _Steps, record: RunRecord, project: Any) -> tuple[str | None, str | None]:
    """The Remotion job rendering the run, or why the run renders here although the service is configured (None
    for both when it is not): the project has no template there, the service is not fully set up, a clip is
    a designed card (the service renders video clips only), or the service refused the render."""
    from pytoon.runs import remotion

    if not remotion.configured():
        return None, None
    if project.remotion_template is None:
        return None, f"project {project.name} has no Remotion template"
    if missing := remotion.missing_settings():
        return None, f"Remotion is not set up: {missing}"
    if cards := [str(clip.index + 1) for clip in record.artifacts.clips if clip.clip_key is None]:
        return None, f"Remotion renders generated clips only; clip {', '.join(cards)} is a designed card"
    request = remotion.RemotionRequest(
        run_id=record.run_id,
        template=project.remotion_template,
        clip_urls=[steps.store.url(clip.clip_key) for clip in record.artifacts.clips if clip.clip_key],
        texts=[clip.caption for clip in record.artifacts.clips],
        duration_seconds=sum(clip.seconds for clip in record.artifacts.clips),
    )
    try:
        return remotion.RemotionService().submit(request), None
    except EngineError as exc:
        return None, f"Remotion refused the render: {exc}"


def _speaks(steps: _Steps, job_id: str) -> bool:
    return steps.store.get_json(keys.spec_key(job_id)).get("voice_script") is not None


def _scene(clip: ClipArtifact, project: Any) -> dict[str, Any]:
    scene: dict[str, Any] = {
        "id": clip.index + 1,
        "description": clip.prompt,
        "duration": round(clip.seconds * 1000),
        "caption": clip.caption,
        "transition": "fade",
    }
    if clip.asset_key:
        scene["media"] = {"type": "video", "asset": clip.asset_key}
    else:
        scene["media"] = {"type": "video", "engine": "local", "prompt": clip.prompt}
    return scene


def await_remotion_render(run_id: str, token: str, timeouts: RunSettings) -> None:
    """Wait for the Remotion service's callback on the run's render. The token is kept under the run and its
    job, then the service is asked once: a render that ended before (or whose callback was missed while the
    previous wait ran out) resumes the wait at once. A render not ended within the render timeout fails the
    run; a service that cannot be asked now is asked again at the next wait."""
    from pytoon.resume import TaskResult, resume_task
    from pytoon.runs.remotion import REMOTION, RemotionService
    from pytoon.webhooks import register_task_token, remotion_task_id

    steps = _steps()
    render = _render(steps.run(run_id))
    if time.time() - (render.started_at or 0) > timeouts.render_timeout_seconds:
        raise RunStepError(f"{REMOTION} had not rendered job {render.job_id} after {timeouts.render_timeout_seconds} s")
    task_id = remotion_task_id(run_id, render.job_id)
    ttl = timeouts.render_check_seconds + _TOKEN_GRACE_SECONDS
    register_task_token("remotion", task_id, token, ttl_seconds=ttl, settings=steps.settings)
    try:
        status = RemotionService().status(render.job_id)
    except EngineError as exc:
        logger.warning("Remotion not asked", extra={"run_id": run_id, "reason": str(exc)})
        return
    steps.runs.update(run_id, artifacts={"render": render.model_copy(update={"status": status.state}).model_dump()})
    if status.state in ("done", "error"):
        detail = {"status": status.state, "job_id": render.job_id, "error": status.error}
        result = TaskResult(status.state == "done", detail, error=REMOTION_FAILED)
        resume_task(TaskKey("remotion", task_id), result, claimed_by=f"check:{status.state}", settings=steps.settings)


def record_render(run_id: str) -> None:
    """The render finished: the run keeps its outcome (a Remotion render's video is fetched into the bucket)."""
    steps = _steps()
    record = steps.run(run_id)
    render = _render(record)
    if render.renderer == "remotion":
        video_key = _fetch_remotion_video(steps, record, render)
        done = render.model_copy(update={"status": "done", "video_key": video_key})
        steps.runs.update(run_id, artifacts={"render": done.model_dump()})
        return
    job = JobRepository.from_settings(steps.settings).get(render.job_id)
    if job.status is not JobStatus.DONE:
        raise RunStepError(f"render job {render.job_id} is {job.status.v2}: {job.error or 'no reason recorded'}")
    steps.runs.update(run_id, artifacts={"render": render.model_copy(update={"status": job.status.v2}).model_dump()})


def _fetch_remotion_video(steps: _Steps, record: RunRecord, render: RenderArtifact) -> str:
    """The finished Remotion video, checked as an uploaded clip is and for the short's frame size, stored with
    the run."""
    from pytoon.assets import AssetRejectedError, inspect_media
    from pytoon.runs.remotion import FRAME_SIZE, REMOTION, RemotionService

    service = RemotionService()
    status = service.status(render.job_id)
    if status.state != "done" or status.output_url is None:
        said = f": {status.error}" if status.error else ""
        raise RunStepError(f"{REMOTION} job {render.job_id} is {status.state} with no video{said}")
    work = steps.settings.work_dir / f"runs/{record.run_id}/render"
    work.mkdir(parents=True, exist_ok=True)
    try:
        video = service.download(status.output_url, work / "render.mp4")
        try:
            facts = inspect_media(video, AssetCategory.VIDEO)
        except AssetRejectedError as exc:
            raise RunStepError(f"the video {REMOTION} made is not usable: {exc}") from None
        if (facts.width, facts.height) != FRAME_SIZE:
            wanted = "×".join(map(str, FRAME_SIZE))
            raise RunStepError(f"{REMOTION} made a {facts.width}×{facts.height} video, not {wanted}")
        key = keys.run_render_key(record.run_id)
        steps.store.put_file(key, video, "video/mp4")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return key


def _render(record: RunRecord) -> RenderArtifact:
    if record.artifacts.render is None:
        raise RunStepError(f"run {record.run_id} has no render job")
    return record.artifacts.render


class PublishProgress(BaseModel):
    state: Literal["published", "pending"]
    wait_seconds: int


def publish_run(run_id: str, timeouts: RunSettings) -> PublishProgress:
    """Publish the rendered video through the configured publisher, or ask how a pending publish is doing;
    a publish still pending after the publish timeout fails the run."""
    from pytoon.runs.ideation import Ideas
    from pytoon.runs.projects import get_project
    from pytoon.runs.publishing import PublishRequest, publisher_for

    steps = _steps()
    record = steps.run(run_id)
    project = get_project(record.project)
    ideas = Ideas.model_validate(record.artifacts.ideas)
    request = PublishRequest(
        run_id=run_id,
        tenant_id=record.tenant_id,
        video_key=_render(record).output_key,
        title=ideas.title,
        caption=ideas.hook,
        hashtags=ideas.hashtags,
        targets=list(project.publish_targets),
    )
    publisher = publisher_for(steps.settings)
    started = record.artifacts.published
    if started is not None and started.state == "pending" and started.request_id:
        result = publisher.poll(request, started.request_id)
        started_at = started.started_at
    else:
        steps.runs.update(run_id, status=RunStatus.RUNNING, current_step="publish")
        result, started_at = publisher.publish(request), time.time()
    published = PublishArtifact(
        publisher=result.publisher,
        state=result.state,
        url=result.url,
        request_id=result.request_id,
        platforms={name: outcome.model_dump(mode="json") for name, outcome in result.platforms.items()},
        reason=result.reason,
        started_at=started_at,
    )
    steps.runs.update(run_id, artifacts={"published": published.model_dump(mode="json")})
    if result.state == "failed":
        raise PublishFailedError(f"{result.publisher} refused the video: {result.reason or 'no reason given'}")
    if result.state == "pending":
        if time.time() - started_at > timeouts.publish_timeout_seconds:
            raise PublishFailedError(
                f"{result.publisher} had not published the video after {timeouts.publish_timeout_seconds} s"
            )
        wait = max(timeouts.publish_poll_seconds, result.wait_seconds or 0)
        return PublishProgress(state="pending", wait_seconds=wait)
    return PublishProgress(state="published", wait_seconds=0)


def complete_run(run_id: str) -> None:
    steps = _steps()
    steps.runs.update(run_id, status=RunStatus.COMPLETED, current_step="done")
    announce_end(steps.run(run_id), "run.completed", steps.settings)


def reject_run(run_id: str, gate: Gate) -> None:
    """The reviewer said no: the run ends `rejected`, with their comment."""
    steps = _steps()
    decision = steps.run(run_id).artifacts.gates.get(gate.value)
    comment = decision.comment if decision and decision.comment else "no comment"
    reason = f"rejected at the {gate.value} gate: {comment}"
    steps.runs.update(run_id, status=RunStatus.REJECTED, current_step=f"{gate.value}_approval", error=reason)
    announce_end(steps.run(run_id), "run.failed", steps.settings, rejected=True)


def fail_run(run_id: str, step: str, failure: dict[str, Any], timeouts: RunSettings) -> None:
    """The run fails with a reason that names the step: a wait that timed out says how long it waited; a
    render that failed says why the job failed."""
    steps = _steps()
    record = steps.run(run_id)
    if record.status.terminal:
        return
    error, cause = str(failure.get("Error") or "Error"), str(failure.get("Cause") or "")
    name = STEP_NAMES.get(step, step)
    if error == "States.Timeout" and step in _STEP_TIMEOUTS:
        reason = f"{name}: no outcome within {getattr(timeouts, _STEP_TIMEOUTS[step])} s"
    elif error == REMOTION_FAILED and record.artifacts.render is not None:
        job_id = record.artifacts.render.job_id
        said = _cause_field(cause, "error") or _remotion_error(job_id) or "no reason given"
        reason = f"render: Remotion could not render job {job_id}: {said}"
    elif step == "render" and record.artifacts.render is not None and record.artifacts.render.renderer == "pytoon":
        job = JobRepository.from_settings(steps.settings).get(record.artifacts.render.job_id)
        reason = f"render: job {job.job_id} {job.status.v2}" + (f": {job.error}" if job.error else f" ({error})")
    else:
        reason = f"{name}: {_cause_message(cause) or error}"
    steps.runs.update(run_id, status=RunStatus.FAILED, current_step=step, error=reason)
    announce_end(steps.run(run_id), "run.failed", steps.settings)


def _remotion_error(job_id: str) -> str | None:
    """The service's own account of a failed job (for a failure that reached us without its cause)."""
    from pytoon.runs.remotion import RemotionService

    try:
        return RemotionService().status(job_id).error
    except EngineError:
        return None


def _cause_message(cause: str) -> str:
    """The message of a Lambda error's cause (`{"errorMessage": ...}`), or the cause itself."""
    return _cause_field(cause, "errorMessage") or cause


def _cause_field(cause: str, name: str) -> str | None:
    """A field of a failure's cause when the cause is a JSON object."""
    try:
        parsed = json.loads(cause)
    except ValueError:
        return None
    return str(parsed[name]) if isinstance(parsed, dict) and parsed.get(name) else None


class RunStepRequest(BaseModel):
    """What the state machine sends the run-step function: the action, the run, and what that action needs."""

    action: Literal["ideate", "await_gate", "plan_clips", "prepare_render", "await_remotion_render", "record_render",
                    "publish", "complete", "reject", "fail"]  # fmt: skip
    run_id: str
    gate: Gate | None = None
    token: str | None = None
    step: str | None = None
    failure: dict[str, Any] | None = None
    timeouts: RunSettings = RunSettings()


def run_step(request: RunStepRequest) -> dict[str, Any]:
    """Do one step of a run; the answer is what the state machine keeps (an empty object when nothing)."""
    run_id, gate, timeouts = request.run_id, request.gate, request.timeouts
    match request.action:
        case "ideate":
            ideate_run(run_id)
        case "await_gate":
            if gate is None or request.token is None:
                raise ValueError("await_gate needs a gate and a token")
            await_gate(run_id, gate, request.token, getattr(timeouts, f"{gate.value}_approval_timeout_seconds"))
        case "plan_clips":
            return plan_clips(run_id).model_dump(mode="json")
        case "prepare_render":
            return prepare_render(run_id).model_dump(mode="json")
        case "await_remotion_render":
            if request.token is None:
                raise ValueError("await_remotion_render needs a token")
            await_remotion_render(run_id, request.token, timeouts)
        case "record_render":
            record_render(run_id)
        case "publish":
            return publish_run(run_id, timeouts).model_dump(mode="json")
        case "complete":
            complete_run(run_id)
        case "reject":
            if gate is None:
                raise ValueError("reject needs a gate")
            reject_run(run_id, gate)
        case "fail":
            fail_run(run_id, request.step or "run", request.failure or {}, timeouts)
    return {}
