"""A local Lambda runtime behind moto's Lambda service.

moto stores functions but can only run them in Docker. This runtime takes over moto's invoke: each
function declared in template.yaml is routed to its real handler, in this process, with the same event
and a Lambda-like context. A handler exception becomes a Lambda function error (FunctionError +
errorType/errorMessage payload), exactly what Step Functions sees in AWS; it never crashes the engine.

As in Lambda, a function's code is imported on its first invoke (its init phase), and an import error is
reported as that invocation's function error (`Runtime.ImportModuleError`), not swallowed. Each function
runs in its own pool of warm execution environments (threads reused across invocations), so per-thread
state a handler builds once, such as its boto3 table handles, survives between invocations as it does in a
warm Lambda. Listeners hear of every finished invocation (embedded AWS counts them as job changes).
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.core.exceptions import JsonRESTError

from pytoon.local import moto_seam
from pytoon.local.template import FunctionDef

# Warm execution environments per function; more concurrent invocations wait for one to free up.
ENVIRONMENTS_PER_FUNCTION = 32
Handler = Callable[[dict, "LocalContext"], Any]


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


class HandlerImportError(RuntimeError):
    """A function's code failed to import (Lambda reports this as Runtime.ImportModuleError)."""


class LocalLambdaRuntime:
    def __init__(self, functions: list[FunctionDef], root: Path) -> None:
        self._functions = {f.logical_id: f for f in functions}
        self._root = root
        self._service_faults: Counter[str] = Counter()
        self._handler_faults: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.invocations: Counter[str] = Counter()
        self._original_invoke: moto_seam.InvokeFunction | None = None
        self._handlers: dict[str, Handler] = {}
        self._load_locks = {name: threading.Lock() for name in self._functions}
        self._environments: dict[str, ThreadPoolExecutor] = {}
        self._listeners: list[Callable[[str], None]] = []

    def install(self) -> None:
        """Take over moto's invoke. Every handler's source file must exist (a typo in CodeUri fails here)."""
        missing = [
            f"{f.logical_id}: {f.module_file(self._root)}"
            for f in self._functions.values()
            if not f.module_file(self._root).is_file()
        ]
        if missing:
            raise FileNotFoundError("handler source not found for " + "; ".join(missing))
        self._original_invoke = moto_seam.replace_lambda_invoke(self.invoke)

    def preload(self, logical_ids: list[str] | None = None) -> None:
        """Import handlers ahead of their first invoke (e.g. in a background thread while a server idles).
        An import error is left for that invoke to report."""
        for name in list(self._functions) if logical_ids is None else logical_ids:
            try:
                self._handler(name)
            except HandlerImportError:
                continue

    def _handler(self, name: str) -> Handler:
        handler = self._handlers.get(name)
        if handler is not None:
            return handler
        with self._load_locks[name]:
            if name not in self._handlers:
                self._handlers[name] = self._load(self._functions[name])
            return self._handlers[name]

    def _load(self, definition: FunctionDef) -> Handler:
        path = definition.module_file(self._root)
        spec = importlib.util.spec_from_file_location(f"pytoon_local_functions.{definition.logical_id}", path)
        if spec is None or spec.loader is None:
            raise HandlerImportError(f"Unable to import module '{definition.logical_id}': cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
            return getattr(module, definition.attribute)
        except Exception as exc:  # noqa: BLE001 - any failure while importing is an init error, as in Lambda
            message = f"Unable to import module '{path.stem}' for {definition.logical_id}: {exc!r}"
            raise HandlerImportError(message) from exc

    def uninstall(self) -> None:
        if self._original_invoke is not None:
            moto_seam.restore_lambda_invoke(self._original_invoke)
            self._original_invoke = None
        for environments in self._environments.values():
            environments.shutdown(wait=False, cancel_futures=True)
        self._environments.clear()

    def add_listener(self, listener: Callable[[str], None]) -> None:
        """Call `listener(function_name)` after every finished invocation (from the invoking thread)."""
        self._listeners.append(listener)

    def inject_service_errors(self, logical_id: str, count: int = 1) -> None:
        """Make the next `count` invocations of a function fail as a Lambda service fault would."""
        with self._lock:
            self._service_faults[logical_id] += count

    def inject_handler_errors(self, logical_id: str, count: int = 1) -> None:
        """Make the next `count` invocations of a function crash in its own code (a function error)."""
        with self._lock:
            self._handler_faults[logical_id] += count

    def invoke(self, name: str, arn: str, body: Any, request_headers: Any, response_headers: dict[str, Any]) -> bytes:
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
            environments = self._environments.get(name)
            if environments is None:
                environments = self._environments[name] = ThreadPoolExecutor(
                    ENVIRONMENTS_PER_FUNCTION, thread_name_prefix=f"lambda-{name}"
                )
        if isinstance(body, bytes):
            body = body.decode()
        event = json.loads(body) if body else {}
        try:
            return environments.submit(self._run, definition, arn, event, crash, response_headers).result()
        finally:
            for listener in self._listeners:
                listener(name)

    def _run(
        self, definition: FunctionDef, arn: str, event: Any, crash: bool, response_headers: dict[str, Any]
    ) -> bytes:
        context = LocalContext(
            function_name=definition.logical_id,
            memory_limit_in_mb=definition.memory_mb,
            timeout_seconds=definition.timeout,
            invoked_function_arn=arn,
        )
        try:
            handler = self._handler(definition.logical_id)
            if crash:
                raise InjectedHandlerError(f"injected crash in {definition.logical_id}")
            result = handler(event, context)
        except Exception as exc:  # noqa: BLE001 - every handler error becomes a function error, as in Lambda
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {
                "errorMessage": str(exc),
                "errorType": "Runtime.ImportModuleError" if isinstance(exc, HandlerImportError) else type(exc).__name__,
                "requestId": context.aws_request_id,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
            return json.dumps(error).encode()
        return json.dumps(result).encode()
