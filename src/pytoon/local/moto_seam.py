"""Every piece of moto's private surface that local mode relies on, in one place.

tests/contract/test_moto_seam.py checks each assumption below against the installed moto, so an upgrade that
moves one fails there with a plain message instead of somewhere deep inside a render.

- The HTTP endpoint: moto's WSGI dispatcher (`DomainDispatcherApplication(create_backend_app)`) and its
  request handler, served by werkzeug on a socket this package bound itself (moto's own ThreadedMotoServer
  binds inside its thread and waits forever when the port is taken). Both load Flask, so they are built for
  the first request from outside the process.
- The process's own requests: `botocore_stubber.process_request`, with which moto's in-process mock answers a
  request addressed to AWS's endpoint for a service, and its `MockRawResponse` body; `pytoon.local.direct_requests`
  names the address.
- DynamoDB writes: moto applies a conditional write as read, check, then write with no lock, so two requests
  served at once can both pass a condition or lose an update; DynamoDB makes each write atomic on its item.
  `MotoDispatch` serves DynamoDB requests one at a time on both paths (each takes well under a millisecond).
- The Step Functions interpreter: switched on through moto's in-process config, and it reaches Lambda over
  HTTP at `localhost:$MOTO_PORT`.
- Lambda invoke: `LambdaFunction.invoke(self, body, request_headers, response_headers)`, which the local
  runtime replaces (moto would start Docker there).
- Direct calls into the IAM and Lambda backends for the deploy (the role Lambda checks for, and
  `create_function(spec)` with the API's request shape): no boto3 client for services only the deploy uses.
- Nested executions (`arn:aws:states:::states:startExecution[.sync[:2]]`): moto's interpreter passes the
  ASL's parameter names (StateMachineArn, Name, Input) to boto3 unchanged, which knows only the API's
  (stateMachineArn, name, input), and reads the API's answers by the ASL's names (ExecutionArn, Output).
  `enable_nested_executions` adds the two renamings AWS applies, on the Step Functions integration only.
- `moto.backends.list_of_moto_modules()`, which the dispatcher calls on every request to match the Host header
  and which lists and stats moto's package folder each time (over a millisecond a request): local mode caches
  its answer, since the installed package does not change while a process runs.
- The interpreter's clients (one per Lambda task it runs): `boto_client_for` builds each with `boto3.client`,
  on boto3's default session, which loads its own copy of the endpoint data and service models (about 0.1 s
  on the first task, twice when parallel branches start together). `build_interpreter_clients_with` has it
  build them with a given function instead, taking the same arguments.
- Parsing each definition once: moto parses a definition with ANTLR (0.1-0.2 s each, pure Python) to
  validate it at CreateStateMachine, throws that parse away and parses again for every execution.
  `parse_each_definition_once` has both take a copy of one parse instead (unpickled, a few milliseconds):
  every execution still evaluates a program of its own. The parse is kept in local mode's cache, so the next
  process does not parse a definition it has seen with this moto.
- `moto.core.utils.create_loader()`, which moto calls for a new botocore loader each time it reads a service
  model the first time (S3, Lambda, DynamoDB, Step Functions…); every new loader first lists every service
  botocore ships (hundreds of folders, tens of milliseconds). And `AccountSpecificBackend.get_session()`,
  moto's own boto3 session, which reads the endpoint data and the whole model of every service it creates a
  backend for, only to list the service's regions. `share_model_loader` has both read through the loader of
  this process's clients, so each model is read once, not three times (about 90 ms of a render's JSON).
- `moto.core.routing.get_service_router(service)._get_router(protocol)`: moto builds a REST service's URL
  router on its first request, without a lock. The render machine starts two Lambda tasks at once, and
  each built Lambda's router (about 60 ms of werkzeug rule compiling each, one after the other under the
  GIL). `route_lambda_requests_ahead` builds it once, before any execution.
- Importing the interpreter without moto.batch's package init, which pulls in all of moto.ec2 (about 2.5 s of
  region and instance-type tables) only to name Batch job statuses.
"""

from __future__ import annotations

import functools
import importlib.util
import pickle
import socket
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pytoon.local import cache

if TYPE_CHECKING:
    from botocore.awsrequest import AWSPreparedRequest, AWSResponse

# The environment variable moto's Step Functions interpreter reads to reach Lambda on localhost.
INTERPRETER_PORT_ENV = "MOTO_PORT"
INVOKE_PARAMETERS = ("self", "body", "request_headers", "response_headers")
# The X-Amz-Target prefix of every DynamoDB API request.
DYNAMODB_TARGET_PREFIX = "DynamoDB_"
_BATCH_PACKAGE = "moto.batch"
_ASL_PARSER_MODULE = "moto.stepfunctions.parser.asl.parse.asl_parser"

InvokeFunction = Callable[[Any, Any, Any, Any], bytes]
# How often the serving thread checks for stop(): socketserver's default of 0.5 s made stopping wait up to
# half a second (a render's last step); a wake-up costs microseconds.
SERVER_POLL_SECONDS = 0.05


class MotoDispatch:
    """moto's request handling for embedded AWS: over HTTP (`wsgi_app`) and for this process's own clients
    (`answer`), with DynamoDB requests served one at a time, and `after_request(target)` called once each
    request's effects are stored (`target`: its X-Amz-Target header, or "")."""

    def __init__(self, after_request: Callable[[str], None]) -> None:
        cache_moto_module_list()
        self._after_request = after_request
        self._dynamodb_requests = threading.Lock()
        self._wsgi_dispatcher: Any = None
        self._wsgi_dispatcher_lock = threading.Lock()

    @contextmanager
    def _serving(self, target: str) -> Iterator[None]:
        if target.startswith(DYNAMODB_TARGET_PREFIX):
            with self._dynamodb_requests:
                yield
        else:
            yield
        self._after_request(target)

    def wsgi_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self._wsgi_dispatcher_lock:
            if self._wsgi_dispatcher is None:
                # Flask and a Flask app per service: built for the first client from outside, if one comes.
                from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

                self._wsgi_dispatcher = DomainDispatcherApplication(create_backend_app)
        with self._serving(environ.get("HTTP_X_AMZ_TARGET", "")):
            return self._wsgi_dispatcher(environ, start_response)

    def answer(self, request: AWSPreparedRequest, address: str) -> AWSResponse | None:
        """moto's response to `request` sent to `address`, AWS's own endpoint for its service (e.g.
        https://dynamodb.us-east-1.amazonaws.com/), as moto's in-process mock answers one; None when no moto
        service serves that address."""
        from botocore.awsrequest import AWSPreparedRequest, AWSResponse
        from moto.core.botocore_stubber import MockRawResponse
        from moto.core.models import botocore_stubber

        readdressed = AWSPreparedRequest(
            method=request.method,
            url=address,
            headers=request.headers,
            body=request.body,
            stream_output=request.stream_output,
        )
        target = request.headers.get("X-Amz-Target") or ""
        with self._serving(target.decode() if isinstance(target, bytes) else target):
            answered = botocore_stubber.process_request(readdressed)
        if answered is None:
            return None
        status, headers, body = answered
        return AWSResponse(request.url, status, headers, MockRawResponse(body))


def _moto_request_handler(*arguments: Any) -> Any:
    """moto's request handler (it keeps the underscores of S3 metadata headers), imported with Flask when the
    first request from outside the process comes."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    MotoRequestHandler.protocol_version = "HTTP/1.1"  # what werkzeug gives a threaded server's handler class
    return MotoRequestHandler(*arguments)


class MotoHttpServer:
    """A WSGI app (moto's) served by werkzeug on an already bound, listening socket, in a daemon thread."""

    def __init__(self, listening: socket.socket, app: Callable[..., Any]) -> None:
        from werkzeug.serving import make_server

        host, port = listening.getsockname()[:2]
        self._server = make_server(
            host,
            port,
            app,
            threaded=True,
            request_handler=_moto_request_handler,  # type: ignore[arg-type]
            fd=listening.fileno(),
        )
        # make_server duplicated the descriptor; the caller's socket is no longer needed.
        listening.close()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SERVER_POLL_SECONDS},
            name="embedded-aws",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def cache_moto_module_list() -> None:
    """Answer `list_of_moto_modules()` from memory after its first scan of moto's package folder."""
    from moto import backends

    if getattr(backends.list_of_moto_modules, "cache_info", None) is None:
        names = tuple(backends.list_of_moto_modules())
        backends.list_of_moto_modules = functools.cache(lambda: names)


def share_model_loader(loader: Any) -> None:
    """Let moto read every service model, and the regions of every backend it creates, through `loader` (the
    botocore loader of this process's own clients): each file is then read once per process."""
    import boto3.session
    import botocore.session
    from moto.core import utils
    from moto.core.base_backend import AccountSpecificBackend

    utils.create_loader = lambda: loader
    regions = botocore.session.Session()
    regions.register_component("data_loader", loader)
    session = boto3.session.Session(botocore_session=regions)
    AccountSpecificBackend.get_session = classmethod(lambda cls: session)


def route_lambda_requests_ahead() -> None:
    """Build moto's router for Lambda's REST API (rest-json) now, not in each Lambda task that starts first."""
    from moto.core.routing import get_service_router

    get_service_router("lambda")._get_router("rest-json")


def enable_state_machine_execution() -> None:
    """moto runs ASL only when asked (the same switch as POST /moto-api/config)."""
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"] = {"execute_state_machine": True}


_SFN_INTEGRATION_MODULE = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn"


def _api_name(name: str) -> str:
    return name[:1].lower() + name[1:]


def _asl_name(name: str) -> str:
    return name[:1].upper() + name[1:]


def _asl_value(value: Any) -> Any:
    # Step Functions hands dates to the state as epoch milliseconds.
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else value


def _to_asl_names(response: dict[str, Any]) -> None:
    for name in list(response):
        response[_asl_name(name)] = _asl_value(response.pop(name))


def enable_nested_executions() -> None:
    """Let the ASL start executions of other state machines (plain, `.sync` and `.sync:2`). Idempotent."""
    sfn = importlib.import_module(_SFN_INTEGRATION_MODULE).StateTaskServiceSfn
    if getattr(sfn, "_pytoon_nested_executions", False):
        return
    normalise_parameters = sfn._normalise_parameters
    eval_service_task = sfn._eval_service_task

    def api_parameters(
        self: Any, parameters: dict, boto_service_name: str | None = None, service_action_name: str | None = None
    ) -> None:
        normalise_parameters(self, parameters, boto_service_name, service_action_name)
        for name in list(parameters):
            parameters[_api_name(name)] = parameters.pop(name)

    def asl_response(
        self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
    ) -> None:
        if isinstance(response, dict):
            _to_asl_names(response)

    def call_with_asl_response(
        self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
    ) -> None:
        eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        asl_response(self, env.stack[-1])

    sfn._normalise_parameters = api_parameters
    sfn._normalise_response = asl_response
    sfn._eval_service_task = call_with_asl_response
    sfn._pytoon_nested_executions = True


def build_interpreter_clients_with(create_client: Callable[..., Any]) -> None:
    """Have the interpreter build its clients with `create_client(**arguments of boto3.client)`."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    boto_client.boto3 = types.SimpleNamespace(client=create_client)  # the module's only use of boto3


_EXECUTION_WORKER_MODULE = "moto.stepfunctions.parser.backend.execution_worker"
_PARSER_BACKEND_MODULE = "moto.stepfunctions.parser.models"
_programs: dict[str, bytes] = {}  # definition -> its parsed program, pickled
_programs_lock = threading.Lock()


def _program(definition: str) -> Any:
    """A program of its own for `definition`: unpickled from this process's parse, else from local mode's
    cache, else parsed (raising what moto raises for an invalid definition) and kept in both."""
    from moto import __version__ as moto_version

    with _programs_lock:
        data = _programs.get(definition)
    if data is not None:
        return pickle.loads(data)  # noqa: S301 - pickled by this process
    name = cache.entry_name(moto_version, definition)
    found = cache.read("asl", name)
    if found is not None:
        program, data = found
    else:
        program = importlib.import_module(_ASL_PARSER_MODULE).AmazonStateLanguageParser.parse(definition)[0]
        data = cache.write("asl", name, program)
    with _programs_lock:
        _programs[definition] = data
    return program


def parse_each_definition_once() -> None:
    """Have validations and executions take their programs from `_program`. Idempotent."""
    backend_module = importlib.import_module(_PARSER_BACKEND_MODULE)
    worker = importlib.import_module(_EXECUTION_WORKER_MODULE).ExecutionWorker
    if getattr(worker, "_pytoon_parses_once", False):
        return

    class ParsingOnce(backend_module.AmazonStateLanguageParser):  # type: ignore[misc, name-defined]
        """The parser as CreateStateMachine's validation calls it (which reads no parse tree)."""

        @staticmethod
        def parse(definition: str) -> tuple[Any, None]:
            return _program(definition), None

    def evaluation_entrypoint(self: Any) -> Any:
        return _program(self._evaluation_details.state_machine_details.definition)

    backend_module.AmazonStateLanguageParser = ParsingOnce
    worker._get_evaluation_entrypoint = evaluation_entrypoint
    worker._pytoon_parses_once = True


def import_state_machine_interpreter() -> None:
    """Import the ASL interpreter with moto.batch's package init held back.

    The interpreter's Batch integration imports `moto.batch.utils`, whose package `__init__` loads every Batch
    and EC2 model. A bare package module with the real search path stands in while the interpreter imports;
    it is removed afterwards, so a later real `import moto.batch` runs the package init as usual."""
    if _ASL_PARSER_MODULE in sys.modules or _BATCH_PACKAGE in sys.modules:
        importlib.import_module(_ASL_PARSER_MODULE)
        return
    spec = importlib.util.find_spec(_BATCH_PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        importlib.import_module(_ASL_PARSER_MODULE)
        return
    package = types.ModuleType(_BATCH_PACKAGE)
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    sys.modules[_BATCH_PACKAGE] = package
    try:
        importlib.import_module(_ASL_PARSER_MODULE)
    finally:
        if sys.modules.get(_BATCH_PACKAGE) is package:
            del sys.modules[_BATCH_PACKAGE]


def replace_lambda_invoke(invoke: Callable[[str, str, Any, Any, dict[str, Any]], bytes]) -> InvokeFunction:
    """Route moto's Lambda invoke to `invoke(name, arn, body, request_headers, response_headers)`.

    Returns the original method, for `restore_lambda_invoke`."""
    from moto.awslambda.models import LambdaFunction

    original: InvokeFunction = LambdaFunction.invoke

    # Named as moto names them, so the contract test reads the same signature while it is installed.
    def routed(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        return invoke(self.function_name, self.function_arn, body, request_headers, response_headers)

    LambdaFunction.invoke = routed  # type: ignore[method-assign]
    return original


def restore_lambda_invoke(original: InvokeFunction) -> None:
    from moto.awslambda.models import LambdaFunction

    LambdaFunction.invoke = original  # type: ignore[method-assign]


# The account moto serves for any access key that does not encode one (local mode uses "testing").
def default_account_id() -> str:
    from moto.core import DEFAULT_ACCOUNT_ID

    return DEFAULT_ACCOUNT_ID


def create_role(name: str, trust_policy: str) -> str:
    """Create an IAM role in moto's backend; returns its ARN."""
    from moto.iam.models import iam_backends

    role = iam_backends[default_account_id()]["aws"].create_role(
        role_name=name,
        assume_role_policy_document=trust_policy,
        path="/",
        permissions_boundary=None,
        description="",
        tags=[],
        max_session_duration=None,
    )
    return role.arn


def create_function(region: str, spec: dict[str, Any]) -> str:
    """Create a Lambda function from a CreateFunction request body (Code.ZipFile base64); returns its ARN."""
    from moto.awslambda.models import lambda_backends

    return lambda_backends[default_account_id()][region].create_function(spec).function_arn
