"""The scene graph: what a video shows, scene by scene, as typed models that serialize to the stored schema.

Every job has one, whatever surface created it: the V2 planner makes it from a prompt and media, a V1 job
from its images and preset, and a V2 caller may supply one whole. `parse_scene_graph` checks a document
against the JSON Schema (`pytoon/schemas/scene_graph_v2.json`) and the cross-field rules a schema cannot
express, and lists every violation at once.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pytoon.errors import PytoonError
from pytoon.limits import MAX_DURATION_SECONDS, MAX_SCENES, MIN_SCENE_MS
from pytoon.models import OverlayKind, OverlayPosition, TransitionKind

if TYPE_CHECKING:
    from jsonschema import Draft7Validator

MAX_TOTAL_MS = MAX_DURATION_SECONDS * 1000
SceneEngineName = Literal["runway", "pika", "luma", "local"]
SceneEffect = Literal["ken_burns_zoom", "ken_burns_pan", "slow_zoom_in", "slow_zoom_out", "static"]


class SceneGraphError(PytoonError):
    """A scene graph or timeline that breaks its schema or the cross-field rules; `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid scene graph: " + "; ".join(problems))


class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class SceneMedia(_Document):
    type: Literal["image", "video"]
    # An upload key (`uploads/…`), a job's fetched media key, or an https URL not fetched yet.
    asset: str | None = None
    engine: SceneEngineName | None = None
    prompt: str | None = None
    effect: SceneEffect | None = None


class SceneStyle(_Document):
    mood: str | None = None
    camera_motion: str | None = None
    lighting: str | None = None


class SceneOverlay(_Document):
    type: OverlayKind
    # An image upload for product_image, logo and graphic; the words themselves for text.
    asset: str
    position: OverlayPosition = "center"
    scale: float = Field(default=1.0, ge=0.01, le=2.0)
    opacity: float = Field(default=1.0, ge=0.0, le=1.0)
    # The overlay's centre as fractions of the frame, for position `custom`.
    x: float | None = Field(default=None, ge=0.0, le=1.0)
    y: float | None = Field(default=None, ge=0.0, le=1.0)


class Scene(_Document):
    id: int = Field(ge=1)
    description: str = Field(min_length=1)
    duration: int = Field(ge=MIN_SCENE_MS, le=MAX_TOTAL_MS, description="milliseconds")
    media: SceneMedia
    caption: str
    audio: str | None = None
    style: SceneStyle | None = None
    overlays: list[SceneOverlay] = Field(default_factory=list)
    # Into the next scene; ignored on the last.
    transition: TransitionKind = TransitionKind.FADE


class GlobalAudio(_Document):
    voice_script: str | None = Field(default=None, alias="voiceScript")
    voice_file: str | None = Field(default=None, alias="voiceFile")
    background_music: str | None = Field(default=None, alias="backgroundMusic")


class SceneGraph(_Document):
    version: Literal["2.0"] = "2.0"
    scenes: list[Scene] = Field(min_length=1, max_length=MAX_SCENES)
    global_audio: GlobalAudio | None = Field(default=None, alias="globalAudio")

    @property
    def total_ms(self) -> int:
        return sum(scene.duration for scene in self.scenes)

    def document(self) -> dict[str, Any]:
        """The stored JSON form (camelCase keys, as the schema names them)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


@cache
def schema_validator(name: str) -> Draft7Validator:
    """The validator of one stored document's JSON Schema (`scene_graph_v2`, `timeline_v2`)."""
    # Imported here: every CLI command imports this module, and only validating needs jsonschema (~50 ms).
    from jsonschema import Draft7Validator

    schema = json.loads(resources.files("pytoon.schemas").joinpath(f"{name}.json").read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def schema_problems(document: Any, name: str) -> list[str]:
    errors = sorted(schema_validator(name).iter_errors(document), key=lambda e: [str(p) for p in e.path])
    return [f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors]


def cross_field_problems(graph: SceneGraph) -> list[str]:
    problems = []
    ids = [scene.id for scene in graph.scenes]
    if len(set(ids)) != len(ids):
        problems.append(f"scene ids must be unique: {sorted({i for i in ids if ids.count(i) > 1})} repeat")
    if graph.total_ms > MAX_TOTAL_MS:
        problems.append(f"scene durations add up to {graph.total_ms} ms, more than {MAX_TOTAL_MS} ms")
    for index, scene in enumerate(graph.scenes):
        where = f"scenes/{index}"
        if scene.media.engine not in (None, "local") and not (scene.media.prompt or "").strip():
            problems.append(f"{where}/media: engine {scene.media.engine} needs a prompt")
        if scene.media.type == "video" and not (scene.media.asset or scene.media.engine or scene.media.prompt):
            problems.append(f"{where}/media: a video scene needs an asset, an engine or a prompt")
        for n, overlay in enumerate(scene.overlays):
            if overlay.position == "custom" and (overlay.x is None or overlay.y is None):
                problems.append(f"{where}/overlays/{n}: position custom needs x and y (fractions of the frame)")
            if overlay.type is OverlayKind.TEXT and not overlay.asset.strip():
                problems.append(f"{where}/overlays/{n}: a text overlay needs its words in asset")
    return problems


def parse_scene_graph(document: Any) -> SceneGraph:
    """The typed scene graph of a document, or SceneGraphError listing every schema and cross-field problem."""
    problems = schema_problems(document, "scene_graph_v2")
    if problems:
        raise SceneGraphError(problems)
    graph = SceneGraph.model_validate(document)
    problems = cross_field_problems(graph)
    if problems:
        raise SceneGraphError(problems)
    return graph
