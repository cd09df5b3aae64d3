"""A local Lambda runtime behind moto's Lambda service.

moto stores functions but can only run them in Docker. This runtime takes over moto's invoke: each
function declared in template.yaml is routed to its real handler, in this process, with the same event
and a Lambda-like context. A handler exception becomes a Lambda function error (FunctionError +
errorType/errorMessage payload), exactly what Step Functions sees in AWS; it never crashes the engine.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.core.exceptions import JsonRESTError

from pytoon.local.template import FunctionDef


class InjectedHandlerError(RuntimeError):
    """Raised in place of a handler by `inject_handler_errors`: a crash of the function's own code."""


class LambdaServiceException(JsonRESTError):
    """What Lambda itself returns on an internal fault: HTTP 500, code ServiceException."""

    code = 500

    def __init__(self, message: str) -> None:
        super().__init__("ServiceException", message)


@dataclass
class LocalContext:
    """The attributes of a Lambda context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalLambdaRuntime:
    def __init__(self, functions: list[FunctionDef], root: Path) -> None:
        self._functions = {f.logical_id: f for f in functions}
        self._root = root
        self._service_faults: Counter[str] = Counter()
        self._handler_faults: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.invocations: Counter[str] = Counter()
        self._original_invoke: Callable[..., Any] | None = None
        self._handlers: dict[str, Callable[[dict, LocalContext], Any]] = {}

    def install(self) -> None:
        """Load every handler now (Lambda's init phase: an import error fails here) and take over moto's invoke."""
        self._handlers = {name: self._load(f) for name, f in self._functions.items()}
        runtime = self
        self._original_invoke = LambdaFunction.invoke

        def invoke(fn: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> bytes:
            return runtime.invoke(fn.function_name, fn.function_arn, body, response_headers)

        LambdaFunction.invoke = invoke  # type: ignore[method-assign]

    def _load(self, definition: FunctionDef) -> Callable[[dict, LocalContext], Any]:
        path = definition.module_file(self._root)
        spec = importlib.util.spec_from_file_location(f"pytoon_local_functions.{definition.logical_id}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {definition.logical_id} from {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, definition.attribute)

    def uninstall(self) -> None:
        if self._original_invoke is not None:
            LambdaFunction.invoke = self._original_invoke  # type: ignore[method-assign]
            self._original_invoke = None

    def inject_service_errors(self, logical_id: str, count: int = 1) -> None:
        """Make the next `count` invocations of a function fail as a Lambda service fault would."""
        with self._lock:
            self._service_faults[logical_id] += count

    def inject_handler_errors(self, logical_id: str, count: int = 1) -> None:
        """Make the next `count` invocations of a function crash in its own code (a function error)."""
        with self._lock:
            self._handler_faults[logical_id] += count

    def invoke(self, name: str, arn: str, body: Any, response_headers: dict[str, Any]) -> bytes:
        definition = self._functions.get(name)
        if definition is None:
            raise LambdaServiceException(f"function {name} is not declared in template.yaml")
        with self._lock:
            self.invocations[name] += 1
            if self._service_faults[name] > 0:
                self._service_faults[name] -= 1
                raise LambdaServiceException(f"injected service fault for {name}")
            crash = self._handler_faults[name] > 0
            if crash:
                self._handler_faults[name] -= 1
        if isinstance(body, bytes):
            body = body.decode()
        event = json.loads(body) if body else {}
        context = LocalContext(
            function_name=name,
            memory_limit_in_mb=definition.memory_mb,
            timeout_seconds=definition.timeout,
            invoked_function_arn=arn,
        )
        try:
            if crash:
                raise InjectedHandlerError(f"injected crash in {name}")
            result = self._handlers[name](event, context)
        except Exception as exc:  # noqa: BLE001 - every handler error becomes a function error, as in Lambda
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": context.aws_request_id,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
            return json.dumps(error).encode()
        return json.dumps(result).encode()
