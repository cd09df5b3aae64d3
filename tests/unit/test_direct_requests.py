"""Requests of this process's clients handed to embedded AWS's WSGI app without HTTP."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest

from pytoon.local.direct_requests import DirectRequests

PORT = 4599


class RecordingApp:
    """A WSGI app that answers 201 with a header and a two-part body, keeping what it was given."""

    def __init__(self) -> None:
        self.environ: dict[str, Any] = {}
        self.body = b""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.environ = environ
        self.body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        start_response("201 Created", [("Content-Type", "application/json"), ("ETag", '"abc"')])
        return [b'{"ok": ', b"true}"]


def _request(url: str, body: Any = b"", headers: dict[str, Any] | None = None) -> AWSPreparedRequest:
    return AWSPreparedRequest(method="PUT", url=url, headers=headers or {}, body=body, stream_output=False)


def test_a_request_for_the_endpoint_reaches_the_app_as_an_http_server_would_pass_it() -> None:
    app = RecordingApp()
    url = f"http://127.0.0.1:{PORT}/bucket/uploads/caf%C3%A9%20menu.jpg?uploads=&x-id=PutObject"
    headers = {"Content-Type": "image/jpeg", "X-Amz-Target": b"DynamoDB_20120810.PutItem", "Host": "ignored"}
    response = DirectRequests(app, PORT)(_request(url, io.BytesIO(b"picture"), headers))

    assert response is not None and response.status_code == 201
    assert response.headers["etag"] == '"abc"' and response.content == b'{"ok": true}'
    environ = app.environ
    # Decoded and carried as latin-1 code points of the UTF-8 bytes, as WSGI servers do.
    assert environ["PATH_INFO"].encode("latin-1").decode("utf-8") == "/bucket/uploads/café menu.jpg"
    assert environ["QUERY_STRING"] == "uploads=&x-id=PutObject"
    assert environ["HTTP_HOST"] == f"127.0.0.1:{PORT}" and environ["REQUEST_METHOD"] == "PUT"
    assert environ["CONTENT_TYPE"] == "image/jpeg" and environ["HTTP_X_AMZ_TARGET"] == "DynamoDB_20120810.PutItem"
    assert app.body == b"picture" and environ["CONTENT_LENGTH"] == "7"


@pytest.mark.parametrize("body", [None, "text", b"bytes", bytearray(b"array")])
def test_every_kind_of_body_botocore_sends_arrives_whole(body: Any) -> None:
    app = RecordingApp()
    DirectRequests(app, PORT)(_request(f"http://localhost:{PORT}/", body))
    assert app.body == (b"" if body is None else bytes(body, "utf-8") if isinstance(body, str) else bytes(body))


@pytest.mark.parametrize(
    "url",
    [
        f"http://127.0.0.1:{PORT + 1}/bucket/key",  # another local service
        f"http://192.0.2.10:{PORT}/bucket/key",  # the same port elsewhere
        "https://s3.us-east-1.amazonaws.com/bucket/key",
    ],
)
def test_requests_for_anywhere_else_are_left_to_be_sent(url: str) -> None:
    app = RecordingApp()
    assert DirectRequests(app, PORT)(_request(url)) is None
    assert app.environ == {}
