"""Requests of this process's clients readdressed to AWS's own endpoints and answered by moto in process."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from pytoon.local.direct_requests import DirectRequests, aws_address

PORT = 4599
SIGNED = (
    "AWS4-HMAC-SHA256 Credential=testing/20261203/eu-west-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
)


class RecordingDispatch:
    """Stands in for moto: keeps each request and the address it was handed, and answers `response`."""

    def __init__(self, response: AWSResponse | None) -> None:
        self.handed: list[tuple[AWSPreparedRequest, str]] = []
        self._response = response

    def answer(self, request: AWSPreparedRequest, address: str) -> AWSResponse | None:
        self.handed.append((request, address))
        return self._response


def _request(url: str, service: str | None = "s3", body: Any = b"") -> AWSPreparedRequest:
    headers = {"Authorization": SIGNED.format(service=service)} if service else {}
    return AWSPreparedRequest(method="PUT", url=url, headers=headers, body=body, stream_output=False)


@pytest.mark.parametrize(
    ("url", "service", "address"),
    [
        (
            f"http://127.0.0.1:{PORT}/bucket/caf%C3%A9%20menu.jpg?x-id=PutObject",
            "s3",
            "https://s3.eu-west-1.amazonaws.com/bucket/caf%C3%A9%20menu.jpg?x-id=PutObject",
        ),
        (f"http://localhost:{PORT}", "dynamodb", "https://dynamodb.eu-west-1.amazonaws.com/"),
        (
            f"http://localhost:{PORT}/2015-03-31/functions/arn%3Aaws%3Alambda/invocations",
            "lambda",
            "https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/arn%3Aaws%3Alambda/invocations",
        ),
    ],
)
def test_a_signed_request_is_readdressed_to_its_service_with_path_and_query_as_sent(
    url: str, service: str, address: str
) -> None:
    assert aws_address(_request(url, service)) == address


def test_the_request_as_sent_goes_to_moto_with_its_aws_address_and_moto_answer_is_the_response() -> None:
    response = AWSResponse(f"http://127.0.0.1:{PORT}/bucket/key", 201, {"ETag": '"abc"'}, None)
    dispatch = RecordingDispatch(response)
    request = _request(f"http://127.0.0.1:{PORT}/bucket/key", body=b"picture")
    assert DirectRequests(dispatch, PORT)(request) is response  # type: ignore[arg-type]
    assert dispatch.handed == [(request, "https://s3.eu-west-1.amazonaws.com/bucket/key")]


@pytest.mark.parametrize(
    ("url", "service"),
    [
        (f"http://127.0.0.1:{PORT + 1}/bucket/key", "s3"),  # another local service
        (f"http://192.0.2.10:{PORT}/bucket/key", "s3"),  # the same port elsewhere
        ("https://s3.us-east-1.amazonaws.com/bucket/key", "s3"),
        (f"http://127.0.0.1:{PORT}/bucket/key", None),  # unsigned
    ],
)
def test_other_requests_are_left_to_be_sent(url: str, service: str | None) -> None:
    dispatch = RecordingDispatch(None)
    assert DirectRequests(dispatch, PORT)(_request(url, service)) is None  # type: ignore[arg-type]
    assert dispatch.handed == []


def test_a_request_moto_does_not_serve_is_left_to_be_sent() -> None:
    dispatch = RecordingDispatch(None)
    assert DirectRequests(dispatch, PORT)(_request(f"http://127.0.0.1:{PORT}/x", "kafka")) is None  # type: ignore[arg-type]
