"""The route class every router uses: JSON bodies are parsed strictly.

Python's json accepts `NaN`, `Infinity`, `-Infinity` and turns `1e400` into infinity; none of them is JSON, no
field here can hold them, and echoing one back made the error response itself unencodable. They are refused
as invalid JSON (422) before validation, like any other syntax error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

# CPython refuses longer integer literals anyway (with an error that is not a JSON error).
MAX_INTEGER_DIGITS = 4300


def _position(doc: str, token: str) -> int:
    """Where `token` first appears outside a string (error position for the client)."""
    in_string = escaped = False
    for index, char in enumerate(doc):
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif doc.startswith(token, index):
            return index
    return 0


def strict_loads(doc: str | bytes) -> Any:
    if isinstance(doc, bytes):
        try:
            text = doc.decode(json.detect_encoding(doc))
        except UnicodeDecodeError as exc:
            shown = doc.decode("latin-1")
            raise json.JSONDecodeError(f"the body is not {exc.encoding} text", shown, exc.start) from exc
    else:
        text = doc

    def refuse(token: str, why: str) -> None:
        raise json.JSONDecodeError(f"{token} is not valid JSON: {why}", text, _position(text, token))

    def constant(token: str) -> None:
        refuse(token, "non-finite numbers are not allowed")

    def finite_float(token: str) -> float:
        value = float(token)
        if not math.isfinite(value):
            refuse(token, "the number is out of range")
        return value

    def bounded_int(token: str) -> int:
        if len(token) > MAX_INTEGER_DIGITS:
            refuse(token[:20] + "…", f"integers may have at most {MAX_INTEGER_DIGITS} digits")
        return int(token)

    return json.loads(text, parse_constant=constant, parse_float=finite_float, parse_int=bounded_int)


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_loads(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler


def api_router(**kwargs: Any) -> APIRouter:
    """A router for one resource; `create_app` refuses routes that do not parse JSON strictly."""
    return APIRouter(route_class=StrictJsonRoute, **kwargs)
