"""Embedded AWS answering its own process's clients without HTTP.

Every AWS call the CLI, the API and the functions make in local mode goes to embedded AWS, which runs in the
same process. Over HTTP each call costs a socket round trip, a server thread, and parsing on both sides (about
4 of its 6 ms); handed to the same WSGI application directly, the request is served by the same code with
the same effects (DynamoDB's one-at-a-time writes, job change signals). Only requests addressed to embedded
AWS's own endpoint are answered here; clients elsewhere (the AWS CLI, a browser using a presigned URL) reach
it over HTTP as before.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


class _Body(io.BytesIO):
    """A response body as botocore reads one: whole (`stream`) or in parts (`read`)."""

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self.getvalue()


def _wsgi_string(text: str) -> str:
    # WSGI carries text as latin-1 code points of its UTF-8 bytes, as an HTTP server decodes the request line.
    return text.encode("utf-8").decode("latin-1")


def _request_body(request: AWSPreparedRequest) -> bytes:
    body = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return body.read()  # a file or botocore's stream wrappers; botocore rewinds it if the call is retried


class DirectRequests:
    """A botocore before-send handler answering requests for `port` on a loopback host with `app`."""

    def __init__(self, app: WsgiApp, port: int) -> None:
        self._app = app
        self._port = port

    def __call__(self, request: AWSPreparedRequest) -> AWSResponse | None:
        url = urlsplit(request.url)
        if url.port != self._port or url.hostname not in LOOPBACK_NAMES:
            return None
        body = _request_body(request)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": _wsgi_string(unquote(url.path or "/")),
            "QUERY_STRING": _wsgi_string(url.query),
            "RAW_URI": _wsgi_string(url.path + (f"?{url.query}" if url.query else "")),
            "SERVER_NAME": url.hostname,
            "SERVER_PORT": str(self._port),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_HOST": url.netloc,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in request.headers.items():
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ[key] = text
            elif key not in ("CONTENT_LENGTH", "HOST"):
                environ[f"HTTP_{key}"] = text
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            answer["status"], answer["headers"] = int(status.split(" ", 1)[0]), headers

        chunks = self._app(environ, start_response)
        try:
            content = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return AWSResponse(request.url, answer["status"], dict(answer["headers"]), _Body(content))
