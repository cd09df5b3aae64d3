"""Response bodies of the V1 API (seed 000, with DESIGN §10's stances: s3:// URIs plus fetchable URLs)."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorBody(BaseModel):
    detail: str


class HealthBody(BaseModel):
    status: str
    version: str


class JobCreated(BaseModel):
    job_id: str
    status: str
    segments: int


class JobBody(BaseModel):
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
    error: str | None
    created_at: str
    updated_at: str


class SegmentBody(BaseModel):
    index: int
    status: str
    duration_seconds: float
    engine_used: str | None
    artifact_uri: str | None
    error: str | None


class SegmentsBody(BaseModel):
    job_id: str
    segments: list[SegmentBody]


class UploadBody(BaseModel):
    asset_id: str
    uri: str
    key: str
    url: str
    size: int
    category: str
    media: dict
