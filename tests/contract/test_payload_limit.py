"""The inline upload limit holds against a real API Gateway REST proxy event.

With `BinaryMediaTypes: */*` API Gateway base64-encodes every body (4 bytes per 3) into the event's `body`,
and Lambda refuses a synchronous invoke whose event exceeds 6,291,456 bytes, headers and request context
included. MAX_INLINE_BODY_BYTES must fit with every realistic header, and the cliff must be where the
arithmetic in src/pytoon/limits.py says it is.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from pytoon.limits import MAX_INLINE_BODY_BYTES

from .test_event_fixtures import load_event

LAMBDA_SYNC_EVENT_LIMIT = 6_291_456  # "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
API_GATEWAY_REST_HEADER_LIMIT = 10_240  # request line and headers, in total
BASE64_QUANTUM = 3  # 3 body bytes become 4 characters


def multipart(event: dict[str, Any], size: int) -> bytes:
    """A browser's multipart upload (category field + one WAV file) of exactly `size` bytes."""
    boundary = event["headers"]["Content-Type"].split("boundary=", 1)[1].encode()
    head = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="category"\r\n\r\naudio\r\n'
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="voiceover.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\n"
    )
    tail = b"\r\n--" + boundary + b"--\r\n"
    return head + b"\x5a" * (size - len(head) - len(tail)) + tail


def invoke_payload(event: dict[str, Any], body: bytes) -> int:
    """The bytes Lambda receives: the event as JSON, with the body base64-encoded as API Gateway sends it."""
    sent = copy.deepcopy(event)
    sent["body"] = base64.b64encode(body).decode("ascii")
    sent["isBase64Encoded"] = True
    for headers in (sent["headers"], sent["multiValueHeaders"]):
        headers["Content-Length"] = str(len(body)) if headers is sent["headers"] else [str(len(body))]
    return len(json.dumps(sent).encode())


def header_bytes(event: dict[str, Any]) -> int:
    request_line = f"{event['httpMethod']} {event['requestContext']['path']} HTTP/1.1\r\n"
    return len(request_line) + sum(len(f"{k}: {v}\r\n") for k, v in event["headers"].items())


def largest_body(event: dict[str, Any]) -> int:
    low, high = 1, 8 * 1024 * 1024  # fits, does not fit
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (
            (middle, high)
            if invoke_payload(event, multipart(event, middle)) <= LAMBDA_SYNC_EVENT_LIMIT
            else (low, middle)
        )
    return low


def test_the_fixture_is_a_base64_multipart_upload_routed_to_the_api() -> None:
    event = load_event("apigw_rest_post_upload.json")
    assert (event["httpMethod"], event["path"], event["resource"]) == ("POST", "/api/v1/assets/upload", "/{proxy+}")
    assert event["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert event["isBase64Encoded"] is True
    assert set(event["headers"]) == set(event["multiValueHeaders"])


def test_a_body_of_the_inline_limit_fits_in_lambdas_event_limit() -> None:
    event = load_event("apigw_rest_post_upload.json")
    body = multipart(event, MAX_INLINE_BODY_BYTES)
    assert len(body) == MAX_INLINE_BODY_BYTES
    size = invoke_payload(event, body)
    assert size <= LAMBDA_SYNC_EVENT_LIMIT
    # The encoded body alone is 6,000,000 bytes: the 4/3 growth is what makes the limit 4.5 MB, not 6 MB.
    assert len(base64.b64encode(body)) == 6_000_000
    print(f"event at MAX_INLINE_BODY_BYTES: {size:,} bytes ({LAMBDA_SYNC_EVENT_LIMIT - size:,} to spare)")


def test_the_limit_holds_with_the_largest_headers_api_gateway_accepts() -> None:
    event = load_event("apigw_rest_post_upload.json")
    # Fill the request up to API Gateway's header limit with a cookie; it appears twice in the event.
    padding = API_GATEWAY_REST_HEADER_LIMIT - header_bytes(event) - len("Cookie: \r\n")
    event["headers"]["Cookie"] = "session=" + "c" * (padding - len("session="))
    event["multiValueHeaders"]["Cookie"] = [event["headers"]["Cookie"]]
    assert header_bytes(event) == API_GATEWAY_REST_HEADER_LIMIT
    assert invoke_payload(event, multipart(event, MAX_INLINE_BODY_BYTES)) <= LAMBDA_SYNC_EVENT_LIMIT


def test_the_cliff_is_just_past_the_largest_body_and_far_below_6_mb() -> None:
    event = load_event("apigw_rest_post_upload.json")
    largest = largest_body(event)
    # One more base64 quantum of body pushes this realistic event over Lambda's limit.
    assert invoke_payload(event, multipart(event, largest)) <= LAMBDA_SYNC_EVENT_LIMIT
    assert invoke_payload(event, multipart(event, largest + 1)) > LAMBDA_SYNC_EVENT_LIMIT
    assert invoke_payload(event, multipart(event, largest + BASE64_QUANTUM)) > LAMBDA_SYNC_EVENT_LIMIT
    # The declared limit sits below the cliff with room for the largest headers even if every character
    # were JSON-escaped (6 bytes), twice over (headers and multiValueHeaders), and far below the 6 MB a 413
    # used to name: a 6 MB body never reached the app at all.
    headroom_in_event = (largest - MAX_INLINE_BODY_BYTES) * 4 // 3
    assert headroom_in_event > 2 * 6 * API_GATEWAY_REST_HEADER_LIMIT
    assert largest < 4_750_000
    assert invoke_payload(event, multipart(event, 6 * 1024 * 1024)) > LAMBDA_SYNC_EVENT_LIMIT
    print(f"largest body this event can carry: {largest:,} bytes; MAX_INLINE_BODY_BYTES = {MAX_INLINE_BODY_BYTES:,}")
