"""Publishing a production run's rendered video, behind one interface.

A publisher's `publish(request)` starts publishing and says how it went: `published` (with the post's URL),
`failed` (with a readable reason), or `pending` when the provider publishes in the background or asked us to
come back later. The state machine waits, then calls `poll(request, request_id)`, or `publish` again when a
pending result carries no request id. Nothing here waits on a provider.

`publisher_for(settings)` picks the publisher from the environment:

- the bucket publisher (the default): the MP4 is copied within the artifacts bucket to
  `published/{tenant_id}/{run_id}.mp4` and its presigned URL returned; published at once.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, Field

from pytoon.aws.storage import ArtifactStore, ObjectNotFoundError
from pytoon.config import Settings

PublishState = Literal["published", "pending", "failed"]

BUCKET_PUBLISHER = "bucket"
PUBLISHED_PREFIX = "published"


class PublishRequest(BaseModel):
    run_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    # The rendered MP4 in the artifacts bucket.
    video_key: str = Field(min_length=1)
    title: str
    caption: str = ""
    hashtags: list[str] = Field(default_factory=list)
    # Platform names as the publisher knows them: tiktok, instagram, youtube...
    targets: list[str] = Field(default_factory=list)


class PlatformOutcome(BaseModel):
    state: PublishState
    url: str | None = None
    reason: str | None = None


class PublishResult(BaseModel):
    state: PublishState
    publisher: str
    # The published video (the first platform's post when there are several).
    url: str | None = None
    # The provider's id of a publish still in progress, for `poll`.
    request_id: str | None = None
    reason: str | None = None
    platforms: dict[str, PlatformOutcome] = Field(default_factory=dict)
    # How long the provider asked us to wait before the next call (a 429's Retry-After), when it said.
    wait_seconds: int | None = None


class Publisher(Protocol):
    name: str

    def publish(self, request: PublishRequest) -> PublishResult:
        """Start publishing; never raises for what the provider answered (that is a `failed` result)."""
        ...

    def poll(self, request: PublishRequest, request_id: str) -> PublishResult:
        """How a `pending` publish is doing now, asked once."""
        ...


def published_key(tenant_id: str, run_id: str) -> str:
    """Where the bucket publisher puts a run's video (a URL for it can be signed again from this key)."""
    return f"{PUBLISHED_PREFIX}/{tenant_id}/{run_id}.mp4"


class BucketPublisher:
    """The embedded default: the video is copied to the bucket's published/ prefix and shared by presigned URL."""

    name = BUCKET_PUBLISHER

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def publish(self, request: PublishRequest) -> PublishResult:
        key = published_key(request.tenant_id, request.run_id)
        try:
            self.store.copy(request.video_key, key)
        except ObjectNotFoundError:
            return PublishResult(
                state="failed", publisher=self.name, reason=f"the rendered video {request.video_key} is not in storage"
            )
        return PublishResult(state="published", publisher=self.name, url=self.store.url(key))

    def poll(self, request: PublishRequest, request_id: str) -> PublishResult:
        # Nothing is ever pending here; asked anyway (a retried step), the copy is simply made again.
        return self.publish(request)


def publisher_for(settings: Settings) -> Publisher:
    return BucketPublisher(ArtifactStore.from_settings(settings))
