"""Request and response bodies of the V1 API: s3:// URIs plus fetchable URLs, and the error bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pytoon.limits import MAX_BRIEF_CHARS, MAX_COMMENT_CHARS
from pytoon.models import AssetCategory


class ResponseBody(BaseModel):
    """A body the API answers with (errors included), built on first use. FastAPI builds, at import, a validator
    for each route's field of a built model: one per response model and per error status each route documents,
    where a request needs its own route's and only /openapi.json the error bodies'. Request bodies stay built
    at import: FastAPI builds their fields under its own warning filter, which a deferred build would miss."""

    model_config = ConfigDict(defer_build=True)


class ErrorBody(ResponseBody):
    detail: str


class ValidationIssue(ResponseBody):
    """One invalid value: where it is (`loc`), what is wrong (`msg`, `type`), the rule's parameters (`ctx`)."""

    type: str
    loc: list[str | int]
    msg: str
    ctx: dict[str, Any] | None = None


class ValidationErrorBody(ResponseBody):
    detail: list[ValidationIssue]


class HealthBody(ResponseBody):
    status: str
    version: str


class JobCreated(ResponseBody):
    job_id: str
    status: str
    segments: int


class VoiceoverBody(ResponseBody):
    provider: str = Field(description="Who spoke the voice script: openai, elevenlabs or espeak (offline)")
    duration_seconds: float
    fallback_reason: str | None = Field(description="Why providers before it did not speak it")
    video_follows_voice: str | None = Field(description="Set when the voice made the video longer than requested")
    uri: str
    url: str = Field(description="The voiceover alone (WAV), as mixed under the video")


class JobBody(ResponseBody):
    job_id: str
    status: str
    archetype: str
    preset_id: str
    target_duration_seconds: int
    progress_pct: float
    output_uri: str | None
    thumbnail_uri: str | None
    metadata_uri: str | None
    captions_uri: str | None
    output_url: str | None
    thumbnail_url: str | None
    metadata_url: str | None
    captions_url: str | None
    fallback_used: bool
    fallback_reason: str | None
    voiceover: VoiceoverBody | None
    error: str | None
    created_at: str
    updated_at: str


class V2JobCreated(ResponseBody):
    job_id: str
    status: str
    scene_count: int


class V2SceneBody(ResponseBody):
    scene_id: int
    status: str
    description: str | None
    media_type: str | None
    engine_used: str | None
    fallback_used: bool
    fallback_reason: str | None
    render_duration_ms: int | None


class V2JobBody(ResponseBody):
    job_id: str
    version: int
    status: str
    preset_id: str
    progress_pct: float
    scene_count: int
    scenes: list[V2SceneBody]
    output_uri: str | None
    thumbnail_uri: str | None
    captions_uri: str | None
    metadata_uri: str | None
    output_url: str | None
    thumbnail_url: str | None
    captions_url: str | None
    metadata_url: str | None
    planner: str | None
    planner_fallback_reason: str | None
    fallback_used: bool
    fallback_reason: str | None
    voiceover: VoiceoverBody | None
    error: str | None
    created_at: str
    updated_at: str


class SegmentBody(ResponseBody):
    index: int
    status: str
    duration_seconds: float
    engine_used: str | None
    artifact_uri: str | None
    error: str | None


class SegmentsBody(ResponseBody):
    job_id: str
    segments: list[SegmentBody]


class UploadBody(ResponseBody):
    asset_id: str
    uri: str
    key: str
    url: str
    size: int
    category: str
    media: dict


class RateLimitBody(ResponseBody):
    detail: str
    retry_after_seconds: int


class PresignedUploadRequest(BaseModel):
    category: AssetCategory = AssetCategory.IMAGE
    filename: str = Field(min_length=1, max_length=255)
    content_type: str


class PresignedUploadBody(ResponseBody):
    asset_id: str
    key: str
    uri: str
    status: str
    upload_url: str
    upload_fields: dict[str, str]
    max_bytes: int
    status_url: str


class AssetBody(ResponseBody):
    asset_id: str
    status: str
    category: str
    key: str
    uri: str
    url: str | None
    size: int | None
    media: dict | None
    reason: str | None
    created_at: str
    updated_at: str


class CreateKeyRequest(BaseModel):
    tenant_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    rate_limit_per_minute: int = Field(default=60, ge=1, le=100_000)


class ApiKeyBody(ResponseBody):
    key_id: str
    tenant_id: str
    rate_limit_per_minute: int
    revoked: bool
    created_at: str
    revoked_at: str | None = None


class CreatedKeyBody(ApiKeyBody):
    api_key: str


class MusicTrackBody(ResponseBody):
    name: str = Field(description="What to pass as a V2 job's music_source")
    mood: str
    bpm: int
    duration_seconds: float = Field(description="One pass of the loop; a longer video repeats it seamlessly")


class MusicLibraryBody(ResponseBody):
    tracks: list[MusicTrackBody]


# --- production runs ---------------------------------------------------------------------------------------


class RunStartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = Field(min_length=1, max_length=64, description="aismr, motivational, product_launch, ...")
    brief: str = Field(min_length=1, max_length=MAX_BRIEF_CHARS, description="What the video should be about")


class RunCreated(ResponseBody):
    run_id: str
    status: str


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gate: Literal["ideation", "publish"]
    approved: bool
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)


class RunClipBody(ResponseBody):
    index: int
    prompt: str
    caption: str
    seconds: float
    done: bool
    engine: str | None = Field(description="The engine that made the clip; local_ffmpeg for a designed card")
    fallback_reason: str | None
    url: str | None = Field(description="The generated clip (none for a designed card)")


class RunRenderBody(ResponseBody):
    job_id: str = Field(description="The V2 render job (GET /api/v2/jobs/{job_id}), or the Remotion service's job")
    status: str | None
    renderer: Literal["pytoon", "remotion"]
    fallback_reason: str | None = Field(description="Why the run rendered here although Remotion is configured")
    output_url: str | None
    thumbnail_url: str | None


class RunPublishedBody(ResponseBody):
    publisher: str
    state: str
    url: str | None
    platforms: dict[str, Any]
    reason: str | None


class GateDecisionBody(ResponseBody):
    approved: bool
    comment: str | None
    decided_at: str


class RunArtifactsBody(ResponseBody):
    ideas: dict[str, Any] | None = Field(description="Title, hook, per-clip prompts and captions, hashtags")
    ideas_text: str | None = Field(description="The same ideas, written for a reviewer")
    clips: list[RunClipBody]
    render: RunRenderBody | None
    published: RunPublishedBody | None
    gates: dict[str, GateDecisionBody]


class RunBody(ResponseBody):
    run_id: str
    project: str
    brief: str
    status: str
    current_step: str | None
    artifacts: RunArtifactsBody
    error: str | None
    created_at: str
    updated_at: str


class RunListBody(ResponseBody):
    runs: list[RunBody]
