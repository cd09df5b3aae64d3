"""The SSRF guards of media URLs: which addresses and URLs are refused, checked with injected resolvers.

Nothing here opens a connection: every refusal happens before one would be made (the fetches over a real TLS
server are in tests/integration/test_media_fetch.py).
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path

import pytest

from pytoon.api.errors import ERROR_TABLE
from pytoon.limits import MAX_MEDIA_URL_CHARS
from pytoon.media_fetch import MediaFetchError, MediaUrlError, check_media_url, fetch_media, forbidden_address


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local address (cloud metadata"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("100.100.100.200", "carrier-grade NAT"),  # Alibaba Cloud's metadata service
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "private"),  # AWS's IPv6 instance metadata endpoint
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
        ("::7f00:1", "IPv4-compatible"),
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    found = forbidden_address(ipaddress.ip_address(address))
    assert found is not None and reason in found, (address, found)


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_address(ipaddress.ip_address(address)) is None


def test_the_test_allowance_admits_loopback_only() -> None:
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert forbidden_address(ipaddress.ip_address(address), allow_loopback=True) is None
    for address in ("10.0.0.1", "169.254.169.254", "fd00:ec2::254", "100.64.0.1", "0.0.0.0"):
        assert forbidden_address(ipaddress.ip_address(address), allow_loopback=True) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/shot.png",
        "https://cdn.example.com:8443/a/b/clip.mp4?sig=abc&x=1",
        "https://xn--bcher-kva.example/photo.jpg",
        "https://93.184.216.34/p.png",
        "https://[2606:4700:4700::1111]/p.png",
        "https://Media.Example.COM./p.png",
    ],
)
def test_public_https_urls_pass_the_submit_check(url: str) -> None:
    check_media_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://cdn.example.com/a.png", "must use https, not http"),
        ("ftp://cdn.example.com/a.png", "must use https"),
        ("file:///etc/passwd", "must use https"),
        ("cdn.example.com/a.png", "must use https, not no scheme"),
        ("https:///a.png", "has no host"),
        ("https://user:pw@cdn.example.com/a.png", "user name or password"),
        ("https://cdn.example.com@10.0.0.1/a.png", "user name or password"),
        ("https://127.0.0.1/a.png", "loopback"),
        ("https://[::1]/a.png", "loopback"),
        ("https://[::ffff:169.254.169.254]/a.png", "link-local"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://2130706433/a.png", "loopback"),  # 127.0.0.1 as one number
        ("https://0x7f.1/a.png", "loopback"),
        ("https://10.1/a.png", "private"),
        ("https://[fd00:ec2::254]/a.png", "private"),
        ("https://localhost/a.png", "private name"),
        ("https://media.localhost/a.png", "private name"),
        ("https://metadata.google.internal/computeMetadata/v1/", "private name"),
        ("https://printer.local/a.png", "private name"),
        ("https://intranet/a.png", "not a fully qualified domain name"),
        ("https://cdn.example.com:99999/a.png", "not a valid URL"),
        ("https://cdn.exa_mple.com!/a.png", "not a valid host name"),
        ("https://bücher.example/a.png", "plain ASCII"),
        ("https://cdn.example.com/a b.png", "plain ASCII"),
        ("https://cdn.example.com\\@10.0.0.1/a.png", "backslashes"),
        ("https://cdn.example.com/a.png\r\nHost: evil", "control characters"),
        ("https://cdn.example.com/" + "a" * MAX_MEDIA_URL_CHARS, f"longer than {MAX_MEDIA_URL_CHARS}"),
        ("", "empty"),
    ],
)
def test_unusable_urls_are_refused_at_submit(url: str, reason: str) -> None:
    with pytest.raises(MediaUrlError) as refused:
        check_media_url(url)
    assert reason in str(refused.value), str(refused.value)


def test_the_api_answers_a_refused_url_with_400() -> None:
    assert ERROR_TABLE[MediaUrlError].status == 400
    assert issubclass(MediaFetchError, MediaUrlError)


def _resolving_to(*answers: str) -> tuple[list[tuple[str, int]], object]:
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return list(answers)

    return calls, resolve


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        (["169.254.169.254"], "resolves to a link-local address"),
        (["10.0.0.7"], "resolves to a private address"),
        (["127.0.0.1"], "resolves to a loopback address"),
        (["::ffff:192.168.0.1"], "resolves to a private address"),
        # One inside address among public ones is enough: the name cannot be trusted.
        (["93.184.216.34", "fd00:ec2::254"], "resolves to a private address"),
        ([], "has no address"),
        (["not-an-address"], "not an address"),
    ],
)
def test_names_resolving_inside_are_refused_before_connecting(tmp_path: Path, answers: list[str], reason: str) -> None:
    calls, resolve = _resolving_to(*answers)
    with pytest.raises(MediaFetchError) as refused:
        fetch_media("https://media.example.com:8443/p.png", tmp_path, resolver=resolve)  # type: ignore[arg-type]
    assert reason in str(refused.value) and "media.example.com" in str(refused.value)
    assert calls == [("media.example.com", 8443)]
    assert list(tmp_path.iterdir()) == []


def test_the_loopback_allowance_does_not_open_private_ranges(tmp_path: Path) -> None:
    _, resolve = _resolving_to("10.0.0.7")
    with pytest.raises(MediaFetchError, match="private address"):
        fetch_media("https://media.example.com/p.png", tmp_path, resolver=resolve, allow_loopback=True)  # type: ignore[arg-type]
    with pytest.raises(MediaUrlError, match="link-local"):
        fetch_media("https://169.254.169.254/p.png", tmp_path, allow_loopback=True)


def test_a_failing_or_stalled_lookup_is_a_fetch_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(host: str, port: int) -> list[str]:
        raise OSError(-2, "Name or service not known")

    with pytest.raises(MediaFetchError, match="failed resolving media.example.com"):
        fetch_media("https://media.example.com/p.png", tmp_path, resolver=broken)

    monkeypatch.setattr("pytoon.media_fetch.MEDIA_FETCH_TOTAL_SECONDS", 0.2)

    def stalled(host: str, port: int) -> list[str]:
        time.sleep(5)
        return ["93.184.216.34"]

    with pytest.raises(MediaFetchError, match="timed out resolving media.example.com"):
        fetch_media("https://media.example.com/p.png", tmp_path, resolver=stalled)


def test_the_api_does_not_import_the_http_stack_for_the_submit_check() -> None:
    import subprocess
    import sys

    probe = "import sys, pytoon.media_fetch as m; m.check_media_url('https://a.example/p.png'); " + (
        "print(sorted({'httpx', 'httpcore'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
