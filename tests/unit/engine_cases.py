"""The four video-engine adapters as the unit tests see them: each engine once, with its fake and what tells the
engines apart where they share a contract (how the provider words a bad key or an unknown task, its endpoints, its
public address), so one test of that contract runs over all four."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from pytoon.local.fakes.luma_video import fake_luma_video
from pytoon.local.fakes.pika_video import fake_pika_video
from pytoon.local.fakes.runway_video import fake_runway_video
from pytoon.local.fakes.sora_video import fake_sora_video
from pytoon.video_engines import luma, pika, runway, sora
from pytoon.video_engines.base import ClipRequest, EngineAccess, TaskStatus, VideoEngine

# A task id no provider has given out.
UNKNOWN_TASK = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class EngineCase:
    """One engine: its adapter, its fake, and what the provider says and where it is served."""

    name: str
    engine: VideoEngine
    # `<PREFIX>_API_KEY`, `<PREFIX>_API_KEY_SECRET_ARN` and `<PREFIX>_BASE_URL` configure the engine.
    env_prefix: str
    # The variable that overrides the engine's model, if it has one.
    model_variable: str | None
    serve_fake: Callable[[], AbstractContextManager[Any]]
    # Where the fake serves the API (the engine's `<PREFIX>_BASE_URL`), and the tasks it has taken on.
    fake_api_url: Callable[[Any], str]
    fake_tasks: Callable[[Any], dict[str, Any]]
    public_api: str
    calls_back: bool
    durations: tuple[int, ...]
    # A key of the provider's shape that is not the fake's.
    other_key: str
    # What the provider's 401 says.
    bad_key_said: str
    # A server error as the fake is scripted to answer a submission: its status and message.
    server_error: tuple[int, str]
    # What the provider's 404 for UNKNOWN_TASK says.
    unknown_task_said: str
    # The endpoints under the API's base URL that a text-to-video submission and a status read of task `{}` call.
    submit_endpoint: str
    status_endpoint: str
    # The reads one status call makes once the task is finished (Pika reads the status, then the result).
    status_reads: tuple[str, ...] = ("status",)

    def clip(self) -> ClipRequest:
        """A text-to-video request of the engine's shortest duration."""
        return ClipRequest(prompt="A steel bottle turns slowly on a sunlit table", seconds=self.engine.durations[0])

    def configure(self, monkeypatch: pytest.MonkeyPatch, *, api_key: str | None, base_url: str | None) -> None:
        """The engine's key and base URL as given (None: not configured), never from a secret."""
        monkeypatch.delenv(f"{self.env_prefix}_API_KEY_SECRET_ARN", raising=False)
        for variable, value in ((f"{self.env_prefix}_API_KEY", api_key), (f"{self.env_prefix}_BASE_URL", base_url)):
            if value is None:
                monkeypatch.delenv(variable, raising=False)
            else:
                monkeypatch.setenv(variable, value)

    @contextmanager
    def configured_fake(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
        """The engine's fake, with the engine configured to reach it with its key and its default model."""
        with self.serve_fake() as server:
            self.configure(monkeypatch, api_key=server.api_key, base_url=self.fake_api_url(server))
            if self.model_variable is not None:
                monkeypatch.delenv(self.model_variable, raising=False)
            yield server

    def rate_limit_read(self, fake: Any, read: int, retry_after: str) -> None:
        """The `read`-th read (from 0, see `status_reads`) of the next status call is answered 429."""
        if read == 0:
            fake.rate_limit(retry_after=retry_after)
        else:  # only Pika's status call reads more than once, and only its fake lets reads through first
            fake.rate_limit(retry_after=retry_after, after=read)

    def finish(self, http: httpx.Client, access: EngineAccess, task_id: str, polls: int = 3) -> list[TaskStatus]:
        """The task's status read `polls` times (a fake's task ends on its third read unless scripted)."""
        return [self.engine.status(http, access, task_id) for _ in range(polls)]


LUMA = EngineCase(
    name="luma",
    engine=luma.ENGINE,
    env_prefix="LUMA",
    model_variable="LUMA_MODEL",
    serve_fake=fake_luma_video,
    fake_api_url=lambda fake: fake.api_url,
    fake_tasks=lambda fake: fake.generations,
    public_api="https://api.lumalabs.ai/dream-machine/v1",
    calls_back=True,
    durations=(5, 9),
    other_key="luma-set",
    bad_key_said="Invalid API key provided",
    server_error=(503, "Service temporarily unavailable"),
    unknown_task_said="Generation not found",
    submit_endpoint="/generations/video",
    status_endpoint="/generations/{}",
)
RUNWAY = EngineCase(
    name="runway",
    engine=runway.ENGINE,
    env_prefix="RUNWAY",
    model_variable="RUNWAY_MODEL",
    serve_fake=fake_runway_video,
    fake_api_url=lambda fake: fake.api_url,
    fake_tasks=lambda fake: fake.tasks,
    public_api="https://api.dev.runwayml.com/v1",
    calls_back=False,
    durations=(2, 3, 4, 5, 6, 7, 8, 9, 10),
    other_key="key_set",
    bad_key_said="Invalid API key",
    server_error=(503, "Service temporarily unavailable."),
    unknown_task_said="Task not found",
    submit_endpoint="/text_to_video",
    status_endpoint="/tasks/{}",
)
SORA = EngineCase(
    name="sora",
    engine=sora.ENGINE,
    env_prefix="OPENAI",
    model_variable="PYTOON_SORA_MODEL",
    serve_fake=fake_sora_video,
    fake_api_url=lambda fake: fake.api_url,
    fake_tasks=lambda fake: fake.videos,
    public_api="https://api.openai.com/v1",
    calls_back=True,
    durations=(4, 8, 12),
    other_key="sk-set",
    bad_key_said="invalid_api_key",
    server_error=(500, "The server had an error while processing your request."),
    unknown_task_said=f"Video with id '{UNKNOWN_TASK}' not found",
    submit_endpoint="/videos",
    status_endpoint="/videos/{}",
)
PIKA = EngineCase(
    name="pika",
    engine=pika.ENGINE,
    env_prefix="PIKA",
    model_variable=None,
    serve_fake=fake_pika_video,
    # fal's queue is served at the root: the fake's address is the API's.
    fake_api_url=lambda fake: fake.base_url,
    fake_tasks=lambda fake: fake.queued,
    public_api="https://queue.fal.run",
    calls_back=False,
    durations=(5, 10),
    other_key="id:secret",
    bad_key_said="No user found for Key ID and Secret",
    server_error=(503, "Service temporarily unavailable"),
    unknown_task_said=f"Request {UNKNOWN_TASK} not found",
    submit_endpoint="/fal-ai/pika/v2.2/text-to-video",
    status_endpoint="/fal-ai/pika/requests/{}/status",
    status_reads=("status", "result"),
)
CASES = (LUMA, RUNWAY, SORA, PIKA)
