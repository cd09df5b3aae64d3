"""The chain every job goes through, whatever surface created it:
JobSpec → SceneGraph → Timeline → RenderPlan.

V1 jobs make their scene graph from their images and preset, V2 jobs from their prompt and media (or take
the one they supplied). Everything after the scene graph is the same code for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pytoon.engines import choose_engine, choose_scene_engine
from pytoon.models import FPS, CaptionCue, JobSpec, RenderPlan
from pytoon.planner import build_plan, caption_at_starts, segment_frame_counts, v1_caption_cues
from pytoon.scene_planner import (
    PlannedMedia,
    durations_ms,
    fit_frames,
    generated_media,
    v1_scene_graph,
    v2_scene_graph,
)
from pytoon.scenes import Scene, SceneGraph, SceneMedia
from pytoon.timeline import Timeline, build_timeline
from pytoon.voice_track import voice_caption_cues


class PlannerKind(StrEnum):
    V1 = "v1_rules"
    RULES = "rules"
    LLM = "llm"
    SUPPLIED = "supplied"


@dataclass(frozen=True)
class PlannedJob:
    scene_graph: SceneGraph
    timeline: Timeline
    plan: RenderPlan
    planner: PlannerKind


@dataclass(frozen=True)
class PlannedGraph:
    graph: SceneGraph
    planner: PlannerKind
    # Why a configured LLM planner's answer was not used (the rules planned the job instead).
    planner_fallback_reason: str | None = None


def plan_scene_graph(spec: JobSpec, media: Sequence[PlannedMedia], *, use_llm: bool = False) -> PlannedGraph:
    """The job's scene graph. With `use_llm` and an LLM planner configured, it is asked first; anything it
    gets wrong falls back to the rule planner, with the reason."""
    if spec.api_version == 1:
        cues = job_caption_cues(spec) or []
        counts = segment_frame_counts(spec.target_duration_seconds * FPS, len(spec.image_keys))
        return PlannedGraph(v1_scene_graph(spec, caption_at_starts(cues, counts)), PlannerKind.V1)
    rules = v2_scene_graph(spec, media)
    if spec.scene_graph is not None:
        return PlannedGraph(rules, PlannerKind.SUPPLIED)
    if not use_llm:
        return PlannedGraph(rules, PlannerKind.RULES)
    from pytoon.llm_planner import LlmPlannerError, llm_planner_config

    try:
        config = llm_planner_config()
        if config is None:
            return PlannedGraph(rules, PlannerKind.RULES)
        return PlannedGraph(_ask_llm(spec, media, rules, config), PlannerKind.LLM)
    except (LlmPlannerError, ValueError) as exc:
        return PlannedGraph(rules, PlannerKind.RULES, getattr(exc, "reason", None) or f"LLM planner not used: {exc}")


def _ask_llm(spec: JobSpec, media: Sequence[PlannedMedia], rules: SceneGraph, config: object) -> SceneGraph:
    from pytoon.llm_planner import LlmPlanRequest, PlanMedia, plan_with_llm

    unique = list({item.key: item for item in media}.values())
    request = LlmPlanRequest(
        prompt=spec.prompt,
        brand_safe=spec.brand_safe,
        preset_id=spec.preset.id,
        media=tuple(PlanMedia(key=item.key, kind=item.kind) for item in unique),
        total_ms=spec.target_duration_seconds * 1000,
        scene_count=len(rules.scenes),
        scene_texts=tuple(scene.caption for scene in rules.scenes),
    )
    graph = plan_with_llm(request, config)  # type: ignore[arg-type]
    # The model's durations are proportions: fitted to the job's exact frames.
    frame_counts = fit_frames([scene.duration for scene in graph.scenes], spec.target_duration_seconds * FPS)
    # The model plans no engines (the job decides them): a scene it left without media is generated, as the
    # rule planner's are, when the job asks for an engine.
    scenes = [
        scene.model_copy(update={"duration": duration, "media": _with_engine(spec, scene)})
        for scene, duration in zip(graph.scenes, durations_ms(frame_counts), strict=True)
    ]
    return graph.model_copy(update={"scenes": scenes, "global_audio": rules.global_audio})


def _with_engine(spec: JobSpec, scene: Scene) -> SceneMedia:
    if scene.media.asset:
        return scene.media
    return generated_media(spec, scene.caption or scene.description) or scene.media


def plan_render(spec: JobSpec, graph: SceneGraph) -> tuple[Timeline, RenderPlan]:
    """The timeline of a job's scene graph and the frame-exact render plan of that timeline."""
    if spec.api_version == 1:
        engines = [choose_engine(spec.engine_policy)] * len(graph.scenes)
    else:
        engines = [choose_scene_engine(scene, spec) for scene in graph.scenes]
    timeline = build_timeline(graph, spec, job_caption_cues(spec))
    prompts = [scene.media.prompt or scene.description for scene in graph.scenes]
    return timeline, build_plan(spec, timeline, engines, prompts)


def job_caption_cues(spec: JobSpec) -> list[CaptionCue] | None:
    """Cues over the whole video, or None for one set per scene (a V2 job without a voice): a spoken voice's
    sentences as they are heard, else a V1 job's captions."""
    if spec.voice is not None:
        return voice_caption_cues(spec.voice)
    return v1_caption_cues(spec) if spec.api_version == 1 else None


def plan_documents(spec: JobSpec, media: Sequence[PlannedMedia] = ()) -> PlannedJob:
    """The scene graph, timeline and render plan of a job whose media are resolved to stored keys."""
    planned = plan_scene_graph(spec, media)
    timeline, plan = plan_render(spec, planned.graph)
    return PlannedJob(planned.graph, timeline, plan, planned.planner)
