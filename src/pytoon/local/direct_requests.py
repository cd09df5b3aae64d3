"""Embedded AWS answering its own process's clients without HTTP.

Every AWS call the CLI, the API and the functions make in local mode goes to embedded AWS, which runs in the
same process. Over HTTP each call costs a socket round trip, a server thread and parsing on both sides (about
4 of its 6 ms), and the first request to each service builds moto's Flask app for it. Here a request to the
embedded endpoint is readdressed to AWS's own endpoint for its service (named by its signature's credential
scope) and answered by moto as its in-process mock answers one: the same backends, with the same effects
(DynamoDB's one-at-a-time writes, job change signals). Requests for anywhere else, and unsigned ones, are sent
as usual; clients outside the process (the AWS CLI, a browser with a presigned URL) reach the HTTP endpoint.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from pytoon.local.moto_seam import MotoDispatch

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
# SigV4's credential scope: <key id>/<yyyymmdd>/<region>/<service>/aws4_request.
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


def aws_address(request: AWSPreparedRequest) -> str | None:
    """The request's URL at AWS's endpoint for the service and region it is signed for (path and query kept),
    or None for an unsigned request."""
    authorization = request.headers.get("Authorization") or ""
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    scope = _CREDENTIAL_SCOPE.search(authorization)
    if scope is None:
        return None
    region, service = scope.groups()
    url = urlsplit(request.url)
    return f"https://{service}.{region}.amazonaws.com{url.path or '/'}" + (f"?{url.query}" if url.query else "")


class DirectRequests:
    """A botocore before-send handler answering the signed requests for `port` on a loopback host."""

    def __init__(self, dispatch: MotoDispatch, port: int) -> None:
        self._dispatch = dispatch
        self._port = port

    def __call__(self, request: AWSPreparedRequest) -> AWSResponse | None:
        url = urlsplit(request.url)
        if url.port != self._port or url.hostname not in LOOPBACK_NAMES:
            return None
        address = aws_address(request)
        return None if address is None else self._dispatch.answer(request, address)
