"""The service's one LLM: an OpenAI-compatible chat completions API, configured once, called carefully.

The scene planner, the production runs' ideation and the supervisor chat all ask the same configured model
(`PYTOON_PLANNER_LLM_*`: the variables keep the name of their first user). A call never waits long: one attempt
(a 429 asking for a short wait is retried once), bounded by one deadline for the whole call, connecting and
reading included; the answer's size is bounded. Every failure raises an LlmError whose `reason` is short, safe
to store and show (no key, no provider message), and starts with the caller's subject ("LLM planner …").
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pytoon.aws.secrets import secret
from pytoon.config import ConfigError
from pytoon.errors import PytoonError

ENV_BASE_URL = "PYTOON_PLANNER_LLM_BASE_URL"
ENV_MODEL = "PYTOON_PLANNER_LLM_MODEL"
ENV_API_KEY = "PYTOON_PLANNER_LLM_API_KEY"
ENV_TIMEOUT = "PYTOON_PLANNER_LLM_TIMEOUT_SECONDS"

DEFAULT_TIMEOUT_SECONDS = 20.0
# The plan step's Lambda has 300 s, shared with fetching https media: the LLM gets at most 30 s of it.
MIN_TIMEOUT_SECONDS = 1.0
MAX_TIMEOUT_SECONDS = 30.0
# A 429 is retried once, and only when the provider asks for a wait this short.
MAX_RETRY_AFTER_SECONDS = 2.0
# A 60-scene answer is tens of KB; anything far larger is not an answer the service asked for.
MAX_ANSWER_BYTES = 1024 * 1024
# Reasons are stored and read by the owner of what was asked for: each quoted piece stays short.
MAX_REASON_PART_CHARS = 200

_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Keywords strict structured outputs refuse or ignore; answers are validated against the full schema afterwards.
_STRICT_UNSUPPORTED = frozenset({"$schema", "$id", "title", "default", "minLength"})
_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}


class LlmError(PytoonError):
    """The LLM gave no usable answer; `reason` says why, briefly (callers record it)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class LlmUnavailableError(LlmError):
    """No answer came: not reachable, too slow, or an HTTP error status (`status`, None without a response)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(reason)


class LlmAnswerError(LlmError):
    """An answer came and is not usable: not a chat completion, refused, cut off, filtered, empty or not JSON."""


class LlmConfig(BaseModel):
    """Where the model runs: an OpenAI-compatible API base (`…/v1`), the model, its key, the deadline."""

    model_config = ConfigDict(frozen=True)

    base_url: str
    model: str = Field(min_length=1, max_length=200)
    api_key: str = Field(min_length=1, repr=False)
    timeout_seconds: float = Field(
        default=DEFAULT_TIMEOUT_SECONDS, ge=MIN_TIMEOUT_SECONDS, le=MAX_TIMEOUT_SECONDS, allow_inf_nan=False
    )

    @field_validator("base_url")
    @classmethod
    def _api_base(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL ({exc})") from None
        if not (url.host and (url.scheme == "https" or (url.scheme == "http" and url.host in LOOPBACK_HOSTS))):
            raise ValueError("must be an https URL (plain http only for 127.0.0.1 or localhost)")
        if url.query or url.fragment or url.userinfo:
            raise ValueError("must not carry a query, a fragment or credentials")
        return value.rstrip("/")

    @property
    def completions_url(self) -> str:
        return f"{self.base_url}/chat/completions"


_CONFIG_ENV = {"base_url": ENV_BASE_URL, "model": ENV_MODEL, "timeout_seconds": ENV_TIMEOUT}
_CONFIG_RULES = {
    "base_url": "an https URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1",
    "model": "a model name, e.g. gpt-4o-mini",
    "timeout_seconds": f"a number of seconds from {MIN_TIMEOUT_SECONDS:g} to {MAX_TIMEOUT_SECONDS:g}",
}


def llm_config() -> LlmConfig | None:
    """The LLM's configuration from the environment, or None when it is not configured (LLM off).

    A half-configured or malformed configuration raises ConfigError naming the variable. The key is read with
    `secret()` (the variable, or the Secrets Manager secret its `_SECRET_ARN` names, cached a few minutes), so
    call this per use rather than keeping the result: a rotated key is then picked up without a redeploy.
    """
    base_url, model = os.environ.get(ENV_BASE_URL, "").strip(), os.environ.get(ENV_MODEL, "").strip()
    if not base_url and not model:
        return None
    if not base_url or not model:
        missing = ENV_MODEL if base_url else ENV_BASE_URL
        raise ConfigError(
            f"{missing} is not set: the LLM needs both {ENV_BASE_URL} and {ENV_MODEL} (neither turns it off)"
        )
    api_key = secret(ENV_API_KEY)
    if not api_key:
        raise ConfigError(f"{ENV_API_KEY} (or {ENV_API_KEY}_SECRET_ARN) is not set: the LLM needs its API key")
    timeout = os.environ.get(ENV_TIMEOUT, "").strip()
    try:
        return LlmConfig(
            base_url=base_url, model=model, api_key=api_key, **({"timeout_seconds": timeout} if timeout else {})
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0])
        value = {"base_url": base_url, "model": model, "timeout_seconds": timeout}[field]
        raise ConfigError(
            f"{_CONFIG_ENV[field]} is invalid ({value!r}): {error['msg']}; expected {_CONFIG_RULES[field]}"
        ) from None


# --- strict structured outputs ------------------------------------------------------------------------------


def _json_type(values: list[Any]) -> str | list[str]:
    types = list(dict.fromkeys(_JSON_TYPES[type(v)] for v in values))
    return types[0] if len(types) == 1 else types


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema, also accepting null: structured outputs' strict mode has no optional properties."""
    kind = schema.get("type")
    if kind == "object":
        return {"anyOf": [schema, {"type": "null"}]}
    kinds = kind if isinstance(kind, list) else [kind]
    if "null" in kinds:
        return schema
    nullable = {**schema, "type": [*kinds, "null"]}
    if "enum" in schema:
        nullable["enum"] = [*schema["enum"], None]
    return nullable


def strict_schema(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """`node` in the subset strict structured outputs accept: references (`#/definitions/…`) inlined, every
    property required (an optional one without a default becomes nullable; one with a default must be chosen),
    no extra properties."""
    if "$ref" in node:
        node = definitions[node["$ref"].removeprefix("#/definitions/")]
    strict = {key: value for key, value in node.items() if key not in _STRICT_UNSUPPORTED}
    if "const" in strict:
        strict["enum"] = [strict.pop("const")]
    if "enum" in strict and "type" not in strict:
        strict["type"] = _json_type(strict["enum"])
    if "items" in strict:
        strict["items"] = strict_schema(strict["items"], definitions)
    if "properties" in strict:
        required = set(node.get("required", ()))
        properties = {}
        for name, child in node["properties"].items():
            strict_child = strict_schema(child, definitions)
            optional = name not in required and "default" not in child
            properties[name] = _nullable(strict_child) if optional else strict_child
        strict.update(properties=properties, required=list(properties), additionalProperties=False)
    return strict


def json_schema_format(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A request's `response_format` asking for an answer in `schema` (strict structured outputs)."""
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


# --- the call -----------------------------------------------------------------------------------------------

_T = TypeVar("_T")


def clipped(text: str, limit: int = MAX_REASON_PART_CHARS) -> str:
    """`text` on one line, at most `limit` characters: a piece of a reason."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class _Response:
    status: int
    retry_after: str | None
    body: bytes


def _before(deadline: float, subject: str, timeout_seconds: float, call: Callable[[], _T]) -> _T:
    """`call()`'s result, or a timeout at `deadline` whatever it is doing. httpx bounds each connect and read,
    not a whole request, so the call runs in a worker thread (left to its own timeouts if it overruns)."""
    result: Future[_T] = Future()

    def run() -> None:
        try:
            result.set_result(call())
        except Exception as exc:  # handed to the caller, which maps it
            result.set_exception(exc)

    threading.Thread(target=run, name="llm-call", daemon=True).start()
    try:
        return result.result(timeout=max(0.0, deadline - time.monotonic()))
    except (TimeoutError, httpx.TimeoutException):
        raise LlmUnavailableError(f"{subject} timed out after {timeout_seconds:g} s") from None


def _post(client: httpx.Client, config: LlmConfig, body: dict[str, Any], timeout: float, subject: str) -> _Response:
    headers = {"Authorization": f"Bearer {config.api_key}", "Accept": "application/json"}
    with client.stream("POST", config.completions_url, json=body, headers=headers, timeout=timeout) as response:
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise LlmAnswerError(f"{subject} response larger than {MAX_ANSWER_BYTES // 1024} KiB")
            chunks.append(chunk)
        return _Response(
            status=response.status_code, retry_after=response.headers.get("retry-after"), body=b"".join(chunks)
        )


def _send(client: httpx.Client, config: LlmConfig, body: dict[str, Any], deadline: float, subject: str) -> _Response:
    try:
        return _before(
            deadline,
            subject,
            config.timeout_seconds,
            lambda: _post(client, config, body, max(0.001, deadline - time.monotonic()), subject),
        )
    except httpx.ConnectError:
        raise LlmUnavailableError(
            f"{subject} could not connect to {httpx.URL(config.base_url).netloc.decode()}"
        ) from None
    except httpx.TransportError as exc:
        raise LlmUnavailableError(f"{subject} request failed ({type(exc).__name__})") from None


def _retry_wait(response: _Response, deadline: float) -> float | None:
    """Seconds to wait before the one retry of a 429, or None when it is not worth it."""
    try:
        wait = float(response.retry_after or "")
    except ValueError:
        return None
    if not 0 <= wait <= MAX_RETRY_AFTER_SECONDS or time.monotonic() + wait >= deadline:
        return None
    return wait


def _http_error(response: _Response, subject: str) -> LlmUnavailableError:
    """The provider's error code (OpenAI's `{"error": {"code": …}}`, e.g. insufficient_quota) is short and safe to
    show; its message is neither (it can quote part of the key)."""
    try:
        code = json.loads(response.body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    known = isinstance(code, str) and _ERROR_CODE.fullmatch(code)
    return LlmUnavailableError(f"{subject} HTTP {response.status}" + (f" ({code})" if known else ""), response.status)


def _completion(response: _Response, subject: str) -> dict[str, Any]:
    """The chat completion the provider answered, checked to hold a usable assistant message."""
    try:
        completion = json.loads(response.body)
        choice = completion["choices"][0]
        message = choice["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        message = None
    if not isinstance(message, dict):
        raise LlmAnswerError(f"{subject} response is not a chat completion")
    if message.get("refusal"):
        raise LlmAnswerError(f"{subject} refused: {clipped(str(message['refusal']))}")
    finish = choice.get("finish_reason")
    if finish == "length":
        raise LlmAnswerError(f"{subject} answer cut off (finish_reason length)")
    if finish == "content_filter":
        raise LlmAnswerError(f"{subject} answer withheld by the provider's content filter")
    return completion


def post_chat(
    body: dict[str, Any], config: LlmConfig, *, subject: str = "LLM", client: httpx.Client | None = None
) -> dict[str, Any]:
    """The chat completion for request `body` (model, messages, response_format or tools as the caller sets
    them): the parsed JSON, whose `choices[0].message` is a dict that is neither a refusal nor cut off.

    One attempt (a 429 asking for at most MAX_RETRY_AFTER_SECONDS is retried once), all within
    `config.timeout_seconds`. Any failure raises LlmUnavailableError or LlmAnswerError, their reasons starting
    with `subject` (who asked: "LLM planner", "LLM ideator").
    """
    deadline = time.monotonic() + config.timeout_seconds
    own_client = client is None
    client = client or httpx.Client()
    try:
        response = _send(client, config, body, deadline, subject)
        if response.status == 429 and (wait := _retry_wait(response, deadline)) is not None:
            time.sleep(wait)
            response = _send(client, config, body, deadline, subject)
    finally:
        if own_client:
            client.close()
    if response.status != 200:
        raise _http_error(response, subject)
    return _completion(response, subject)


def message_of(completion: dict[str, Any]) -> dict[str, Any]:
    """The assistant message of a completion `post_chat` returned (its content, or its `tool_calls`)."""
    return completion["choices"][0]["message"]


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def json_answer(completion: dict[str, Any], *, subject: str = "LLM") -> Any:
    """The JSON document the assistant answered (a structured output), or LlmAnswerError."""
    content = message_of(completion).get("content")
    if not isinstance(content, str) or not content.strip():
        raise LlmAnswerError(f"{subject} answer is empty")
    try:
        return json.loads(content, parse_constant=_no_constants)
    except ValueError as exc:
        raise LlmAnswerError(f"{subject} answer is not JSON ({clipped(str(exc), 120)})") from None
