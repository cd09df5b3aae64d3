"""V2 job requests: a prompt plus ordered media, or a whole scene graph, resolved into a JobSpec.

Everything that can be known at submit is checked here, so a bad request is a 400 with its reason and never
a job that fails later: the preset, every media reference, the scene count against the length, every
caption that will be shown, and a supplied scene graph's schema and cross-field rules. The scene graph
itself is made when the job is planned (https media are fetched then, which is when their kind is known).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pytoon.errors import PytoonError
from pytoon.limits import (
    MAX_DURATION_SECONDS,
    MAX_MEDIA_PER_JOB,
    MAX_PROMPT_CHARS,
    MAX_SCENES,
    MAX_VOICE_SCRIPT_CHARS,
    MIN_DURATION_SECONDS,
)
from pytoon.models import AssetCategory, JobSpec, MediaKind, MediaRef, displayable
from pytoon.presets import get_preset
from pytoon.voice_track import voice_script_to_speak

if TYPE_CHECKING:
    from pytoon.scenes import SceneGraph

DEFAULT_PRESET = "product_hero_clean"
MAX_REFERENCE_CHARS = 2048
_MEDIA_CATEGORIES = (AssetCategory.IMAGE, AssetCategory.VIDEO)


class V2RequestError(PytoonError):
    """A V2 request that cannot become a job; the message says why."""


class V2JobRequest(BaseModel):
    """The `POST /api/v2/jobs` body."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="Required unless scene_graph is given"
    )
    media_files: list[str] = Field(
        default_factory=list,
        max_length=MAX_MEDIA_PER_JOB,
        description="This tenant's image or video uploads (s3:// URI or key), or https URLs; in scene order",
    )
    preset_id: str = Field(default=DEFAULT_PRESET, max_length=64)
    brand_safe: bool = True
    voice_script: str | None = Field(default=None, max_length=MAX_VOICE_SCRIPT_CHARS)
    music_source: str | None = Field(
        default=None, max_length=MAX_REFERENCE_CHARS, description="A music library name or an audio upload"
    )
    engine_override: Literal["runway", "pika", "luma", "local"] | None = None
    target_duration_seconds: int | None = Field(default=None, ge=MIN_DURATION_SECONDS, le=MAX_DURATION_SECONDS)
    max_scenes: int | None = Field(default=None, ge=1, le=MAX_SCENES)
    scene_graph: dict[str, Any] | None = Field(
        default=None, description="A whole scene graph (scene_graph_v2 schema), rendered as given"
    )

    _prompt_is_displayable = field_validator("prompt")(lambda text: displayable(text) if text else text)
    _reference_lengths = field_validator("media_files")(
        lambda items: [_short(item, "media_files entry") for item in items]
    )


def _short(text: str, what: str) -> str:
    if len(text) > MAX_REFERENCE_CHARS:
        raise ValueError(f"a {what} is at most {MAX_REFERENCE_CHARS} characters")
    return text


def is_url(reference: str) -> bool:
    return reference.lower().startswith(("https://", "http://"))


def _media_refs(references: list[str], tenant_id: str, settings: Any) -> list[MediaRef]:
    from pytoon.assets import resolve_assets
    from pytoon.media_fetch import check_media_url

    refs: list[MediaRef | None] = [None] * len(references)
    uploads: dict[str, tuple[AssetCategory, ...]] = {}
    for index, reference in enumerate(references):
        if is_url(reference):
            check_media_url(reference)
            refs[index] = MediaRef(url=reference)
        else:
            uploads[reference] = _MEDIA_CATEGORIES
    records = resolve_assets(tenant_id, uploads, settings) if uploads else {}
    for index, reference in enumerate(references):
        if refs[index] is None:
            record = records[reference]
            kind = MediaKind.VIDEO if record.category is AssetCategory.VIDEO else MediaKind.IMAGE
            refs[index] = MediaRef(key=record.key, kind=kind)
    return [ref for ref in refs if ref is not None]


def _music(source: str | None, tenant_id: str, settings: Any) -> tuple[str | None, str | None]:
    """(music upload key, music library name) of a music_source."""
    from pytoon.assets import resolve_asset_keys
    from pytoon.music import UnknownTrackError, library_key

    if not source:
        return None, None
    if source.startswith("s3://") or source.startswith("uploads/"):
        return resolve_asset_keys(tenant_id, {source: AssetCategory.AUDIO}, settings)[source], None
    try:
        return library_key(source), source
    except UnknownTrackError as exc:
        raise V2RequestError(f"music_source {exc}") from None


def graph_media(graph: SceneGraph) -> list[tuple[str, AssetCategory]]:
    """Every media reference of a scene graph with the category its place demands: each scene's media (a
    video scene's is a video) and each image overlay."""
    found = []
    for scene in graph.scenes:
        if scene.media.asset:
            category = AssetCategory.VIDEO if scene.media.type == "video" else AssetCategory.IMAGE
            found.append((scene.media.asset, category))
        found += [(o.asset, AssetCategory.IMAGE) for o in scene.overlays if o.type.value != "text"]
    return found


def replace_graph_media(graph: SceneGraph, replacements: dict[str, str]) -> SceneGraph:
    """The graph with each media reference in `replacements` replaced (a text overlay's words never are)."""
    scenes = []
    for scene in graph.scenes:
        asset = scene.media.asset
        media = scene.media.model_copy(update={"asset": replacements.get(asset, asset) if asset else asset})
        overlays = [
            o if o.type.value == "text" else o.model_copy(update={"asset": replacements.get(o.asset, o.asset)})
            for o in scene.overlays
        ]
        scenes.append(scene.model_copy(update={"media": media, "overlays": overlays}))
    return graph.model_copy(update={"scenes": scenes})


def _resolve_graph_assets(document: dict[str, Any], tenant_id: str, settings: Any) -> dict[str, Any]:
    """The supplied scene graph with each upload reference replaced by its stored key (https URLs stay,
    fetched when the job is planned); every reference must be this tenant's READY upload of the right kind."""
    from pytoon.assets import resolve_assets
    from pytoon.media_fetch import check_media_url
    from pytoon.scenes import parse_scene_graph

    graph = parse_scene_graph(document)
    wanted: dict[str, tuple[AssetCategory, ...]] = {}
    for reference, kind in graph_media(graph):
        if is_url(reference):
            check_media_url(reference)
        else:
            wanted[reference] = (*wanted.get(reference, ()), kind)
    records = resolve_assets(tenant_id, {ref: tuple(set(kinds)) for ref, kinds in wanted.items()}, settings)
    for reference, kinds in wanted.items():
        if len(set(kinds)) > 1:
            raise V2RequestError(f"{reference} is used both as {' and '.join(sorted(set(kinds)))}")
    keys = {reference: record.key for reference, record in records.items()}
    return replace_graph_media(graph, keys).document()


def _refuse_with_scene_graph(request: V2JobRequest) -> None:
    given = [
        name
        for name in ("prompt", "media_files", "target_duration_seconds", "max_scenes", "engine_override")
        if getattr(request, name)
    ]
    if given:
        raise V2RequestError(
            f"{', '.join(given)} cannot be combined with scene_graph: the scene graph states its scenes, "
            "media and durations"
        )


def resolve_v2_spec(request: V2JobRequest, *, job_id: str, tenant_id: str, settings: Any) -> JobSpec:
    """The job's spec, with every reference resolved and every rule that can be checked at submit checked."""
    from pytoon.content_rules import check_prompt
    from pytoon.scene_planner import v2_duration_seconds, v2_scene_count

    preset = get_preset(request.preset_id)
    music_key, music_name = _music(request.music_source, tenant_id, settings)
    common: dict[str, Any] = {
        "job_id": job_id,
        "tenant_id": tenant_id,
        "api_version": 2,
        "preset": preset,
        "archetype": preset.archetype,
        "brand_safe": request.brand_safe,
        "engine_policy": preset.engine_policy,
        "music_key": music_key,
        "music_name": music_name,
        "voice_script": voice_script_to_speak(request.voice_script, preset),
    }
    if request.scene_graph is not None:
        _refuse_with_scene_graph(request)
        document = _resolve_graph_assets(request.scene_graph, tenant_id, settings)
        seconds = max(MIN_DURATION_SECONDS, min(MAX_DURATION_SECONDS, round(_total_ms(document) / 1000)))
        return JobSpec(**common, target_duration_seconds=seconds, scene_graph=document)
    prompt = (request.prompt or "").strip()
    if not prompt:
        raise V2RequestError("prompt is required (and must not be empty) unless scene_graph is given")
    check_prompt(prompt)
    media = _media_refs(request.media_files, tenant_id, settings)
    count = v2_scene_count(prompt, len(media), request.max_scenes)
    return JobSpec(
        **common,
        prompt=prompt,
        target_duration_seconds=v2_duration_seconds(request.target_duration_seconds, count),
        media=media,
        max_scenes=request.max_scenes,
        engine_override=request.engine_override,
    )


def _total_ms(document: dict[str, Any]) -> int:
    return sum(scene["duration"] for scene in document["scenes"])


def check_captions(spec: JobSpec) -> int:
    """Plan the job as far as its timeline (media not fetched yet count as images) and check every scene
    caption it will show and every text overlay; returns the scene count. Raises V2RequestError naming the
    caption that cannot be shown."""
    from pytoon.caption_rules import text_problem
    from pytoon.chain import plan_scene_graph
    from pytoon.render.captions import caption_layout
    from pytoon.scene_planner import PlannedMedia
    from pytoon.timeline import build_timeline

    media = [PlannedMedia(key=ref.key or ref.url or "", kind=ref.kind or MediaKind.IMAGE) for ref in spec.media]
    graph = plan_scene_graph(spec, media).graph
    layout = caption_layout(spec.preset.caption_style)
    # With a voice script the captions are its sentences, checked with the script.
    scene_captions = [] if spec.voice_script else build_timeline(graph, spec).tracks.captions
    for cue in scene_captions:
        problem = text_problem(f"scene {cue.scene_id} caption {cue.text[:40]!r}", cue.text, layout)
        if problem:
            raise V2RequestError(problem)
    for scene in graph.scenes:
        for overlay in scene.overlays:
            if overlay.type.value == "text":
                try:
                    displayable(overlay.asset)
                except ValueError as exc:
                    raise V2RequestError(f"scene {scene.id} text overlay: {exc}") from exc
    return len(graph.scenes)
