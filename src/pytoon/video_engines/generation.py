"""One generated scene's clip, made by the engines of its chain one short step at a time.

Each step is a quick call that ends in one of three phases: WAIT (ask again after `wait_seconds`, while a
provider generates or after a 429), COLLECT (a clip is ready to download) or DONE (with a clip, or with
none when every engine failed and the scene falls back to its local designed card). Whoever runs the steps
(the render job's state machine, or a test) does the waiting between them, so nothing holds a process while
a provider works. The rules, per engine in the chain:

- no key configured: skipped, recorded as unavailable; failing too often lately (the caller says): skipped;
- a content-moderation refusal (at submit or as the task's failure): one rephrased attempt on the same
  engine, then the next engine;
- HTTP 429: wait the provider's Retry-After once, then the next engine;
- a failure, an unusable clip, or no finished clip within the engine's timeout: the next engine.

Every attempt is kept with its outcome, reason and seconds, for the scene's record and the job's fallback.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from pytoon.errors import PytoonError
from pytoon.video_engines.base import (
    ClipRequest,
    EngineError,
    ImageInput,
    ModerationRefused,
    RateLimited,
    TaskState,
    TaskStatus,
    VideoEngine,
    engine_seconds,
    http_client,
    unavailable_reason,
)
from pytoon.video_engines.selection import EngineConfig, engine_config, rephrased_for_moderation
from pytoon.webhooks import engine_webhook, task_callback_url

# A 429 is waited out at most this long; a provider asking for longer is treated as failing after it.
MAX_RATE_LIMIT_WAIT_SECONDS = 60.0


class Phase(StrEnum):
    WAIT = "wait"
    COLLECT = "collect"
    DONE = "done"


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    UNAVAILABLE = "unavailable"
    SKIPPED = "skipped"  # failing too often lately
    MODERATED = "moderated"
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


class EngineAttempt(BaseModel):
    engine: str
    outcome: Outcome
    reason: str | None = None
    seconds: float = 0.0


class Generation(BaseModel):
    """Where one scene's generation stands: small enough to travel in a state machine payload."""

    prompt: str
    scene_seconds: float
    # Engines still to try, the current one first.
    chain: list[str]
    phase: Phase = Phase.WAIT
    wait_seconds: float = 0.0
    task_id: str | None = None
    submitted_at: float | None = None
    deadline: float | None = None
    rephrased: bool = False
    waited_out_rate_limit: bool = False
    video_url: str | None = None
    attempts: list[EngineAttempt] = []

    @property
    def engine(self) -> str | None:
        return self.chain[0] if self.chain else None

    @property
    def made_clip(self) -> bool:
        """DONE with a clip collected (not with every engine of the chain failed)."""
        return self.phase is Phase.DONE and bool(self.attempts) and self.attempts[-1].outcome is Outcome.SUCCEEDED

    @property
    def fallback_reason(self) -> str | None:
        """Why the scene is not the first engine's clip (None when it is)."""
        failed = [a for a in self.attempts if a.outcome is not Outcome.SUCCEEDED]
        if not failed:
            return None
        said = "; ".join(f"{a.engine} {a.outcome.value}" + (f": {a.reason}" if a.reason else "") for a in failed)
        made_by = self.engine if self.made_clip else "the local designed card"
        return f"{said} (made by {made_by})"


def adapter(name: str) -> VideoEngine:
    """The adapter of an engine named in engines.json: `ENGINE` in pytoon.video_engines.<name>."""
    return importlib.import_module(f"pytoon.video_engines.{name}").ENGINE


ImageSource = Callable[[], ImageInput | None]


def begin_generation(
    prompt: str,
    scene_seconds: float,
    chain: list[str],
    *,
    now: float,
    image: ImageSource,
    skipped: dict[str, str] | None = None,
    config: EngineConfig | None = None,
) -> Generation:
    """Start generating: the first engine of the chain that accepts the task (or DONE without a clip). The
    engines in `skipped` (name → why) are passed over, their attempts recorded."""
    skipped = skipped or {}
    passed_over = [
        EngineAttempt(engine=name, outcome=Outcome.SKIPPED, reason=skipped[name]) for name in chain if name in skipped
    ]
    generation = Generation(
        prompt=prompt,
        scene_seconds=scene_seconds,
        chain=[name for name in chain if name not in skipped],
        attempts=passed_over,
    )
    return _submit(generation, now, image, config)


def poll_generation(
    generation: Generation, *, now: float, image: ImageSource, config: EngineConfig | None = None
) -> Generation:
    """The step after a WAIT: resubmit after a rate limit, or ask the provider how the task is doing."""
    config = config or engine_config()
    if generation.task_id is None:
        return _submit(generation, now, image, config)
    engine = adapter(generation.engine or "")
    try:
        with http_client() as http:
            status = engine.status(http, engine.access(), generation.task_id)
    except RateLimited as exc:
        if generation.deadline is not None and now >= generation.deadline:
            return _next_engine(generation, Outcome.RATE_LIMITED, exc.reason, now, image, config)
        return generation.model_copy(update={"phase": Phase.WAIT, "wait_seconds": _rate_limit_wait(exc)})
    except EngineError as exc:
        return _next_engine(generation, Outcome.FAILED, exc.reason, now, image, config)
    return _after_status(generation, status, now, image, config)


def task_has_ended(generation: Generation) -> bool:
    """Whether the provider says the current task has finished (succeeded or failed); any trouble asking is
    "not known to have ended", and the caller keeps waiting."""
    if generation.task_id is None or generation.engine is None:
        return False
    engine = adapter(generation.engine)
    try:
        with http_client() as http:
            return engine.status(http, engine.access(), generation.task_id).state is not TaskState.RUNNING
    except EngineError:
        return False


def collect_generation(
    generation: Generation,
    path: Path,
    check: Callable[[Path], object],
    *,
    now: float,
    image: ImageSource,
    config: EngineConfig | None = None,
) -> Generation:
    """Download the finished clip to `path` and `check` it (which raises a PytoonError, ValueError or OSError for
    an unusable file); DONE with the clip, or on to the next engine when the clip cannot be used."""
    engine = adapter(generation.engine or "")
    status = TaskStatus(state=TaskState.SUCCEEDED, video_url=generation.video_url)
    try:
        with http_client() as http:
            engine.download(http, engine.access(), status, path)
        check(path)
    except EngineError as exc:
        return _next_engine(generation, Outcome.FAILED, exc.reason, now, image, config)
    except (PytoonError, ValueError, OSError) as exc:
        return _next_engine(generation, Outcome.FAILED, f"the clip is not usable: {exc}", now, image, config)
    attempt = EngineAttempt(engine=engine.name, outcome=Outcome.SUCCEEDED, seconds=_elapsed(generation, now))
    return generation.model_copy(update={"phase": Phase.DONE, "attempts": [*generation.attempts, attempt]})


def _after_status(
    generation: Generation, status: TaskStatus, now: float, image: ImageSource, config: EngineConfig
) -> Generation:
    if status.state is TaskState.SUCCEEDED:
        return generation.model_copy(update={"phase": Phase.COLLECT, "video_url": status.video_url})
    if status.state is TaskState.FAILED:
        if status.moderated:
            return _moderated(generation, status.reason or "refused by content moderation", now, image, config)
        return _next_engine(generation, Outcome.FAILED, status.reason, now, image, config)
    if generation.deadline is not None and now >= generation.deadline:
        timeout = config.engines[generation.engine or ""].timeout_seconds
        return _next_engine(generation, Outcome.TIMED_OUT, f"no clip within {timeout} s", now, image, config)
    interval = config.engines[generation.engine or ""].poll_interval_seconds
    return generation.model_copy(update={"phase": Phase.WAIT, "wait_seconds": float(interval)})


def _submit(generation: Generation, now: float, image: ImageSource, config: EngineConfig | None) -> Generation:
    config = config or engine_config()
    while generation.chain:
        engine = adapter(generation.chain[0])
        reason = unavailable_reason(engine)
        if reason is not None:
            generation = _dropped(generation, Outcome.UNAVAILABLE, reason, now)
            continue
        picture = image() if engine.supports_image else None
        request = ClipRequest(
            prompt=generation.prompt,
            seconds=engine_seconds(engine.durations, generation.scene_seconds),
            image=picture,
            callback_url=task_callback_url(engine.name) if engine_webhook(engine.name) else None,
        )
        try:
            with http_client() as http:
                task_id = engine.submit(http, engine.access(), request)
        except ModerationRefused as exc:
            if generation.rephrased:
                generation = _dropped(generation, Outcome.MODERATED, exc.reason, now)
                continue
            generation = _rephrased(generation, config)
            continue
        except RateLimited as exc:
            if generation.waited_out_rate_limit:
                generation = _dropped(generation, Outcome.RATE_LIMITED, exc.reason, now)
                continue
            return generation.model_copy(
                update={
                    "phase": Phase.WAIT,
                    "wait_seconds": _rate_limit_wait(exc),
                    "waited_out_rate_limit": True,
                    "task_id": None,
                    "submitted_at": generation.submitted_at or now,
                }
            )
        except EngineError as exc:
            generation = _dropped(generation, Outcome.FAILED, exc.reason, now)
            continue
        rules = config.engines[engine.name]
        return generation.model_copy(
            update={
                "phase": Phase.WAIT,
                "wait_seconds": float(rules.poll_interval_seconds),
                "task_id": task_id,
                "submitted_at": generation.submitted_at or now,
                "deadline": now + rules.timeout_seconds,
            }
        )
    return generation.model_copy(update={"phase": Phase.DONE, "task_id": None})


def _moderated(generation: Generation, reason: str, now: float, image: ImageSource, config: EngineConfig) -> Generation:
    if generation.rephrased:
        return _next_engine(generation, Outcome.MODERATED, reason, now, image, config)
    return _submit(_rephrased(generation, config), now, image, config)


def _rephrased(generation: Generation, config: EngineConfig) -> Generation:
    """The generation ready to ask the same engine again, with the refused prompt reworded (once per engine)."""
    prompt = rephrased_for_moderation(generation.prompt, config)
    return generation.model_copy(update={"prompt": prompt, "rephrased": True, "task_id": None})


def _next_engine(
    generation: Generation,
    outcome: Outcome,
    reason: str | None,
    now: float,
    image: ImageSource,
    config: EngineConfig | None,
) -> Generation:
    return _submit(_dropped(generation, outcome, reason, now), now, image, config)


def _dropped(generation: Generation, outcome: Outcome, reason: str | None, now: float) -> Generation:
    """The generation without its current engine, that engine's attempt recorded; the next one starts afresh."""
    attempt = EngineAttempt(
        engine=generation.chain[0], outcome=outcome, reason=reason, seconds=_elapsed(generation, now)
    )
    return generation.model_copy(
        update={
            "chain": generation.chain[1:],
            "attempts": [*generation.attempts, attempt],
            "task_id": None,
            "submitted_at": None,
            "deadline": None,
            "rephrased": False,
            "waited_out_rate_limit": False,
            "video_url": None,
        }
    )


def _rate_limit_wait(exc: RateLimited) -> float:
    """The provider's Retry-After, at most MAX_RATE_LIMIT_WAIT_SECONDS (past that, the next engine is faster)."""
    return min(exc.retry_after_seconds, MAX_RATE_LIMIT_WAIT_SECONDS)


def _elapsed(generation: Generation, now: float) -> float:
    return round(now - generation.submitted_at, 3) if generation.submitted_at is not None else 0.0
