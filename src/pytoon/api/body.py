"""Request bodies: a size limit per route counted as the bytes arrive, and a read timeout.

`BodyGuard` is plain ASGI middleware. A declared Content-Length over the limit is refused before any byte is
read; a body without one (chunked) is counted as it arrives and reading stops at the limit, so nothing past
it is buffered or spooled to disk. A client that stalls mid-body gets 408 and the request's worker is freed.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pytoon.limits import MAX_JSON_BODY_BYTES


def _size(limit: int) -> str:
    return f"{limit / 1_000_000:g} MB" if limit >= 1_000_000 else f"{limit / 1000:g} KB"


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int
    # What to do instead, for a client whose body is too large.
    advice: str = ""

    def message(self) -> str:
        return f"Request body over {_size(self.max_bytes)}, the limit for this route" + (
            f"; {self.advice}" if self.advice else ""
        )


class BodyTooLargeError(HTTPException):
    def __init__(self, limit: BodyLimit) -> None:
        super().__init__(status_code=413, detail=limit.message(), headers={"Connection": "close"})


class BodyReadTimeoutError(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            status_code=408,
            detail=f"Request body not received: nothing arrived for {seconds:g} s",
            headers={"Connection": "close"},
        )


class BodyGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        read_timeout_seconds: float,
        default: BodyLimit = BodyLimit(MAX_JSON_BODY_BYTES),
        by_path: dict[str, BodyLimit] | None = None,
    ) -> None:
        self.app = app
        self.read_timeout_seconds = read_timeout_seconds
        self.default = default
        self.by_path = by_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.by_path.get(scope["path"], self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit.max_bytes:
            await _refuse(BodyTooLargeError(limit), scope, receive, send)
            return

        received = 0
        complete = False
        refused: HTTPException | None = None
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, complete, refused
            if refused is not None:
                raise refused
            if complete:
                # The body is in; what follows (a disconnect) may take as long as it takes.
                return await receive()
            try:
                with anyio.fail_after(self.read_timeout_seconds):
                    message = await receive()
            except TimeoutError:
                refused = BodyReadTimeoutError(self.read_timeout_seconds)
                raise refused from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > limit.max_bytes:
                    refused = BodyTooLargeError(limit)
                    raise refused
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracked_send)
        except (BodyTooLargeError, BodyReadTimeoutError) as exc:
            # Normally the app's error handlers answer these; this covers code that reads the body outside them.
            if started:
                raise
            await _refuse(exc, scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _refuse(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    await response(scope, receive, send)
