"""Which engine renders a segment, under the job's engine policy.

Only `local_ffmpeg` exists today; the external engines (Runway, Pika, Luma, OpenAI video, Remotion) arrive
with the V2 scene-graph work behind this same choice. Until one is configured, a policy that requires an
external engine falls back to the local renderer, and the fallback is recorded on the segment and the job.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytoon.models import EnginePolicy

LOCAL_ENGINE = "local_ffmpeg"
# Names of the external engines that are configured (none yet).
CONFIGURED_EXTERNAL_ENGINES: tuple[str, ...] = ()


@dataclass(frozen=True)
class EngineChoice:
    engine: str
    fallback_reason: str | None = None


def choose_engine(policy: EnginePolicy) -> EngineChoice:
    if policy is EnginePolicy.API_ONLY:
        if CONFIGURED_EXTERNAL_ENGINES:
            return EngineChoice(CONFIGURED_EXTERNAL_ENGINES[0])
        return EngineChoice(
            LOCAL_ENGINE, "engine_policy api_only, but no external video engine is configured: rendered locally"
        )
    # local_only and local_preferred: the local renderer is always available.
    return EngineChoice(LOCAL_ENGINE)
