"""One Logger and Tracer for every function, created once per process.

Metrics go through `pytoon.aws.metrics.MetricsStore`, which keeps the DynamoDB counters behind /metrics and
emits the same facts as CloudWatch EMF (Powertools single_metric, one dimension set per label set).
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

SERVICE = "pytoon"
_TRUE = ("1", "true", "yes", "on")


class _UntracedSegment(BaseSegment):
    """A segment that records nothing."""

    def close(self, end_time: int | None = None) -> None: ...

    def add_subsegment(self, subsegment: Any) -> None: ...

    def remove_subsegment(self, subsegment: Any) -> None: ...

    def put_annotation(self, key: str, value: Any) -> None: ...

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None: ...


class _Untraced(BaseProvider):
    """The tracing provider where nothing is traced (outside Lambda, or tracing turned off)."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _UntracedSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncGenerator[BaseSegment, None]:
        yield _UntracedSegment()

    def put_annotation(self, key: str, value: Any) -> None: ...

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...

    def patch(self, modules: Sequence[str]) -> None: ...

    def patch_all(self) -> None: ...


def tracing_enabled() -> bool:
    """X-Ray traces only in Lambda itself (not under `sam local`), unless POWERTOOLS_TRACE_DISABLED says not to."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in _TRUE:
        return False
    return bool(os.environ.get("LAMBDA_TASK_ROOT")) and os.environ.get("AWS_SAM_LOCAL", "").lower() not in _TRUE


def _tracer() -> Tracer:
    if not tracing_enabled():
        # Powertools would still build its disabled X-Ray recorder, whose import creates a botocore client
        # (about 0.6 s of CPU in every local process) only to trace nothing.
        return Tracer(service=SERVICE, disabled=True, provider=_Untraced())
    # botocore is the only library these functions call out through that X-Ray can trace; patching every
    # supported library (the default) imports each of them at every cold start. It is patched once
    # botocore.session (which every client is made through, and which imports botocore.client whole) is imported,
    # or at once if it already is: a process pays for botocore when it first calls AWS, not at import.
    import wrapt  # the X-Ray SDK's own dependency: its post-import hooks

    tracer = Tracer(service=SERVICE, auto_patch=False)
    wrapt.when_imported("botocore.session")(lambda _module: tracer.patch(["botocore"]))
    return tracer


logger = Logger(service=SERVICE)
tracer = _tracer()
