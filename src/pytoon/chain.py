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
from pytoon.models import FPS, JobSpec, RenderPlan
from pytoon.planner import build_plan, caption_at_starts, segment_frame_counts, v1_caption_cues
from pytoon.scene_planner import PlannedMedia, v1_scene_graph, v2_scene_graph
from pytoon.scenes import SceneGraph
from pytoon.timeline import Timeline, build_timeline


class PlannerKind(StrEnum):
    V1 = "v1_rules"
    RULES = "rules"
    SUPPLIED = "supplied"


@dataclass(frozen=True)
class PlannedJob:
    scene_graph: SceneGraph
    timeline: Timeline
    plan: RenderPlan
    planner: PlannerKind


def plan_scene_graph(spec: JobSpec, media: Sequence[PlannedMedia]) -> tuple[SceneGraph, PlannerKind]:
    if spec.api_version == 1:
        cues = v1_caption_cues(spec)
        counts = segment_frame_counts(spec.target_duration_seconds * FPS, len(spec.image_keys))
        return v1_scene_graph(spec, caption_at_starts(cues, counts)), PlannerKind.V1
    if spec.scene_graph is not None:
        return v2_scene_graph(spec, media), PlannerKind.SUPPLIED
    return v2_scene_graph(spec, media), PlannerKind.RULES


def plan_render(spec: JobSpec, graph: SceneGraph) -> tuple[Timeline, RenderPlan]:
    """The timeline of a job's scene graph and the frame-exact render plan of that timeline."""
    if spec.api_version == 1:
        engines = [choose_engine(spec.engine_policy)] * len(graph.scenes)
        timeline = build_timeline(graph, spec, v1_caption_cues(spec))
    else:
        engines = [choose_scene_engine(scene) for scene in graph.scenes]
        timeline = build_timeline(graph, spec)
    return timeline, build_plan(spec, timeline, engines)


def plan_documents(spec: JobSpec, media: Sequence[PlannedMedia] = ()) -> PlannedJob:
    """The scene graph, timeline and render plan of a job whose media are resolved to stored keys."""
    graph, planner = plan_scene_graph(spec, media)
    timeline, plan = plan_render(spec, graph)
    return PlannedJob(graph, timeline, plan, planner)
