"""What a production run is, as stored and as the API shows it."""

from __future__ import annotations

from enum import StrEnum

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
