"""A fake OpenAI-compatible chat completions API on 127.0.0.1, a real HTTP server in a thread.

It behaves like the provider where the LLM planner depends on it: `POST /v1/chat/completions` needs
`Authorization: Bearer <key>` (401 with OpenAI's error body otherwise) and a `response_format` of type
`json_schema` with `strict: true` and a schema strict mode accepts (400 otherwise, as the provider refuses such
a request before generating anything); it answers a `chat.completion` object with what the test scripted.

    with fake_openai_chat() as fake:
        fake.answer(scene_graph_document)              # the model's JSON answer (a dict, or raw text)
        fake.fail(503)                                 # or an error status, a refusal, a slow answer…
        monkeypatch.setenv("PYTOON_PLANNER_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("PYTOON_PLANNER_LLM_API_KEY", fake.api_key)
        ...
        fake.requests[0].body["messages"]              # what the client sent

Scripted answers are used in order, one per request; a request with none left gets a 500 saying so.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_API_KEY = "sk-fake-planner-key"
COMPLETIONS_PATH = "/v1/chat/completions"
# The keywords the provider's strict structured outputs accept; anything else is refused with a 400.
STRICT_KEYWORDS = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "enum", "anyOf", "description",
        "$ref", "$defs", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minItems", "maxItems", "pattern", "format",
    }
)  # fmt: skip


@dataclass(frozen=True)
class ScriptedAnswer:
    """One scripted reply. `status` 200 answers a chat completion; any other an OpenAI error body."""

    status: int = 200
    content: str | None = None
    refusal: str | None = None
    finish_reason: str = "stop"
    headers: dict[str, str] = field(default_factory=dict)
    error_code: str | None = None
    # Wait this long before answering (cut short when the fake stops, so a timed-out test ends at once).
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # the parsed JSON, or None when the body was not JSON


def strict_schema_problems(schema: Any, where: str = "schema") -> list[str]:
    """Why the provider's strict mode would refuse this schema (an empty list when it would accept it)."""
    if not isinstance(schema, dict):
        return [f"{where}: not an object"]
    problems = [f"{where}: '{key}' is not permitted in strict mode" for key in schema if key not in STRICT_KEYWORDS]
    if "properties" in schema:
        properties = schema["properties"]
        if schema.get("additionalProperties") is not False:
            problems.append(f"{where}: 'additionalProperties' must be false")
        missing = [name for name in properties if name not in schema.get("required", [])]
        if missing:
            problems.append(f"{where}: every property must be required, missing {missing}")
        for name, child in properties.items():
            problems += strict_schema_problems(child, f"{where}.properties.{name}")
    elif schema.get("type") == "object" or "object" in (schema.get("type") or []):
        problems.append(f"{where}: an object needs its properties")
    if "items" in schema:
        problems += strict_schema_problems(schema["items"], f"{where}.items")
    for n, variant in enumerate(schema.get("anyOf", [])):
        problems += strict_schema_problems(variant, f"{where}.anyOf[{n}]")
    for name, definition in schema.get("$defs", {}).items():
        problems += strict_schema_problems(definition, f"{where}.$defs.{name}")
    return problems


def _error_body(message: str, error_type: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


class FakeOpenAIChat:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.requests: list[ReceivedRequest] = []
        self._answers: deque[ScriptedAnswer] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # --- scripting ---

    def script(self, answer: ScriptedAnswer) -> None:
        with self._lock:
            self._answers.append(answer)

    def answer(self, content: dict[str, Any] | str, *, finish_reason: str = "stop", delay_seconds: float = 0.0) -> None:
        """The model answers `content` (a document is sent as its JSON text, a string as it is)."""
        text = content if isinstance(content, str) else json.dumps(content)
        self.script(ScriptedAnswer(content=text, finish_reason=finish_reason, delay_seconds=delay_seconds))

    def refuse(self, refusal: str) -> None:
        self.script(ScriptedAnswer(refusal=refusal))

    def fail(self, status: int, *, retry_after: str | None = None, code: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.script(ScriptedAnswer(status=status, headers=headers, error_code=code))

    # --- serving ---

    def _next(self) -> ScriptedAnswer | None:
        with self._lock:
            return self._answers.popleft() if self._answers else None

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def respond(self, request: ReceivedRequest) -> tuple[int, dict[str, str], dict[str, Any]]:
        """(status, headers, JSON body) for one request, as the provider would answer it."""
        if request.method != "POST" or request.path != COMPLETIONS_PATH:
            return (
                404,
                {},
                _error_body(
                    f"Unknown request URL: {request.method} {request.path}", "invalid_request_error", "unknown_url"
                ),
            )
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {}, _error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        problem = self._request_problem(request.body)
        if problem:
            return 400, {}, _error_body(problem, "invalid_request_error", None, "response_format")
        scripted = self._next()
        if scripted is None:
            return 500, {}, _error_body("the fake has no scripted answer left", "server_error", None)
        if scripted.delay_seconds:
            self._stopping.wait(scripted.delay_seconds)
        if scripted.status != 200:
            code = scripted.error_code or {429: "rate_limit_exceeded"}.get(scripted.status)
            kind = "requests" if scripted.status == 429 else "server_error"
            return scripted.status, scripted.headers, _error_body(f"scripted HTTP {scripted.status}", kind, code)
        completion = {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": request.body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": scripted.content, "refusal": scripted.refusal},
                    "logprobs": None,
                    "finish_reason": scripted.finish_reason,
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return 200, scripted.headers, completion

    @staticmethod
    def _request_problem(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "the body must be a JSON object"
        if not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
            return "'model' and 'messages' are required"
        response_format = body.get("response_format") or {}
        if response_format.get("type") != "json_schema":
            return "response_format.type must be 'json_schema'"
        spec = response_format.get("json_schema") or {}
        if not isinstance(spec.get("name"), str) or spec.get("strict") is not True:
            return "response_format.json_schema needs a name and strict: true"
        schema = spec.get("schema")
        if not isinstance(schema, dict) or schema.get("type") != "object" or "anyOf" in schema:
            return "response_format.json_schema.schema must be an object schema (no anyOf at the root)"
        problems = strict_schema_problems(schema)
        return f"Invalid schema for response_format 'scene_graph': {'; '.join(problems)}" if problems else None


def _handler(fake: FakeOpenAIChat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            request = ReceivedRequest(
                method=self.command,
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
            )
            fake._record(request)
            status, headers, payload = fake.respond(request)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timed-out request)

        do_POST = do_GET = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            pass

    return Handler


@contextmanager
def fake_openai_chat(api_key: str = DEFAULT_API_KEY) -> Iterator[FakeOpenAIChat]:
    """Serve a fake chat completions API on a free 127.0.0.1 port; yields it (`base_url` ends in /v1)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    fake = FakeOpenAIChat(f"http://127.0.0.1:{server.server_address[1]}/v1", api_key)
    server.RequestHandlerClass = _handler(fake)
    # A short poll interval: stopping the fake (once per test) waits for one poll.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-openai-chat", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake._stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
