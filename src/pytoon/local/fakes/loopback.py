"""A real HTTP server on 127.0.0.1 in a thread, for the fakes of provider APIs: every request is recorded
(raw body included) and answered by the fake's `respond`.

    class FakeThing(LoopbackFake):
        def respond(self, request: ReceivedRequest) -> Reply:
            return Reply.json(200, {"id": "task-1"})

    with serve(FakeThing(), name="fake-thing") as fake:
        fake.base_url             # http://127.0.0.1:<port>
        fake.requests[0].json     # what the client sent

`self.stopping` is set when the server stops, so a fake that delays an answer (`self.stopping.wait(s)`) lets a
test end at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    raw: bytes

    @property
    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.raw) if self.raw else None
        except ValueError:
            return None

    def form(self) -> dict[str, tuple[str | None, bytes]]:
        """A multipart/form-data body: field name → (file name or None, bytes). Empty for any other body."""
        content_type = self.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return {}
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + self.raw
        )
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
        return fields


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(document).encode(), "application/json", headers or {})


class LoopbackFake:
    """What a fake shares: its address once served, the requests it received, the stop signal."""

    def __init__(self) -> None:
        self.base_url = ""
        self.requests: list[ReceivedRequest] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def respond(self, request: ReceivedRequest) -> Reply:
        raise NotImplementedError

    def received(self, method: str, path_prefix: str = "") -> list[ReceivedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]


def _handler(fake: LoopbackFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            url = urlsplit(self.path)
            request = ReceivedRequest(
                method=self.command,
                path=url.path,
                query={name: values[-1] for name, values in parse_qs(url.query).items()},
                headers={name.lower(): value for name, value in self.headers.items()},
                raw=raw,
            )
            with fake.lock:
                fake.requests.append(request)
            reply = fake.respond(request)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timed-out request)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            pass

    return Handler


Fake = TypeVar("Fake", bound=LoopbackFake)


@contextmanager
def serve(fake: Fake, *, name: str) -> Iterator[Fake]:
    """Serve `fake` on a free 127.0.0.1 port (setting its `base_url`) until the block ends; yields it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll interval: stopping the fake (once per test) waits for one poll.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
