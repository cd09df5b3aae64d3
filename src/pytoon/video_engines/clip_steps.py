"""One step of one clip's generation, with its state kept in storage between steps.

A render job's generated scenes and a production run's clips are generated the same way: a `ClipSlot` says
where the state and the finished clip are kept and what is asked for, and `clip_step` advances it by one
step (begin, poll, collect, or await a provider's signed webhook). The state machine that runs the steps
does the waiting between them; nothing here sleeps.
"""

from __future__ import annotations

import math
import mimetypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Literal

from pytoon.aws.engine_health import EngineHealth
from pytoon.aws.metrics import MetricsStore
from pytoon.aws.storage import ArtifactStore
from pytoon.aws.tasks import TaskKey
from pytoon.config import Settings
from pytoon.models import AssetCategory
from pytoon.video_engines.base import ImageInput
from pytoon.video_engines.generation import (
    Generation,
    Outcome,
    Phase,
    begin_generation,
    collect_generation,
    poll_generation,
    task_has_ended,
)
from pytoon.video_engines.selection import engine_config
from pytoon.webhooks import engine_webhook


class ClipStep(StrEnum):
    BEGIN = "begin"
    POLL = "poll"
    COLLECT = "collect"
    AWAIT = "await"  # register the waiting task for the provider's signed webhook


# A step's answer to the state machine: `await` is a wait that the provider's webhook ends (at the latest at the
# engine's deadline, `wait_seconds` from now); the other phases are the generation's own.
ClipPhase = Literal["wait", "await", "collect", "done"]


@dataclass(frozen=True)
class ClipSlot:
    """One clip to generate: where its generation state and its finished clip are stored, what it shows, for
    how long, by which engines in turn, and the picture an image-to-video engine starts from."""

    state_key: str
    clip_key: str
    prompt: str
    seconds: float
    chain: list[str]
    image_key: str | None = None


@dataclass(frozen=True)
class ClipServices:
    settings: Settings
    store: ArtifactStore
    metrics: MetricsStore


@dataclass(frozen=True)
class ClipStepOutcome:
    generation: Generation
    phase: ClipPhase
    wait_seconds: int


def clip_step(
    slot: ClipSlot,
    step: ClipStep,
    task_token: str | None,
    services: ClipServices,
    work: Path,
    *,
    describe: str,
) -> ClipStepOutcome:
    """Advance the slot's generation by one step; `work` is an empty scratch folder, `describe` names the slot in
    errors. A retried begin continues the generation it started: a provider task is never submitted twice."""
    from pytoon.assets import inspect_media  # Pillow and the probe: only the steps that collect need them

    store, now = services.store, time.time()
    if step is ClipStep.AWAIT:
        generation = Generation.model_validate(store.get_json(slot.state_key))
        return _await_webhook(slot, generation, task_token, services.settings, now, describe)
    image = _generation_image(store, slot.image_key, work)
    if step is ClipStep.BEGIN and not store.exists(slot.state_key):
        skipped = _failing_engines(services.settings, slot.chain, now)
        generation = begin_generation(slot.prompt, slot.seconds, slot.chain, now=now, image=image, skipped=skipped)
    else:
        generation = Generation.model_validate(store.get_json(slot.state_key))
    if step is ClipStep.POLL:
        generation = poll_generation(generation, now=now, image=image)
    elif step is ClipStep.COLLECT:
        clip = work / "clip.mp4"
        check = lambda path: inspect_media(path, AssetCategory.VIDEO)  # noqa: E731
        generation = collect_generation(generation, clip, check, now=now, image=image)
        if generation.made_clip:
            store.put_file(slot.clip_key, clip, "video/mp4")
    store.put_json(slot.state_key, generation.model_dump(mode="json"))
    if generation.phase is Phase.DONE:
        _record_attempts(services, generation)
    if generation.phase is Phase.WAIT and generation.task_id and engine_webhook(generation.engine):
        return ClipStepOutcome(generation, "await", _until_deadline(generation, now))
    return ClipStepOutcome(generation, generation.phase.value, round(generation.wait_seconds))


def _await_webhook(
    slot: ClipSlot, generation: Generation, token: str | None, settings: Settings, now: float, describe: str
) -> ClipStepOutcome:
    """Register the waiting task under the provider's task id, so its webhook resumes it. A task that finished
    before the registration had its event refused as unknown: the provider is asked once, after registering,
    and a finished task resumes the wait itself (whichever of the two comes first resumes it, once)."""
    from pytoon.resume import TaskResult, resume_task
    from pytoon.webhooks import register_task_token

    provider, task_id = engine_webhook(generation.engine), generation.task_id
    if provider is None or task_id is None or token is None:
        raise ValueError(f"{describe} is not waiting for a webhook")
    remaining = _until_deadline(generation, now)
    register_task_token(provider, task_id, token, ttl_seconds=remaining + 3600, settings=settings)
    if task_has_ended(generation):
        ended = TaskResult(True, {"task_id": task_id, "seen": "ended before its webhook was awaited"})
        resume_task(TaskKey(provider, task_id), ended, claimed_by=f"await-check:{task_id}", settings=settings)
    return ClipStepOutcome(generation, "await", remaining)


def _until_deadline(generation: Generation, now: float) -> int:
    """Whole seconds until the current engine's deadline (at least one: a Step Functions timeout)."""
    return max(1, math.ceil((generation.deadline or now) - now))


def _generation_image(store: ArtifactStore, key: str | None, work: Path) -> Callable[[], ImageInput | None]:
    """The slot's picture for image-to-video, fetched only if an engine that takes one is asked (then once):
    the file, and a short-lived link for providers that fetch it themselves."""

    @cache
    def image() -> ImageInput | None:
        if key is None:
            return None
        path = store.download(key, work / f"image{Path(key).suffix}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return ImageInput(url=store.url(key), path=path, content_type=content_type)

    return image


def _failing_engines(settings: Settings, chain: list[str], now: float) -> dict[str, str]:
    """The engines of the chain skipped for failing too often lately (name → why)."""
    rules = engine_config().rotation
    health = EngineHealth.from_settings(settings)
    reasons = {
        name: health.skip_reason(
            name,
            now=now,
            window_seconds=rules.window_seconds,
            min_attempts=rules.min_attempts,
            failure_threshold=rules.failure_threshold,
        )
        for name in chain
    }
    return {name: reason for name, reason in reasons.items() if reason}


# What an attempt says about the engine's health: a refused prompt or a missing key says nothing about it.
_ENGINE_FAILURES = {Outcome.FAILED, Outcome.TIMED_OUT, Outcome.RATE_LIMITED}


def _record_attempts(services: ClipServices, generation: Generation) -> None:
    """Each attempt's latency in the metrics and its outcome in the engine's health; a fallback is counted."""
    health = EngineHealth.from_settings(services.settings)
    for attempt in generation.attempts:
        if attempt.outcome in (Outcome.UNAVAILABLE, Outcome.SKIPPED):
            continue
        services.metrics.observe(
            "pytoon_engine_generation_seconds", attempt.seconds, engine=attempt.engine, outcome=attempt.outcome
        )
        if attempt.outcome is Outcome.SUCCEEDED or attempt.outcome in _ENGINE_FAILURES:
            health.record(attempt.engine, failed=attempt.outcome in _ENGINE_FAILURES, now=time.time())
    if generation.fallback_reason:
        failed = next(a for a in generation.attempts if a.outcome is not Outcome.SUCCEEDED)
        services.metrics.increment(
            "pytoon_fallback_total", type="engine_fallback", engine=failed.engine, reason=failed.outcome
        )
