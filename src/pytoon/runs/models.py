"""What a production run is, as stored and as the API shows it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from pytoon.aws import keys
from pytoon.errors import PytoonError


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    AWAITING_IDEATION_APPROVAL = "awaiting_ideation_approval"
    AWAITING_VIDEO_GENERATION = "awaiting_video_generation"
    AWAITING_RENDER = "awaiting_render"
    AWAITING_PUBLISH_APPROVAL = "awaiting_publish_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.REJECTED)


class Gate(StrEnum):
    """The human approvals a run stops at."""

    IDEATION = "ideation"
    PUBLISH = "publish"

    @property
    def waiting_status(self) -> RunStatus:
        return RunStatus.AWAITING_IDEATION_APPROVAL if self is Gate.IDEATION else RunStatus.AWAITING_PUBLISH_APPROVAL


class RunNotFoundError(PytoonError):
    """No run with that id for this tenant (another tenant's run is indistinguishable from none)."""


class UnknownProjectError(PytoonError):
    """A project name that is not one of the repo's projects."""


class GateNotWaitingError(PytoonError):
    """An approval for a gate the run is not waiting at; the message names the run's status."""


class ClipArtifact(BaseModel):
    """One clip of a run: what was asked, which engine made it (or why it fell back to a designed card)."""

    index: int
    prompt: str
    caption: str
    seconds: float
    done: bool = False
    engine: str | None = None
    fallback_reason: str | None = None
    attempts: list[dict[str, Any]] = Field(default_factory=list)
    # The generated clip in storage, and the tenant upload the render job shows it from.
    clip_key: str | None = None
    asset_key: str | None = None


class GateDecision(BaseModel):
    approved: bool
    comment: str | None = None
    decided_by: str | None = None
    decided_at: str


class RenderArtifact(BaseModel):
    """The run's render: a V2 job of this service (`pytoon`), or a job of the Remotion render service."""

    job_id: str
    status: str | None = None
    renderer: Literal["pytoon", "remotion"] = "pytoon"
    # Why the run renders here although a Remotion service is configured.
    fallback_reason: str | None = None
    # Where a Remotion render's video is kept once fetched (a V2 job's is its output).
    video_key: str | None = None
    started_at: float | None = None

    @property
    def output_key(self) -> str:
        return self.video_key or keys.output_key(self.job_id)


class PublishArtifact(BaseModel):
    publisher: str
    state: str
    url: str | None = None
    request_id: str | None = None
    platforms: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None
    started_at: float


class RunArtifacts(BaseModel):
    ideas: dict[str, Any] | None = None
    ideas_text: str | None = None
    clips: list[ClipArtifact] = Field(default_factory=list)
    render: RenderArtifact | None = None
    published: PublishArtifact | None = None
    gates: dict[str, GateDecision] = Field(default_factory=dict)


class RunRecord(BaseModel):
    run_id: str
    tenant_id: str
    project: str
    brief: str
    status: RunStatus
    current_step: str | None = None
    artifacts: RunArtifacts = Field(default_factory=RunArtifacts)
    error: str | None = None
    created_at: str
    updated_at: str
