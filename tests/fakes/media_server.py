"""A media host on 127.0.0.1 over real TLS, for https media URLs, and the one way tests let the fetcher reach it.

The server presents a certificate for HOST signed by a throwaway CA; `client_context` trusts that CA only.
Routes map a request path to what is sent; they may be added while it runs.

    with media_server({"/photo.png": body("image/png", png)}) as server:
        fetch_media(server.url("/photo.png"), dest, resolver=LoopbackResolver(), allow_loopback=True,
                    ssl_context=server.client_context)
        serve_pipeline_fetches(server, monkeypatch)   # or: the pipeline's own fetches reach it

The fetcher refuses loopback and trusts only public CAs. `serve_pipeline_fetches` does not weaken that: it
binds the fetcher's test parameters (a resolver naming HOST only, the loopback allowance, this CA) for the
duration of one test, in this process, where the embedded Lambdas run. Every other check stays on.
"""

from __future__ import annotations

import datetime
import functools
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "media.example"  # no DNS knows it: only the resolvers below do

Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class MediaServer:
    port: int
    client_context: ssl.SSLContext  # trusts the server's throwaway CA and nothing else
    routes: dict[str, Route]
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    sni: list[str | None] = field(default_factory=list)

    def url(self, path: str, host: str = HOST) -> str:
        return f"https://{host}:{self.port}{path}"


class LoopbackResolver:
    """Resolves HOST to 127.0.0.1 and the names in `others` to their addresses; records every lookup."""

    def __init__(self, others: dict[str, list[str]] | None = None) -> None:
        self.answers = {HOST: ["127.0.0.1"], **(others or {})}
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


def body(content_type: str, data: bytes, *, seconds: float = 0.0, **headers: str) -> Route:
    """A 200 with the data (headers named with underscores for dashes), spread evenly over `seconds`."""

    def send(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        pieces = 10 if seconds else 1
        step = -(-len(data) // pieces)
        try:
            for start in range(0, len(data), step):
                handler.wfile.write(data[start : start + step])
                handler.wfile.flush()
                if seconds:
                    time.sleep(seconds / pieces)
        except OSError:
            pass  # the client gave up

    return send


def redirect(location: str) -> Route:
    def send(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return send


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


@contextmanager
def media_server(routes: dict[str, Route]) -> Iterator[MediaServer]:
    """Serve `routes` over TLS on a free 127.0.0.1 port (404 for any other path) until the block ends."""
    with tempfile.TemporaryDirectory(prefix="pytoon-tls-") as folder:
        cert_file, key_file, ca_pem = _certificates(Path(folder))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
    state = MediaServer(port=0, client_context=ssl.create_default_context(cadata=ca_pem.decode()), routes=routes)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            state.requests.append((self.path, self.headers.get("Host", "")))
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            route(self)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    context.sni_callback = lambda connection, name, _context: state.sni.append(name)  # type: ignore[assignment]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name="fake-media-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def serve_pipeline_fetches(server: MediaServer, monkeypatch: pytest.MonkeyPatch) -> LoopbackResolver:
    """Until the test ends, media fetches in this process (the pipeline's, in the embedded Lambdas) resolve
    HOST to the server's loopback address and trust its CA; returns the resolver, which records lookups."""
    import pytoon.media_fetch

    resolver = LoopbackResolver()
    fetch = functools.partial(
        pytoon.media_fetch.fetch_media, resolver=resolver, allow_loopback=True, ssl_context=server.client_context
    )
    monkeypatch.setattr(pytoon.media_fetch, "fetch_media", fetch)
    return resolver
