"""Media URLs fetched over real TLS from a server on loopback: the guard refuses it by default; with the
test-only allowance the fetch works, sends the URL's name as SNI and Host while connecting to the checked
address, cuts bodies off at the limit mid-stream, re-checks every redirect and refuses what is not media."""

from __future__ import annotations

import datetime
import io
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from pytoon.limits import MAX_UPLOAD_BYTES
from pytoon.media_fetch import FetchedMedia, MediaFetchError, MediaUrlError, fetch_media
from pytoon.models import AssetCategory
from tests.media import make_test_clip

pytestmark = pytest.mark.integration

HOST = "media.example"  # no DNS knows it: only the injected resolver does
CHUNK = 64 * 1024


@dataclass
class MediaServer:
    port: int
    client_context: ssl.SSLContext
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    sni: list[str | None] = field(default_factory=list)
    streamed: dict[str, int] = field(default_factory=dict)  # bytes an endless response managed to send
    finished: dict[str, threading.Event] = field(default_factory=dict)

    def url(self, path: str, host: str = HOST) -> str:
        return f"https://{host}:{self.port}{path}"


def _signed(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey, *extensions
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = x509.CertificateBuilder(
        issuer_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]),
        subject_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]),
        public_key=key.public_key(),
        serial_number=x509.random_serial_number(),
        not_valid_before=now - datetime.timedelta(minutes=5),
        not_valid_after=now + datetime.timedelta(days=1),
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signer, hashes.SHA256())


def _certificates(folder: Path) -> tuple[Path, Path, bytes]:
    """A throwaway CA and a server certificate for HOST only, signed by it: (cert file, key file, CA PEM)."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    usage = {name: False for name in ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                                      "encipher_only", "decipher_only")}  # fmt: skip
    ca = _signed(
        "pytoon test CA", ca_key, "pytoon test CA", ca_key,
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage), True),
        (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
    )  # fmt: skip
    leaf = _signed(
        HOST, key, "pytoon test CA", ca_key,
        (x509.SubjectAlternativeName([x509.DNSName(HOST)]), False),
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
    )  # fmt: skip
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file, ca.public_bytes(serialization.Encoding.PEM)


def _image_bytes(kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format=kind)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file, ca_pem = _certificates(folder)
    clip = make_test_clip(folder / "clip.mp4", seconds=1, fps=10, size=(96, 64)).read_bytes()
    png = _image_bytes()
    state = MediaServer(port=0, client_context=ssl.create_default_context(cadata=ca_pem.decode()))

    def body(content_type: str, data: bytes, **headers: str) -> Callable[[BaseHTTPRequestHandler], None]:
        def send(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name.replace("_", "-"), value)
            handler.end_headers()
            handler.wfile.write(data)

        return send

    def redirect(location: str) -> Callable[[BaseHTTPRequestHandler], None]:
        def send(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(302)
            handler.send_header("Location", location)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        return send

    def endless(name: str, pause: float = 0.0, declared: str | None = None) -> Callable[[BaseHTTPRequestHandler], None]:
        """Zeros (one byte per `pause`, or as fast as possible) until the client goes away."""

        def send(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", "image/png")
            if declared:
                handler.send_header("Content-Length", declared)
            handler.end_headers()
            sent = 0
            chunk = b"\0" * (1 if pause else CHUNK)
            try:
                while sent < 10 * MAX_UPLOAD_BYTES:
                    handler.wfile.write(chunk)
                    handler.wfile.flush()
                    sent += len(chunk)
                    if pause:
                        time.sleep(pause)
            except OSError:
                pass  # the client stopped reading and closed the connection
            finally:
                state.streamed[name] = sent
                state.finished[name].set()

        return send

    routes = {
        "/photo.png": body("image/png", png),
        "/clip.mp4": body("video/mp4; charset=binary", clip),
        "/mislabelled.png": body("image/png", _image_bytes("JPEG")),
        "/page.html": body("text/html", b"<html>hello</html>"),
        "/fake.png": body("image/png", b"<html>not a picture</html>"),
        "/squeezed.png": body("image/png", png, Content_Encoding="gzip"),
        "/declared-huge.png": endless("declared", declared=str(MAX_UPLOAD_BYTES + 1)),
        "/endless.png": endless("endless"),
        "/trickle.png": endless("trickle", pause=0.05),
        "/hop": redirect("/photo.png"),
        "/loop": redirect("/loop"),
        "/to-private": redirect("https://10.0.0.1/photo.png"),
        "/to-http": redirect(f"http://{HOST}/photo.png"),
    }
    state.finished = {name: threading.Event() for name in ("declared", "endless", "trickle")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            state.requests.append((self.path, self.headers.get("Host", "")))
            route = routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            route(self)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda connection, name, _context: state.sni.append(name)  # type: ignore[assignment]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    state.port = httpd.server_address[1]
    # A name the resolver maps to the cloud metadata address (the port is only known now).
    routes["/to-metadata-name"] = redirect(f"https://metadata-alias.example:{state.port}/photo.png")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


class CountingResolver:
    """Resolves HOST to loopback and a second name to the cloud metadata address; counts every lookup."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return {"metadata-alias.example": ["169.254.169.254"]}.get(host, ["127.0.0.1"])


def _fetch(server: MediaServer, path: str, dest: Path, resolver: CountingResolver | None = None) -> FetchedMedia:
    return fetch_media(
        server.url(path), dest, resolver=resolver or CountingResolver(), allow_loopback=True,
        ssl_context=server.client_context,
    )  # fmt: skip


def test_loopback_is_refused_by_default(server: MediaServer, tmp_path: Path) -> None:
    before = len(server.requests)
    with pytest.raises(MediaUrlError, match="loopback"):
        fetch_media(f"https://127.0.0.1:{server.port}/photo.png", tmp_path, ssl_context=server.client_context)
    resolver = CountingResolver()
    with pytest.raises(MediaFetchError, match=f"{HOST} resolves to a loopback address"):
        fetch_media(server.url("/photo.png"), tmp_path, resolver=resolver, ssl_context=server.client_context)
    assert resolver.calls == [HOST]
    assert len(server.requests) == before  # nothing reached the server
    assert list(tmp_path.iterdir()) == []


def test_with_the_allowance_an_image_and_a_clip_are_fetched_and_validated(server: MediaServer, tmp_path: Path) -> None:
    resolver = CountingResolver()
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
        fetch_media(server.url("/photo.png"), tmp_path, resolver=CountingResolver(), allow_loopback=True)
    with pytest.raises(MediaFetchError, match="could not be reached.*(match|mismatch)"):
        fetch_media(
            server.url("/photo.png", host="other-name.example"), tmp_path, resolver=CountingResolver(),
            allow_loopback=True, ssl_context=server.client_context,
        )  # fmt: skip


def test_a_body_over_the_limit_is_cut_off_mid_stream(server: MediaServer, tmp_path: Path) -> None:
    with pytest.raises(MediaFetchError, match="more than the 20MB image limit"):
        _fetch(server, "/endless.png", tmp_path)
    assert server.finished["endless"].wait(30)
    # The server could send the limit, what the fetch had read past it (one chunk) and what the two socket
    # buffers hold, never the 200 MB it offered.
    assert MAX_UPLOAD_BYTES < server.streamed["endless"] < MAX_UPLOAD_BYTES + 16 * 1024 * 1024
    assert list(tmp_path.iterdir()) == []

    with pytest.raises(MediaFetchError, match="more than the 20MB image limit"):
        _fetch(server, "/declared-huge.png", tmp_path)
    assert server.finished["declared"].wait(30)
    assert server.streamed["declared"] < 16 * 1024 * 1024  # refused on its Content-Length, before reading
    assert list(tmp_path.iterdir()) == []


def test_redirects_are_followed_and_every_hop_is_checked(server: MediaServer, tmp_path: Path) -> None:
    hopped = _fetch(server, "/hop", tmp_path)
    assert hopped.url == server.url("/photo.png") and hopped.facts.width == 64

    with pytest.raises(MediaUrlError, match="10.0.0.1 is a private address"):
        _fetch(server, "/to-private", tmp_path)
    resolver = CountingResolver()
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
    assert server.finished["trickle"].wait(30)
    assert list(tmp_path.iterdir()) == []
