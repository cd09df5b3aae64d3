"""A fake OpenAI chat completions API on 127.0.0.1, a real HTTP server in a thread.

It checks a request as the provider does: `POST /v1/chat/completions` needs `Authorization: Bearer <key>` (401
with OpenAI's error body otherwise, the key masked in its message), a `model` and `messages` (a `tool` message
answering a tool call the conversation made), a `response_format` of type text, json_object or json_schema, and
for json_schema with `strict: true` (and for strict tools) a schema strict mode accepts (400 otherwise, as the
provider refuses such a request before generating anything). It answers a `chat.completion` object.

What it answers is scripted, in order, one per request: content, a refusal, tool calls, an error status (a 429
with Retry-After), a slow answer. With nothing scripted it answers as a model following the service's rules
would, so `pytoon serve --fake-providers` runs the LLM paths without a script: a structured request for
production-run ideas (schema `production_ideas`) gets ideas made from the brief in the user message, one for
a scene graph (schema `scene_graph`) a plan of the job's scene texts and media; any other request a 500.

    with fake_openai_chat() as fake:
        fake.answer(ideas_document)              # the model's JSON answer (a dict, or raw text)
        fake.fail(429, retry_after="1")          # or fake.refuse("…"), fake.call_tools(("start_run", {...}))
        monkeypatch.setenv("PYTOON_PLANNER_LLM_BASE_URL", fake.api_url)
        monkeypatch.setenv("PYTOON_PLANNER_LLM_API_KEY", fake.api_key)
        ...
        fake.requests[0].json["messages"]        # what the client sent
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from jsonschema.validators import validator_for

from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve

DEFAULT_API_KEY = "sk-fake-openai-chat-key"
COMPLETIONS_PATH = "/v1/chat/completions"
CREATED = 1_767_225_600
# The keywords the provider's strict structured outputs accept; anything else is refused with a 400.
STRICT_KEYWORDS = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "enum", "anyOf", "description",
        "$ref", "$defs", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minItems", "maxItems", "pattern", "format",
    }
)  # fmt: skip
RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_WORD = re.compile(r"[^\W\d_][\w'-]*")
_NOT_IN_HASHTAG = re.compile(r"\W")


@dataclass(frozen=True)
class ScriptedAnswer:
    """One scripted reply. `status` 200 answers a chat completion; any other an OpenAI error body."""

    status: int = 200
    content: str | None = None
    refusal: str | None = None
    # (name, arguments) of each tool the model calls; the message then has no content.
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    finish_reason: str = "stop"
    headers: dict[str, str] = field(default_factory=dict)
    error_code: str | None = None
    # Wait this long before answering (cut short when the fake stops, so a timed-out test ends at once).
    delay_seconds: float = 0.0


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


def _error(
    status: int,
    message: str,
    error_type: str,
    code: str | None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    return Reply.json(
        status, {"error": {"message": message, "type": error_type, "param": param, "code": code}}, headers
    )


def _invalid(message: str, param: str | None = None) -> Reply:
    return _error(400, message, "invalid_request_error", None, param)


def _masked(key: str) -> str:
    return f"{key[:3]}{'*' * max(0, len(key) - 7)}{key[-4:]}" if len(key) > 8 else "*" * len(key)


class FakeOpenAIChat(LoopbackFake):
    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self._answers: deque[ScriptedAnswer] = deque()

    @property
    def api_url(self) -> str:
        """The API base a client is configured with (OpenAI's is https://api.openai.com/v1)."""
        return f"{self.base_url}/v1"

    # --- scripting -------------------------------------------------------------------------------------

    def script(self, answer: ScriptedAnswer) -> None:
        with self.lock:
            self._answers.append(answer)

    def answer(self, content: dict[str, Any] | str, *, finish_reason: str = "stop", delay_seconds: float = 0.0) -> None:
        """The model answers `content` (a document is sent as its JSON text, a string as it is)."""
        text = content if isinstance(content, str) else json.dumps(content)
        self.script(ScriptedAnswer(content=text, finish_reason=finish_reason, delay_seconds=delay_seconds))

    def refuse(self, refusal: str) -> None:
        self.script(ScriptedAnswer(refusal=refusal))

    def call_tools(self, *calls: tuple[str, dict[str, Any]]) -> None:
        """The model calls these tools, (name, arguments) each, in one assistant message."""
        self.script(ScriptedAnswer(tool_calls=calls, finish_reason="tool_calls"))

    def fail(self, status: int, *, retry_after: str | None = None, code: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.script(ScriptedAnswer(status=status, headers=headers, error_code=code))

    # --- the API ---------------------------------------------------------------------------------------

    def respond(self, request: ReceivedRequest) -> Reply:
        if request.method != "POST" or request.path != COMPLETIONS_PATH:
            message = f"Unknown request URL: {request.method} {request.path}. Please check the URL for typos."
            return _error(404, message, "invalid_request_error", "unknown_url")
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer ") or not authorization.removeprefix("Bearer ").strip():
            message = "You didn't provide an API key. You need to provide your API key in an Authorization header."
            return _error(401, message, "invalid_request_error", None)
        given = authorization.removeprefix("Bearer ").strip()
        if given != self.api_key:
            message = f"Incorrect API key provided: {_masked(given)}. You can find your API key in your account."
            return _error(401, message, "invalid_request_error", "invalid_api_key")
        body = request.json
        refusal = _body_refusal(body)
        if refusal is not None:
            return refusal
        with self.lock:
            scripted = self._answers.popleft() if self._answers else None
        if scripted is None:
            return self._unscripted(body)
        if scripted.delay_seconds:
            self.stopping.wait(scripted.delay_seconds)
        if scripted.status != 200:
            code = scripted.error_code or {429: "rate_limit_exceeded"}.get(scripted.status)
            kind = "requests" if scripted.status == 429 else "server_error"
            return _error(scripted.status, f"scripted HTTP {scripted.status}", kind, code, headers=scripted.headers)
        if scripted.tool_calls:
            message = _tool_calls_message(scripted.tool_calls)
        else:
            message = {"role": "assistant", "content": scripted.content, "refusal": scripted.refusal}
        return self._completion(body, message, scripted.finish_reason, scripted.headers)

    def _completion(
        self, body: dict[str, Any], message: dict[str, Any], finish_reason: str, headers: dict[str, str] | None = None
    ) -> Reply:
        completion = {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": CREATED,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return Reply.json(200, completion, headers)

    def _unscripted(self, body: dict[str, Any]) -> Reply:
        """What a model following the service's rules answers a structured request it knows, unscripted."""
        spec = (body.get("response_format") or {}).get("json_schema") or {}
        schema = spec.get("schema") or {}
        try:
            asked = json.loads(body["messages"][-1]["content"])
        except (ValueError, KeyError, IndexError, TypeError):
            asked = None
        makers = {"production_ideas": _ideas_answer, "scene_graph": _scene_graph_answer}
        maker = makers.get(spec.get("name"))
        if maker is None and body.get("tools"):
            answer = _tool_answer(body["messages"], [tool["function"] for tool in body["tools"]])
            if isinstance(answer, str):
                return self._completion(body, _content_message(answer), "stop")
            return self._completion(body, _tool_calls_message([answer]), "tool_calls")
        if maker is None or not isinstance(asked, dict):
            return _error(500, "the fake has no scripted answer left", "server_error", None)
        document = maker(asked, schema)
        return self._completion(body, _content_message(json.dumps(document)), "stop")


def _content_message(content: str) -> dict[str, Any]:
    return {"role": "assistant", "content": content, "refusal": None}


def _tool_calls_message(calls: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The assistant message calling these tools, (name, arguments) each, with no content."""
    tool_calls = [
        {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
        for n, (name, arguments) in enumerate(calls, start=1)
    ]
    return {"role": "assistant", "content": None, "refusal": None, "tool_calls": tool_calls}


def _body_refusal(body: Any) -> Reply | None:
    """The provider's 400 for a request body it refuses, else None."""
    if not isinstance(body, dict):
        return _invalid("We could not parse the JSON body of your request.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return _invalid("you must provide a model parameter", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _invalid("'messages' must be a non-empty array", "messages")
    called: set[str] = set()
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return _invalid(f"Invalid value for 'messages[{n}].role'", f"messages.[{n}].role")
        if message["role"] == "assistant":
            called |= {call.get("id") for call in message.get("tool_calls") or [] if isinstance(call, dict)}
        if message["role"] == "tool" and message.get("tool_call_id") not in called:
            return _invalid(
                "Invalid parameter: messages with role 'tool' must be a response to a preceding message with "
                "'tool_calls'.",
                f"messages.[{n}].role",
            )
    tools = body.get("tools")
    if tools is not None:
        refusal = _tools_refusal(tools)
        if refusal is not None:
            return refusal
    response_format = body.get("response_format")
    if response_format is None:
        return None
    if not isinstance(response_format, dict) or response_format.get("type") not in RESPONSE_FORMATS:
        return _invalid("Invalid value for 'response_format.type'", "response_format")
    if response_format["type"] != "json_schema":
        return None
    spec = response_format.get("json_schema")
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("name"), str)
        or not _FUNCTION_NAME.fullmatch(spec["name"])
    ):
        return _invalid("response_format.json_schema needs a name of letters, digits, _ or -", "response_format")
    schema = spec.get("schema")
    if spec.get("strict") is not True:
        return None
    if not isinstance(schema, dict) or schema.get("type") != "object" or "anyOf" in schema:
        return _invalid("Invalid schema: the root must be an object schema, not anyOf", "response_format")
    problems = strict_schema_problems(schema)
    if problems:
        return _invalid(
            f"Invalid schema for response_format '{spec['name']}': {'; '.join(problems)}", "response_format"
        )
    return None


def _tools_refusal(tools: Any) -> Reply | None:
    if not isinstance(tools, list):
        return _invalid("'tools' must be an array", "tools")
    for n, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not _FUNCTION_NAME.fullmatch(str(function.get("name", ""))):
            return _invalid(f"Invalid 'tools[{n}]': a function with a name of letters, digits, _ or -", f"tools[{n}]")
        if function.get("strict") is True:
            problems = strict_schema_problems(function.get("parameters"), f"tools[{n}].function.parameters")
            if problems:
                return _invalid(f"Invalid schema for function '{function['name']}': {'; '.join(problems)}")
    return None


# --- unscripted answers ---------------------------------------------------------------------------------------


def _ideas_answer(asked: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Production-run ideas from the ideation request's brief, in the counts its schema asks for."""
    properties = schema.get("properties", {})
    count = int(properties.get("clips", {}).get("minItems", 1))
    words = _WORD.findall(str(asked.get("brief", "")))[:6] or ["this", "idea"]
    subject = " ".join(words)
    upper = bool(asked.get("captions_uppercase"))
    tags = list(dict.fromkeys(f"#{_NOT_IN_HASHTAG.sub('', word).lower()}" for word in words if len(word) > 3))[:2]
    project_tags = [tag for tag in asked.get("project_hashtags") or [] if tag.lower() not in tags]
    speaks = properties.get("voice_script", {}).get("type") == "string"
    clips = [
        {
            "prompt": f"Shot {n} of {count}: {subject}, one continuous cinematic shot, natural light",
            "caption": f"Shot {n}.".upper() if upper else f"Shot {n}.",
        }
        for n in range(1, count + 1)
    ]
    return {
        "title": f"{subject[:1].upper()}{subject[1:]}, in {count} shots",
        "hook": f"Here is {subject}.",
        "clips": clips,
        "hashtags": [*tags, *project_tags][:3] or ["#video"],
        "voice_script": " ".join(f"Shot {n}." for n in range(1, count + 1)) if speaks else None,
    }


def _scene_graph_answer(asked: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A plan of the job's scene texts over its media, in order, the length shared out evenly."""
    count = int(schema["properties"]["scenes"]["minItems"])
    total = int(asked.get("total_duration_ms") or count * 1000)
    media = [item for item in asked.get("media") or [] if isinstance(item, dict)]
    texts = list(asked.get("scene_texts") or [])
    durations = [total // count] * count
    durations[-1] += total - sum(durations)
    scenes = []
    for index in range(count):
        item = media[index % len(media)] if media else None
        scenes.append(
            {
                "id": index + 1,
                "description": f"Scene {index + 1}",
                "duration": durations[index],
                "media": {"type": item["kind"], "asset": item["asset"]} if item else {"type": "image", "asset": None},
                "caption": texts[index] if index < len(texts) else "",
                "transition": "fade",
            }
        )
    return {"version": "2.0", "scenes": scenes}


# --- unscripted tool use ------------------------------------------------------------------------------------

_FLAGS = re.IGNORECASE | re.DOTALL
_RUN_ID_TOKEN = r"(?<![\w-])(?:[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})(?![\w-])"
_HELP = re.compile(r"\b(?:help|what can you do)\b", _FLAGS)
# What the tenant asks, by keywords, with the words of the tool name that does it ("start" finds start_run),
# in the order they are tried: "approve <id>" names a run yet decides its gate.
_INTENTS: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = (
    (re.compile(r"\b(?:approve|accept|reject|decline)\b", _FLAGS), frozenset({"approve", "decide"})),
    (re.compile(r"\b(?:start|make|create|produce|generate)\b", _FLAGS), frozenset({"start", "create"})),
    (re.compile(r"\bprojects?\b", _FLAGS), frozenset({"project", "projects"})),
    (re.compile(rf"\b(?:status|how is|how's|doing)\b|{_RUN_ID_TOKEN}", _FLAGS), frozenset({"get", "show"})),
    (re.compile(r"\b(?:list|what is|what's|running|waiting|runs|failed|completed)\b", _FLAGS), frozenset({"list"})),
)
_SAYS_NO = re.compile(r"\b(?:reject|decline|deny|refuse)\b", _FLAGS)
_REASON = re.compile(r"\b(?:because|since)\s+(?P<reason>.+)", _FLAGS)
_LEADING_VERB = re.compile(r"^\W*(?:please\s+)?(?:start|make|create|produce|generate)\s+(?:me\s+)?", _FLAGS)
_TRAILING_PLEASE = re.compile(r"[\s,]*\bplease\W*$", _FLAGS)
# The words around a choice named in free text: "… for the aismr project".
_BEFORE_CHOICE = frozenset({"for", "in", "on", "of", "the", "my"})
_AFTER_CHOICE = frozenset({"project", "channel"})


class _Lacking(Exception):
    """The message does not give this argument: the model asks for it instead of calling the tool."""


def _tool_answer(messages: list[dict[str, Any]], functions: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | str:
    """What a model following the supervisor's prompt answers: a tool call (name, arguments) for the user's
    last message, or its text (a summary of the tool results that came back, help, a question, a refusal)."""
    last = messages[-1]
    if last["role"] == "tool":
        since_call = next(n for n in range(len(messages) - 1, -1, -1) if messages[n]["role"] != "tool") + 1
        return _results_summary([_text(message) for message in messages[since_call:]])
    offered = "I can:\n" + "\n".join(f"- {f.get('description') or f['name']}" for f in functions)
    text = _text(last) if last["role"] == "user" else ""
    if _HELP.search(text):
        return offered
    tool_words = next((words for asks, words in _INTENTS if asks.search(text)), frozenset())
    function = next((f for f in functions if tool_words & set(re.split(r"[\W_]+", f["name"].lower()))), None)
    if function is None:
        return "I cannot do that. " + offered
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    try:
        arguments = _arguments(parameters, text, messages)
    except _Lacking as lacking:
        return str(lacking)
    if not validator_for(parameters)(parameters).is_valid(arguments):
        return "I cannot do that. " + offered
    return function["name"], arguments


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def _arguments(parameters: dict[str, Any], text: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Each property from the message: an enum's value it names, a run id it gives (else the one the
    conversation named last), yes unless it says no, a nullable text its reason, a text what it says besides."""
    properties: dict[str, Any] = parameters.get("properties") or {}
    named = [value for schema in properties.values() for value in _named_choices(schema, text)]
    arguments: dict[str, Any] = {}
    for name, schema in properties.items():
        types = schema.get("type")
        types = {types} if isinstance(types, str) else set(types or ())
        if "enum" in schema:
            choices = _named_choices(schema, text)
            if len(choices) == 1 or (not choices and "null" in types):
                arguments[name] = choices[0] if choices else None
                continue
            listed = ", ".join(str(value) for value in schema["enum"] if value is not None)
            raise _Lacking(f"Which {name.replace('_', ' ')}: {listed}?")
        if name == "id" or name.endswith("_id"):
            arguments[name] = _mentioned_id(name, text, messages)
        elif "boolean" in types:
            arguments[name] = not _SAYS_NO.search(text)
        elif "string" in types and "null" in types:
            reason = _REASON.search(text)
            arguments[name] = reason["reason"].strip(" .") if reason else None
        elif "string" in types:
            arguments[name] = _said_besides(text, named)
            if not arguments[name]:
                raise _Lacking(f"What should the {name.replace('_', ' ')} be?")
        else:
            raise _Lacking(f"I cannot fill in {name.replace('_', ' ')}.")
    return arguments


def _named_choices(schema: dict[str, Any], text: str) -> list[str]:
    if "enum" not in schema:
        return []
    said = re.findall(r"[a-z0-9]+", text.lower())
    return [
        value
        for value in schema["enum"]
        if isinstance(value, str) and all(any(_near(part, word) for word in said) for part in _parts(value))
    ]


def _parts(value: str) -> list[str]:
    return [part for part in re.split(r"[\W_]+", value.lower()) if part]


def _near(part: str, word: str) -> bool:
    """A word said for a part of a choice: itself, or one sharing its stem ("waiting" for "awaiting", "ideas"
    for "ideation", "approve" for "approval")."""
    if part == word:
        return True
    return min(len(part), len(word)) >= 4 and (part in word or word in part or part[:4] == word[:4])


def _mentioned_id(name: str, text: str, messages: list[dict[str, Any]]) -> str:
    """The id the message gives, else the one the conversation named last (a tool result, the reply that
    quoted it, the system prompt's last run); never an invented one."""
    for message in reversed(messages):
        found = re.search(_RUN_ID_TOKEN, _text(message), _FLAGS)
        if found:
            return found[0]
    thing = name.removesuffix("_id").replace("_", " ") or "one"
    raise _Lacking(f"Which {thing} do you mean? Give me its id.")


def _said_besides(text: str, choices: list[str]) -> str:
    """The message without its leading verb and the choices it names ("make rain for aismr" → "rain")."""
    kept: list[str] = []
    skipping_after = False
    for word in _TRAILING_PLEASE.sub("", _LEADING_VERB.sub("", text)).split():
        bare = re.sub(r"\W", "", word.lower())
        if any(_near(part, bare) for choice in choices for part in _parts(choice)):
            while kept and kept[-1].lower() in _BEFORE_CHOICE:
                kept.pop()
            skipping_after = True
        elif not (skipping_after and bare in _AFTER_CHOICE):
            kept.append(word)
            skipping_after = False
    return " ".join(kept).strip(" \"'.,;:!?")


def _results_summary(results: list[str]) -> str:
    """The tool results in plain words: each error, each run (id, project, brief, status), how many were
    found, each list of names."""
    lines: list[str] = []
    for content in results:
        try:
            result = json.loads(content)
        except ValueError:
            result = content
        if not isinstance(result, dict):
            lines.append(str(result))
            continue
        if "error" in result:
            lines.append(f"That did not work: {result['error']}.")
        records = list(_records(result))
        if isinstance(result.get("count"), int):
            lines.append(f"Found {result['count']}:" if result["count"] else "Found none.")
        lines += [_record_line(record) for record in records]
        lines += [
            f"{key.replace('_', ' ').capitalize()}: {', '.join(value)}."
            for key, value in result.items()
            if isinstance(value, list) and value and all(isinstance(item, str) for item in value)
        ]
    return "\n".join(lines) or "Done."


def _records(value: Any) -> Iterator[dict[str, Any]]:
    """The objects with a status in a tool result (a run, the runs of a list)."""
    if isinstance(value, dict):
        if "status" in value:
            yield value
            return
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from _records(item)


def _record_line(record: dict[str, Any]) -> str:
    key, identifier = next(((k, v) for k, v in record.items() if k == "id" or k.endswith("_id")), ("id", "?"))
    what = key.removesuffix("_id").replace("_", " ").capitalize() if key != "id" else "It"
    shown = [part for part in ("project", "brief") if record.get(part)]
    about = ": ".join(f"“{record[part]}”" if part == "brief" else str(record[part]) for part in shown)
    line = f"{what} {identifier}{f' ({about})' if about else ''} is {record['status']}"
    return line + (f" (why: {record['error']})" if record.get("error") else "") + "."


@contextmanager
def fake_openai_chat(api_key: str = DEFAULT_API_KEY) -> Iterator[FakeOpenAIChat]:
    """Serve the fake on a free 127.0.0.1 port; yields it (`api_url` ends in /v1, like OpenAI's base URL)."""
    with serve(FakeOpenAIChat(api_key), name="fake-openai-chat") as fake:
        yield fake
