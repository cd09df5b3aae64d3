"""API Gateway's webhook routes for `pytoon serve`: on AWS, `POST /webhooks/{provider}` and
`POST /v1/webhooks/{provider}` reach WebhooksFunction, never the FastAPI app. Locally the gateway is an ASGI
wrapper in front of the app: a request on one of WebhooksFunction's routes (read from the template's `Api`
events) becomes a REST proxy event (raw body base64-encoded, as the API's `*/*` binary media type makes API
Gateway send it), the function is invoked through the embedded Lambda API, and its status, headers and body
are the answer. Every other request goes to the app unchanged.

    app = WebhooksGateway.for_embedded(create_app(), embedded)   # what uvicorn serves
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import anyio.to_thread

from pytoon.aws import client
from pytoon.local.template import load_template

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from pytoon.local.embedded import EmbeddedAWS

WEBHOOKS_FUNCTION = "WebhooksFunction"
# What API Gateway answers when the function fails or returns something that is not a proxy response (502), or
# cannot be invoked at all (500).
_GATEWAY_ERROR_BODY = json.dumps({"message": "Internal server error"}).encode()


@dataclass(frozen=True)
class FunctionRoute:
    """One `Api` event of a function: a method and a resource path such as `/v1/webhooks/{provider}`."""

    method: str
    resource: str

    def path_parameters(self, method: str, path: str) -> dict[str, str] | None:
        """The `{name}` segments of `path` when this route takes the request, else None."""
        if self.method not in ("ANY", method):
            return None
        # A `{name}` is one whole, non-empty path segment, as in API Gateway.
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.resource))
        matched = re.fullmatch(pattern, path)
        return matched.groupdict() if matched else None


def function_routes(template: dict[str, Any], logical_id: str) -> list[FunctionRoute]:
    """The routes the template's API sends to function `logical_id`."""
    events = template["Resources"][logical_id]["Properties"].get("Events", {})
    return [
        FunctionRoute(event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for event in events.values()
        if event["Type"] == "Api"
    ]


def _stage_name(template: dict[str, Any]) -> str:
    return template.get("Parameters", {}).get("ApiStageName", {}).get("Default", "prod")


class WebhooksGateway:
    """The ASGI app `pytoon serve` runs: WebhooksFunction's routes to the function, the rest to `app`."""

    def __init__(self, app: ASGIApp, *, function_arn: str, routes: list[FunctionRoute], stage: str, region: str):
        self.app = app
        self.function_arn = function_arn
        self.routes = routes
        self.stage = stage
        self.region = region

    @classmethod
    def for_embedded(cls, app: ASGIApp, embedded: EmbeddedAWS, template_path: Path | None = None) -> WebhooksGateway:
        """In front of `app`, for the started embedded stack (its template unless another is named)."""
        assert embedded.stack is not None, "start the embedded stack first"
        template = load_template(template_path or embedded.template_path)
        return cls(
            app,
            function_arn=embedded.stack.function_arns[WEBHOOKS_FUNCTION],
            routes=function_routes(template, WEBHOOKS_FUNCTION),
            stage=_stage_name(template),
            region=embedded.stack.region,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.routes:
                parameters = route.path_parameters(scope["method"], scope["path"])
                if parameters is not None:
                    await self._to_function(route, parameters, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _to_function(
        self, route: FunctionRoute, parameters: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the caller gave up before sending the whole body: nothing to invoke
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        event = proxy_event(route, parameters, scope, bytes(body), self.stage)
        status, headers, answer = await anyio.to_thread.run_sync(self._invoke, event)
        headers.append((b"x-amzn-requestid", event["requestContext"]["requestId"].encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    def _invoke(self, event: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            invoked = client("lambda", self.region).invoke(
                FunctionName=self.function_arn, Payload=json.dumps(event).encode()
            )
        except (BotoCoreError, ClientError):
            return _gateway_error(500)
        payload = invoked["Payload"].read()
        response = None if invoked.get("FunctionError") else _proxy_response(payload)
        return response or _gateway_error(502)


def _gateway_error(status: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(_GATEWAY_ERROR_BODY)).encode())]
    return status, headers, _GATEWAY_ERROR_BODY


def proxy_event(
    route: FunctionRoute, parameters: dict[str, str], scope: Scope, body: bytes, stage: str
) -> dict[str, Any]:
    """The REST API proxy event API Gateway sends the function for this request."""
    multi_headers: dict[str, list[str]] = {}
    for name, value in scope["headers"]:
        multi_headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    method = scope["method"]
    return {
        "resource": route.resource,
        "path": scope["path"],
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.resource,
            "httpMethod": method,
            "path": f"/{stage}{scope['path']}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
            "identity": {"sourceIp": (scope.get("client") or ("127.0.0.1", 0))[0]},
        },
        # Every content type is binary on the API (`*/*`), so a body always arrives base64-encoded.
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


def _proxy_response(payload: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
    """Status, headers and body of a proxy integration response, or None when it is not one. A header named in
    both `headers` and `multiValueHeaders` takes the multi-valued list, as API Gateway merges them; the length is
    the gateway's own."""
    try:
        response = json.loads(payload)
        status = response["statusCode"]
        if not isinstance(status, int):
            return None
        body = response.get("body") or ""
        content = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        merged = {str(name).lower(): [str(value)] for name, value in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            merged[str(name).lower()] = [str(value) for value in values]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    merged["content-length"] = [str(len(content))]
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, values in merged.items() for value in values]
    return status, headers, content
