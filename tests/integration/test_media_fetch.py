"""Media URLs fetched over real TLS from a server on loopback: the guard refuses it by default; with the
test-only allowance the fetch works, sends the URL's name as SNI and Host while connecting to the checked
address, cuts bodies off at the limit mid-stream, re-checks every redirect and refuses what is not media."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from PIL import Image

from pytoon.limits import MAX_UPLOAD_BYTES
from pytoon.media_fetch import FetchedMedia, MediaFetchError, MediaUrlError, fetch_media
from pytoon.models import AssetCategory
from tests.fakes.media_server import HOST, LoopbackResolver, MediaServer, body, media_server, redirect
from tests.media import make_test_clip

pytestmark = pytest.mark.integration

CHUNK = 64 * 1024


@dataclass
class Endless:
    """A route sending zeros (one byte per `pause`, or as fast as it can) until the client goes away."""

    pause: float = 0.0
    declared: str | None = None  # a Content-Length to claim
    streamed: int = 0  # bytes it managed to send
    finished: threading.Event = field(default_factory=threading.Event)

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        if self.declared:
            handler.send_header("Content-Length", self.declared)
        handler.end_headers()
        chunk = b"\0" * (1 if self.pause else CHUNK)
        try:
            while self.streamed < 10 * MAX_UPLOAD_BYTES:
                handler.wfile.write(chunk)
                handler.wfile.flush()
                self.streamed += len(chunk)
                if self.pause:
                    time.sleep(self.pause)
        except OSError:
            pass  # the client stopped reading and closed the connection
        finally:
            self.finished.set()


ENDLESS = {
    "declared": Endless(declared=str(MAX_UPLOAD_BYTES + 1)),
    "endless": Endless(),
    "trickle": Endless(pause=0.05),
}


def _image_bytes(kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format=kind)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    clip = make_test_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=1, fps=10, size=(96, 64))
    png = _image_bytes()
    routes = {
        "/photo.png": body("image/png", png),
        "/clip.mp4": body("video/mp4; charset=binary", clip.read_bytes()),
        "/mislabelled.png": body("image/png", _image_bytes("JPEG")),
        "/page.html": body("text/html", b"<html>hello</html>"),
        "/fake.png": body("image/png", b"<html>not a picture</html>"),
        "/squeezed.png": body("image/png", png, Content_Encoding="gzip"),
        "/declared-huge.png": ENDLESS["declared"],
        "/endless.png": ENDLESS["endless"],
        "/trickle.png": ENDLESS["trickle"],
        "/hop": redirect("/photo.png"),
        "/loop": redirect("/loop"),
        "/to-private": redirect("https://10.0.0.1/photo.png"),
        "/to-http": redirect(f"http://{HOST}/photo.png"),
    }
    with media_server(routes) as state:
        # A name the resolver maps to the cloud metadata address (the port is only known now).
        routes["/to-metadata-name"] = redirect(f"https://metadata-alias.example:{state.port}/photo.png")
        yield state


def _resolver() -> LoopbackResolver:
    """HOST on loopback, and a second name on the cloud metadata address."""
    return LoopbackResolver({"metadata-alias.example": ["169.254.169.254"]})


def _fetch(server: MediaServer, path: str, dest: Path, resolver: LoopbackResolver | None = None) -> FetchedMedia:
    return fetch_media(
        server.url(path), dest, resolver=resolver or _resolver(), allow_loopback=True,
        ssl_context=server.client_context,
    )  # fmt: skip


def test_loopback_is_refused_by_default(server: MediaServer, tmp_path: Path) -> None:
    before = len(server.requests)
    with pytest.raises(MediaUrlError, match="loopback"):
        fetch_media(f"https://127.0.0.1:{server.port}/photo.png", tmp_path, ssl_context=server.client_context)
    resolver = _resolver()
    with pytest.raises(MediaFetchError, match=f"{HOST} resolves to a loopback address"):
        fetch_media(server.url("/photo.png"), tmp_path, resolver=resolver, ssl_context=server.client_context)
    assert resolver.calls == [HOST]
    assert len(server.requests) == before  # nothing reached the server
    assert list(tmp_path.iterdir()) == []


def test_with_the_allowance_an_image_and_a_clip_are_fetched_and_validated(server: MediaServer, tmp_path: Path) -> None:
    resolver = _resolver()
    image = _fetch(server, "/photo.png", tmp_path, resolver)
    assert (image.category, image.content_type, image.size) == (AssetCategory.IMAGE, "image/png", len(_image_bytes()))
    assert image.facts.model_dump(exclude_none=True) == {"type": "png", "width": 64, "height": 48, "has_alpha": False}
    assert image.path.read_bytes() == _image_bytes() and image.path.parent == tmp_path
    assert image.path.suffix == ".png"
    # One lookup, through the injected resolver: the connection went to the address it returned (the system
    # resolver knows no such name), while TLS and HTTP named the URL's host.
    assert resolver.calls == [HOST]
    assert server.requests[-1] == ("/photo.png", f"{HOST}:{server.port}")
    assert server.sni[-1] == HOST

    clip = _fetch(server, "/clip.mp4", tmp_path)
    assert (clip.category, clip.content_type, clip.path.suffix) == (AssetCategory.VIDEO, "video/mp4", ".mp4")
    assert clip.facts.model_dump(exclude_none=True) == {
        "type": "mp4",
        "codec": "h264",
        "width": 96,
        "height": 64,
        "duration_seconds": 1.0,
        "fps": 10.0,
        "has_audio": False,
    }


def test_the_content_decides_the_type_a_fetched_image_is_stored_as(server: MediaServer, tmp_path: Path) -> None:
    image = _fetch(server, "/mislabelled.png", tmp_path)
    assert (image.content_type, image.path.suffix, image.facts.type) == ("image/jpeg", ".jpeg", "jpeg")


def test_the_certificate_is_checked_against_the_urls_host(server: MediaServer, tmp_path: Path) -> None:
    with pytest.raises(MediaFetchError, match="could not be reached.*certificate verify failed"):
        fetch_media(server.url("/photo.png"), tmp_path, resolver=_resolver(), allow_loopback=True)
    with pytest.raises(MediaFetchError, match="could not be reached.*(match|mismatch)"):
        fetch_media(
            server.url("/photo.png", host="other-name.example"), tmp_path,
            resolver=LoopbackResolver({"other-name.example": ["127.0.0.1"]}),
            allow_loopback=True, ssl_context=server.client_context,
        )  # fmt: skip


def test_a_body_over_the_limit_is_cut_off_mid_stream(server: MediaServer, tmp_path: Path) -> None:
    with pytest.raises(MediaFetchError, match="more than the 20MB image limit"):
        _fetch(server, "/endless.png", tmp_path)
    assert ENDLESS["endless"].finished.wait(30)
    # The server could send the limit, what the fetch had read past it (one chunk) and what the two socket
    # buffers hold, never the 200 MB it offered.
    assert MAX_UPLOAD_BYTES < ENDLESS["endless"].streamed < MAX_UPLOAD_BYTES + 16 * 1024 * 1024
    assert list(tmp_path.iterdir()) == []

    with pytest.raises(MediaFetchError, match="more than the 20MB image limit"):
        _fetch(server, "/declared-huge.png", tmp_path)
    assert ENDLESS["declared"].finished.wait(30)
    assert ENDLESS["declared"].streamed < 16 * 1024 * 1024  # refused on its Content-Length, before reading
    assert list(tmp_path.iterdir()) == []


def test_redirects_are_followed_and_every_hop_is_checked(server: MediaServer, tmp_path: Path) -> None:
    hopped = _fetch(server, "/hop", tmp_path)
    assert hopped.url == server.url("/photo.png") and hopped.facts.width == 64

    with pytest.raises(MediaUrlError, match="10.0.0.1 is a private address"):
        _fetch(server, "/to-private", tmp_path)
    resolver = _resolver()
    with pytest.raises(MediaFetchError, match="metadata-alias.example resolves to a link-local address"):
        _fetch(server, "/to-metadata-name", tmp_path, resolver)
    assert resolver.calls == [HOST, "metadata-alias.example"]
    with pytest.raises(MediaUrlError, match="must use https, not http"):
        _fetch(server, "/to-http", tmp_path)

    before = sum(1 for path, _ in server.requests if path == "/loop")
    with pytest.raises(MediaFetchError, match="redirected more than 3 times"):
        _fetch(server, "/loop", tmp_path)
    assert sum(1 for path, _ in server.requests if path == "/loop") - before == 4
    assert [p for p in tmp_path.iterdir() if p != hopped.path] == []


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/page.html", "serves text/html; accepted: image/png"),
        ("/fake.png", "content refused: Not a PNG, JPEG or WebP image"),
        ("/squeezed.png", "gzip-encoded"),
        ("/missing.png", "answered HTTP 404"),
    ],
)
def test_what_is_not_media_is_refused(server: MediaServer, tmp_path: Path, path: str, reason: str) -> None:
    with pytest.raises(MediaFetchError, match=reason):
        _fetch(server, path, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_trickling_body_ends_at_the_total_time_limit(
    server: MediaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each byte arrives well within the read timeout; only the bound on the whole fetch stops it.
    monkeypatch.setattr("pytoon.media_fetch.MEDIA_FETCH_TOTAL_SECONDS", 1)
    with pytest.raises(MediaFetchError, match="took longer than 1 s"):
        _fetch(server, "/trickle.png", tmp_path)
    assert ENDLESS["trickle"].finished.wait(30)
    assert list(tmp_path.iterdir()) == []
