"""Media from https URLs (a V2 job's media list): fetched behind SSRF guards, then validated like an upload.

Every hop of a fetch is checked the same way: https only, a host that is a public name or address, every
address it resolves to public (no private, loopback, link-local/cloud-metadata, CGNAT, multicast or reserved
ranges, IPv4 or IPv6, embedded IPv4 included), and the connection goes to an address that was checked: the
pinned network backend below never looks the name up again, so a rebinding DNS answer cannot redirect it.
TLS still verifies the certificate against the URL's host name, sent as SNI and Host. The body is streamed
to disk and cut off at the category's upload limit; connect, read and total time are bounded; the file is
then checked by content exactly as an upload of its category is (`assets.inspect_media`). A job's fetches
may also share one deadline (`job_fetch_deadline`), which bounds their validation too: all of a job's media
must be ready well inside the plan step's Lambda timeout.

A URL is parsed once, strictly (plain ASCII, no credentials), and the request is built from the parts that
were checked, so no second parser can read another host out of it. The API imports this module for
`check_media_url`; httpcore (httpx's connection layer) is imported only when something is fetched.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from pytoon.assets import ALLOWED_CONTENT_TYPES, CONTENT_TYPES, AssetRejectedError, inspect_media, max_upload_bytes
from pytoon.aws.assets import MediaFacts
from pytoon.errors import PytoonError, public_message
from pytoon.limits import (
    MAX_MEDIA_REDIRECTS,
    MAX_MEDIA_URL_CHARS,
    MEDIA_FETCH_CONNECT_SECONDS,
    MEDIA_FETCH_JOB_SECONDS,
    MEDIA_FETCH_READ_SECONDS,
    MEDIA_FETCH_TOTAL_SECONDS,
)
from pytoon.models import AssetCategory

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host name, port) -> the addresses it resolves to, as strings. Tests inject one; production uses the system's.
Resolver = Callable[[str, int], Sequence[str]]

# The content types a URL may serve, and the category its content is then validated as.
FETCHED_CATEGORIES: dict[str, AssetCategory] = {
    content_type: category
    for category in (AssetCategory.IMAGE, AssetCategory.VIDEO)
    for content_type in ALLOWED_CONTENT_TYPES[category]
}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Names that never lead to a public host: RFC 6761 loopback names and private-use suffixes.
_PRIVATE_NAME_SUFFIXES = ("localhost", "local", "internal", "home.arpa")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME_RE = re.compile(rf"(?=.{{1,253}}$)(?:{_LABEL}\.)*{_LABEL}")
_HTTPS_PORT = 443

_LOOPBACK = "a loopback address"
_FORBIDDEN_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(network), what)
    for network, what in (
        ("0.0.0.0/8", "an unspecified address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("127.0.0.0/8", _LOOPBACK),
        ("169.254.0.0/16", "a link-local address (cloud metadata lives there)"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a reserved address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", _LOOPBACK),
        ("::/96", "an IPv4-compatible address"),
        ("100::/64", "a discard address"),
        ("2001::/23", "a reserved address"),
        ("2001:db8::/32", "a documentation address"),
        ("fc00::/7", "a private address"),  # unique local; AWS's IPv6 metadata endpoint fd00:ec2::254 is here
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class MediaUrlError(PytoonError):
    """A media URL refused before anything is fetched; the message says why."""


class MediaFetchError(MediaUrlError):
    """A media URL whose fetch failed, or whose content was refused; the message says why."""


@dataclass(frozen=True)
class FetchedMedia:
    """A fetched file that passed the same validation as an upload of its category."""

    path: Path  # named by what validation found: media-….png, .jpeg, .webp, .mp4, .mov or .webm
    category: AssetCategory  # image or video
    content_type: str  # of the validated content (a server may label a JPEG image/png; the content decides)
    size: int
    facts: MediaFacts
    url: str  # the URL the file came from, after redirects


def forbidden_address(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """What makes an address unfit to fetch from ("a private address", ...), or None for a public one."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return forbidden_address(embedded, allow_loopback=allow_loopback)
    for network, what in _FORBIDDEN_NETWORKS:
        if address in network:
            return None if what == _LOOPBACK and allow_loopback else what
    # Anything else Python's registry does not call global (new special-purpose ranges included).
    return None if address.is_global else "a non-public address"


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: IPv4-mapped, NAT64 (64:ff9b::/96) or 6to4."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


@dataclass(frozen=True)
class _Target:
    """A checked https URL, in the parts its request is built from."""

    host: str  # lower case; a name in IDNA (punycode) form, or an address without brackets
    port: int | None  # as written; None means 443
    path: str  # path and query: the request target

    @property
    def authority(self) -> str:
        """The Host header: the host (an IPv6 address in brackets) and a port other than 443."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port in (None, _HTTPS_PORT) else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.authority}{self.path}"


def check_media_url(url: str) -> None:
    """The cheap check a job's media URLs pass at submit time (no DNS lookup): https, a host that is a
    public name or address, no credentials, plain ASCII, at most MAX_MEDIA_URL_CHARS characters.
    MediaUrlError says what is wrong."""
    _checked_url(url, allow_loopback=False)


def _checked_url(url: str, *, allow_loopback: bool) -> _Target:
    if not isinstance(url, str) or not url:
        raise MediaUrlError("Media URL is empty")
    if len(url) > MAX_MEDIA_URL_CHARS:
        raise MediaUrlError(f"Media URL is longer than {MAX_MEDIA_URL_CHARS} characters")
    # URL parsers disagree about spaces, control characters, backslashes and non-ASCII text: none may appear.
    if not url.isascii() or "\\" in url or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise MediaUrlError(
            "Media URL must be plain ASCII without spaces, control characters or backslashes "
            "(percent-encode them; write international host names in punycode)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise MediaUrlError(f"Media URL is not a valid URL: {exc}") from exc
    if parts.scheme != "https":
        raise MediaUrlError(f"Media URL must use https, not {parts.scheme or 'no scheme'}")
    if "@" in parts.netloc:
        raise MediaUrlError("Media URL must not carry a user name or password")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise MediaUrlError("Media URL has no host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    target = _Target(host=host, port=port, path=path)
    literal = _address_literal(host)
    if literal is not None:
        if reason := forbidden_address(literal, allow_loopback=allow_loopback):
            raise MediaUrlError(f"Media URL host {host} is {reason}, which is not allowed")
        return target
    if not _HOST_NAME_RE.fullmatch(host):
        raise MediaUrlError(f"Media URL host {host} is not a valid host name")
    if any(host == suffix or host.endswith("." + suffix) for suffix in _PRIVATE_NAME_SUFFIXES):
        raise MediaUrlError(f"Media URL host {host} is a private name, which is not allowed")
    if "." not in host:  # a single label is completed by the resolver's search domains: an inside name
        raise MediaUrlError(f"Media URL host {host} is not a fully qualified domain name")
    return target


def _address_literal(host: str) -> IPAddress | None:
    """The address a host names literally, including the legacy IPv4 spellings resolvers still accept
    (`2130706433`, `0x7f.1`, `127.1`): those never reach DNS, so they are checked as addresses."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for the host, in its order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _resolve_checked(
    target: _Target, resolver: Resolver, *, allow_loopback: bool, deadline: _Deadline
) -> list[IPAddress]:
    """The host's addresses, each checked; refused when any of them is not public (a name that also points
    inside cannot be trusted to be connected to its public address)."""
    literal = _address_literal(target.host)
    if literal is not None:
        return [literal]  # checked with the URL
    host = target.host
    answers = _within_deadline(lambda: resolver(host, target.port or _HTTPS_PORT), deadline, f"resolving {host}")
    addresses = []
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer)
        except ValueError as exc:
            raise MediaFetchError(f"Media URL host {host} resolved to something that is not an address") from exc
        if reason := forbidden_address(address, allow_loopback=allow_loopback):
            raise MediaFetchError(f"Media URL host {host} resolves to {reason}, which is not allowed")
        addresses.append(address)
    if not addresses:
        raise MediaFetchError(f"Media URL host {host} has no address")
    return addresses


def _within_deadline(call: Callable[[], Sequence[str]], deadline: _Deadline, what: str) -> Sequence[str]:
    """Run a blocking lookup (getaddrinfo has no timeout of its own) for at most the time left."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the caller below
            outcome.append(exc)

    worker = threading.Thread(target=run, name="media-url-resolve", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline.at - time.monotonic()))
    if not outcome:
        raise deadline.overrun() if deadline.shared else MediaFetchError(f"Media URL timed out {what}")
    if isinstance(outcome[0], OSError):
        raise MediaFetchError(f"Media URL failed {what}: {public_message(str(outcome[0]))}")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def job_fetch_deadline() -> float:
    """When the fetches of one job's media URLs, starting now, must all be over, validation included
    (a `time.monotonic()` value for `fetch_media`)."""
    return time.monotonic() + MEDIA_FETCH_JOB_SECONDS


@dataclass(frozen=True)
class _Deadline:
    """When a fetch must end: its own limit, or the job's shared one when that comes first."""

    at: float  # a time.monotonic() value
    shared: bool  # the job's deadline for all its media

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def overrun(self) -> MediaFetchError:
        if self.shared:
            return MediaFetchError(
                f"Media URLs of this job took longer than {MEDIA_FETCH_JOB_SECONDS:g} s together to fetch and validate"
            )
        return MediaFetchError(f"Media URL took longer than {MEDIA_FETCH_TOTAL_SECONDS:g} s to fetch")

    def left(self, timeout: float | None = None) -> float:
        """An operation's timeout, shortened to what is left before the deadline; raises once nothing is."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise self.overrun()
        return left if timeout is None else min(timeout, left)


class _DeadlineStream:
    """An httpcore network stream whose every read and write also ends by the fetch's overall deadline."""

    def __init__(self, stream: Any, deadline: _Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.left(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> _DeadlineStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, self._deadline.left(timeout))
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class PinnedBackend:
    """An httpcore network backend that connects a request for `host` to the checked addresses only, in order,
    and never resolves the name (so a name cannot resolve elsewhere between the check and the connection);
    with a `deadline`, every socket operation also ends by it."""

    def __init__(self, host: str, addresses: Sequence[IPAddress], deadline: _Deadline | None = None) -> None:
        import httpcore

        self._host = host
        self._addresses = addresses
        self._deadline = deadline
        self._system = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        import httpcore

        if host != self._host:
            raise httpcore.ConnectError(f"{host} is not the host whose addresses were checked")
        failure: Exception | None = None
        for address in self._addresses:
            try:
                left = timeout if self._deadline is None else self._deadline.left(timeout)
                stream = self._system.connect_tcp(str(address), port, left)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return stream if self._deadline is None else _DeadlineStream(stream, self._deadline)
        assert failure is not None
        raise failure

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        import httpcore

        raise httpcore.ConnectError("only TCP connections to the checked addresses")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def fetch_media(
    url: str,
    dest_dir: Path,
    *,
    job_deadline: float | None = None,
    resolver: Resolver = system_resolver,
    allow_loopback: bool = False,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchedMedia:
    """Download an image or video clip from an https URL into `dest_dir` and validate it like an upload.

    `job_deadline` (from `job_fetch_deadline()`) is shared by all of a job's fetches: this one ends by it or by its
    own MEDIA_FETCH_TOTAL_SECONDS, whichever comes first, and a clip's decode ends by it too.
    `allow_loopback` is for tests that serve media on this machine: it admits loopback addresses only (every
    other private range stays refused); `ssl_context` lets them trust their own certificate. Raises
    MediaUrlError for a refused URL and MediaFetchError (a subclass) for a failed fetch or refused content.
    """
    own = _Deadline(time.monotonic() + MEDIA_FETCH_TOTAL_SECONDS, shared=False)
    job = None if job_deadline is None else _Deadline(job_deadline, shared=True)
    deadline = job if job is not None and job.at < own.at else own
    deadline.left()  # the job's time may be spent already: nothing is looked up or fetched then
    if ssl_context is None:
        import httpx  # httpx's CA bundle (certifi), the same trust every other client of the package uses

        ssl_context = httpx.create_ssl_context()
    current = _checked_url(url, allow_loopback=allow_loopback)
    for _hop in range(MAX_MEDIA_REDIRECTS + 1):
        addresses = _resolve_checked(current, resolver, allow_loopback=allow_loopback, deadline=deadline)
        outcome = _get(current, addresses, ssl_context, deadline, job, Path(dest_dir))
        if isinstance(outcome, FetchedMedia):
            return outcome
        current = _checked_url(urljoin(current.url, outcome), allow_loopback=allow_loopback)
    raise MediaFetchError(f"Media URL redirected more than {MAX_MEDIA_REDIRECTS} times")


def _get(
    target: _Target,
    addresses: Sequence[IPAddress],
    context: ssl.SSLContext,
    deadline: _Deadline,
    job: _Deadline | None,
    dest_dir: Path,
) -> FetchedMedia | str:
    """One request: the fetched media, or the Location it redirects to."""
    import httpcore

    backend = PinnedBackend(target.host, addresses, deadline)
    request_url = httpcore.URL(
        scheme=b"https", host=target.host.encode("ascii"), port=target.port, target=target.path.encode("ascii")
    )
    headers = [
        (b"Host", target.authority.encode("ascii")),
        (b"User-Agent", b"pytoon-media-fetch"),
        (b"Accept", ", ".join(FETCHED_CATEGORIES).encode()),
        (b"Accept-Encoding", b"identity"),  # sizes count bytes on disk; a compressed body could expand past them
    ]
    timeouts = {
        "connect": MEDIA_FETCH_CONNECT_SECONDS,
        "read": MEDIA_FETCH_READ_SECONDS,
        "write": MEDIA_FETCH_READ_SECONDS,
        "pool": MEDIA_FETCH_CONNECT_SECONDS,
    }
    try:
        with (
            httpcore.ConnectionPool(ssl_context=context, network_backend=backend, retries=0) as pool,
            pool.stream("GET", request_url, headers=headers, extensions={"timeout": timeouts}) as response,
        ):
            if response.status in _REDIRECTS:
                location = _header(response, b"location")
                if not location:
                    raise MediaFetchError(f"Media URL answered HTTP {response.status} without a Location")
                return location
            if response.status != 200:
                raise MediaFetchError(f"Media URL answered HTTP {response.status}")
            return _download(target, response, dest_dir, deadline, job)
    except httpcore.TimeoutException as exc:
        if deadline.passed:  # the socket's timeout was cut short to end the whole fetch on time
            raise deadline.overrun() from exc
        raise MediaFetchError(f"Media URL timed out ({_plain(exc) or type(exc).__name__})") from exc
    except httpcore.ConnectError as exc:
        raise MediaFetchError(f"Media URL could not be reached: {_plain(exc)}") from exc
    except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
        raise MediaFetchError(f"Media URL connection failed: {_plain(exc) or type(exc).__name__}") from exc


def _plain(exc: Exception) -> str:
    return public_message(str(exc))


def _header(response: Any, name: bytes) -> str:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return ""


def _download(
    target: _Target, response: Any, dest_dir: Path, deadline: _Deadline, job: _Deadline | None
) -> FetchedMedia:
    content_type = _header(response, b"content-type").split(";", 1)[0].strip().lower()
    category = FETCHED_CATEGORIES.get(content_type)
    if category is None:
        accepted = ", ".join(FETCHED_CATEGORIES)
        raise MediaFetchError(f"Media URL serves {content_type or 'no content type'}; accepted: {accepted}")
    encoding = _header(response, b"content-encoding").lower()
    if encoding not in ("", "identity"):
        raise MediaFetchError(f"Media URL serves {encoding}-encoded content; only uncompressed bodies are accepted")
    limit = max_upload_bytes(category)
    too_large = f"Media URL serves more than the {limit // (1024 * 1024)}MB {category} limit"
    declared = _header(response, b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise MediaFetchError(too_large)
    dest_dir.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=dest_dir, prefix="media-", delete=False)  # noqa: SIM115
    path = Path(handle.name)
    try:
        size = 0
        with handle:
            for chunk in response.iter_stream():
                size += len(chunk)
                if size > limit:
                    raise MediaFetchError(too_large)  # stop reading: nothing past the limit is downloaded
                deadline.left()
                handle.write(chunk)
        if size == 0:
            raise MediaFetchError("Media URL served an empty body")
        # Validation is not part of the fetch's own limit (a clip's decode has its own), but it is of the job's.
        try:
            facts = inspect_media(path, category, decode_timeout_seconds=None if job is None else job.left())
        except AssetRejectedError as exc:
            if job is not None and job.passed:  # the decode was cut short by the job's deadline
                raise job.overrun() from exc
            raise MediaFetchError(f"Media URL content refused: {exc}") from exc
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    named = path.rename(path.with_suffix(f".{facts.type}"))
    return FetchedMedia(
        path=named, category=category, content_type=CONTENT_TYPES[facts.type], size=size, facts=facts, url=target.url
    )
