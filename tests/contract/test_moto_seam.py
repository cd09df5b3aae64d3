"""The private parts of moto that local mode relies on (all of them live in pytoon.local.moto_seam).

Each test names what moved, so a moto upgrade that breaks local mode fails here with a plain message instead
of a hung server or a job that never starts.
"""

from __future__ import annotations

import importlib
import inspect
import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytoon.local import cache, moto_seam


def _parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_lambda_invoke_signature_is_the_one_the_runtime_replaces() -> None:
    from moto.awslambda.models import LambdaFunction

    assert tuple(_parameters(LambdaFunction.invoke)) == moto_seam.INVOKE_PARAMETERS, (
        "moto changed LambdaFunction.invoke(self, body, request_headers, response_headers); "
        "update moto_seam.replace_lambda_invoke and the local Lambda runtime"
    )


def test_replacing_invoke_routes_to_the_runtime_and_restores() -> None:
    from moto.awslambda.models import LambdaFunction

    calls = []

    class Fn:
        function_name = "Fn"
        function_arn = "arn:aws:lambda:us-east-1:123456789012:function:Fn"

    before = LambdaFunction.invoke
    original = moto_seam.replace_lambda_invoke(lambda *args: calls.append(args) or b"{}")
    try:
        assert LambdaFunction.invoke(Fn(), "{}", {}, {}) == b"{}"  # type: ignore[arg-type]
    finally:
        moto_seam.restore_lambda_invoke(original)
    assert calls == [("Fn", Fn.function_arn, "{}", {}, {})]
    assert LambdaFunction.invoke is before


def test_the_interpreter_reaches_lambda_over_http_on_moto_port() -> None:
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.utils import boto_client

    source = inspect.getsource(boto_client.boto_client_for)
    assert "moto_server_port()" in source and "localhost" in source, (
        "moto's Step Functions interpreter no longer builds its clients for http://localhost:MOTO_PORT; "
        "embedded AWS sets MOTO_PORT to reach its own endpoint and must follow the new mechanism"
    )
    assert inspect.getsource(moto_server_port).count(moto_seam.INTERPRETER_PORT_ENV) == 1, (
        f"moto.settings.moto_server_port() no longer reads {moto_seam.INTERPRETER_PORT_ENV}"
    )


def test_state_machine_execution_is_switched_on_in_process() -> None:
    from moto.core.config import default_user_config
    from moto.stepfunctions.responses import get_backend

    saved = default_user_config.get("stepfunctions")
    try:
        moto_seam.enable_state_machine_execution()
        backend = get_backend(moto_seam.default_account_id(), "us-east-1")
    finally:
        default_user_config["stepfunctions"] = saved  # type: ignore[typeddict-item]
    assert type(backend).__name__ == "StepFunctionsParserBackend", (
        "moto no longer picks its ASL interpreter from default_user_config['stepfunctions']['execute_state_machine']"
    )


def test_the_interpreter_imports_without_moto_ec2() -> None:
    """The shortcut around moto.batch's package init still works, and Batch still imports in full later."""
    code = (
        "import sys\n"
        "from pytoon.local import moto_seam\n"
        "moto_seam.import_state_machine_interpreter()\n"
        "assert 'moto.ec2' not in sys.modules, 'the interpreter import pulled in moto.ec2'\n"
        "assert 'moto.batch' not in sys.modules, 'the stand-in moto.batch package was left behind'\n"
        "import moto.batch\n"
        "assert hasattr(moto.batch, 'batch_backends'), 'moto.batch no longer imports in full afterwards'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        "importing moto's ASL interpreter without moto.batch's package init failed; "
        f"see moto_seam.import_state_machine_interpreter:\n{result.stderr[-1500:]}"
    )


def test_the_http_server_serves_moto_on_a_socket_bound_beforehand() -> None:
    import boto3

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    port = listening.getsockname()[1]
    handled: list[str] = []
    server = moto_seam.MotoHttpServer(listening, moto_seam.MotoDispatch(after_request=handled.append).wsgi_app)
    server.start()
    try:
        dynamodb = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="any",
            aws_secret_access_key="any",
        )
        assert "TableNames" in dynamodb.list_tables(), "moto's WSGI dispatcher no longer answers on the given socket"
    finally:
        server.stop()
    assert handled == ["DynamoDB_20120810.ListTables"]


def test_moto_answers_a_request_addressed_to_aws_in_process_as_its_mock_does() -> None:
    from botocore.awsrequest import AWSPreparedRequest

    # moto's stubber answers a request for AWS's own address whether or not its mock is started.
    handled: list[str] = []
    dispatch = moto_seam.MotoDispatch(after_request=handled.append)
    # Sent to the embedded endpoint, answered as if sent to AWS's.
    request = AWSPreparedRequest(
        method="POST",
        url="http://127.0.0.1:4566/",
        headers={"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"},
        body=b"{}",
        stream_output=False,
    )
    response = dispatch.answer(request, "https://dynamodb.eu-west-1.amazonaws.com/")
    assert response is not None, "moto's botocore_stubber.process_request no longer answers AWS addresses"
    assert response.status_code == 200 and "TableNames" in json.loads(response.content), (
        "moto answered ListTables with something else"
    )
    assert response.url == request.url
    assert handled == ["DynamoDB_20120810.ListTables"]
    assert dispatch.answer(request, "https://example.com/") is None, (
        "moto answered a request for an address no AWS service has"
    )


def test_the_dispatcher_still_matches_hosts_through_the_module_list_local_mode_caches() -> None:
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    assert "list_of_moto_modules" in inspect.getsource(DomainDispatcherApplication.get_backend_for_host), (
        "moto's dispatcher no longer calls backends.list_of_moto_modules(); drop cache_moto_module_list"
    )
    moto_seam.cache_moto_module_list()
    names = backends.list_of_moto_modules()
    assert {"dynamodb", "s3", "stepfunctions", "awslambda"} <= set(names)
    assert backends.list_of_moto_modules() is names, "the module list is scanned again on every request"


@pytest.mark.parametrize(
    ("module", "name", "expected"),
    [
        (
            "moto.iam.models",
            "IAMBackend.create_role",
            [
                "role_name",
                "assume_role_policy_document",
                "path",
                "permissions_boundary",
                "description",
                "tags",
                "max_session_duration",
            ],
        ),
        ("moto.awslambda.models", "LambdaBackend.create_function", ["spec"]),
    ],
)
def test_backend_calls_of_the_deploy_keep_their_parameters(module: str, name: str, expected: list[str]) -> None:
    owner, method = name.split(".")
    function = getattr(getattr(importlib.import_module(module), owner), method)
    parameters = _parameters(function)[1:]
    assert parameters[: len(expected)] == expected, f"moto changed {module}.{name}{tuple(parameters)}"


def test_backends_used_by_the_deploy_are_reachable() -> None:
    from moto.awslambda.models import lambda_backends
    from moto.iam.models import iam_backends

    account = moto_seam.default_account_id()
    assert type(iam_backends[account]["aws"]).__name__ == "IAMBackend", "moto's IAM backend is not keyed by 'aws'"
    assert type(lambda_backends[account]["us-east-1"]).__name__ == "LambdaBackend"


def test_the_step_functions_integration_keeps_the_hooks_nested_executions_rename_through() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sfn

    sfn = state_task_service_sfn.StateTaskServiceSfn
    hooks = {
        "_normalise_parameters": ["self", "parameters", "boto_service_name", "service_action_name"],
        "_normalise_response": ["self", "response", "boto_service_name", "service_action_name"],
        "_eval_service_task": ["self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"],
    }
    for name, expected in hooks.items():
        assert _parameters(getattr(sfn, name)) == expected, f"moto changed StateTaskServiceSfn.{name}"
    resolver = inspect.getsource(sfn._build_sync2_resolver)
    assert 'submission_output["ExecutionArn"]' in resolver and "describe_execution" in resolver, (
        "moto's .sync:2 resolver no longer reads the StartExecution answer by its ASL name and polls "
        "DescribeExecution; revisit moto_seam.enable_nested_executions"
    )


def test_each_definition_is_parsed_once_and_every_execution_evaluates_a_program_of_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.models import InvalidDefinition, StepFunctionsParserBackend

    assert "AmazonStateLanguageParser.parse(definition)" in inspect.getsource(
        StepFunctionsParserBackend._validate_definition
    ), "moto's CreateStateMachine no longer validates by parsing; revisit moto_seam.parse_each_definition_once"
    assert "program = self._get_evaluation_entrypoint()" in inspect.getsource(ExecutionWorker._execution_logic), (
        "moto's executions no longer get their program from _get_evaluation_entrypoint; "
        "revisit moto_seam.parse_each_definition_once"
    )
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path))
    moto_seam.import_state_machine_interpreter()
    moto_seam.parse_each_definition_once()
    parse = AmazonStateLanguageParser.parse
    parses = []
    monkeypatch.setattr(AmazonStateLanguageParser, "parse", staticmethod(lambda d: parses.append(d) or parse(d)))
    done = f"Done-{uuid.uuid4().hex}"  # a definition this process has not parsed yet
    definition = json.dumps({"StartAt": done, "States": {done: {"Type": "Succeed"}}})
    # The one attribute path moto's worker reads its definition from.
    worker = SimpleNamespace(
        _evaluation_details=SimpleNamespace(state_machine_details=SimpleNamespace(definition=definition))
    )

    StepFunctionsParserBackend._validate_definition(definition=definition)
    first = ExecutionWorker._get_evaluation_entrypoint(worker)  # type: ignore[arg-type]
    second = ExecutionWorker._get_evaluation_entrypoint(worker)  # type: ignore[arg-type]
    assert len(parses) == 1, "a definition was parsed again after its validation"
    assert type(first).__name__ == type(second).__name__ == "Program" and second is not first, (
        "two executions were handed the same program"
    )
    # A new process (no parse in memory) finds the parse in local mode's cache.
    monkeypatch.setattr(moto_seam, "_programs", {})
    assert type(ExecutionWorker._get_evaluation_entrypoint(worker)).__name__ == "Program"  # type: ignore[arg-type]
    assert len(parses) == 1, "the parse kept in local mode's cache was not used"
    # An entry that no longer loads is parsed again, and replaced.
    monkeypatch.setattr(moto_seam, "_programs", {})
    for entry in (tmp_path / "asl").iterdir():
        entry.write_bytes(b"not a pickle")
    ExecutionWorker._get_evaluation_entrypoint(worker)  # type: ignore[arg-type]
    assert len(parses) == 2
    # An invalid definition is refused as moto refuses it, every time (nothing is kept for it).
    for _ in range(2):
        with pytest.raises(InvalidDefinition, match="ASLParserException"):
            StepFunctionsParserBackend._validate_definition(definition='{"StartAt": 1}')
    assert len(parses) == 4


def test_the_interpreter_builds_its_clients_with_the_function_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.stepfunctions.parser.asl.utils import boto_client

    source = inspect.getsource(boto_client)
    assert source.count("boto3.") == 1 and "return boto3.client(" in source, (
        "moto's interpreter no longer builds its clients with one boto3.client call; "
        "revisit moto_seam.build_interpreter_clients_with"
    )
    monkeypatch.setattr(boto_client, "boto3", boto_client.boto3)  # put back after the test
    built = []
    moto_seam.build_interpreter_clients_with(lambda **arguments: built.append(arguments) or "the client")
    assert boto_client.boto_client_for(region="eu-west-1", service="lambda") == "the client"
    assert [(b["service_name"], b["region_name"]) for b in built] == [("lambda", "eu-west-1")]
    assert built[0]["endpoint_url"].startswith("http://localhost:")


def test_moto_reads_service_models_and_regions_through_the_loader_it_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import botocore.loaders
    from moto.core import base_backend, utils

    assert "loader = create_loader()" in inspect.getsource(utils._load_service_model), (
        "moto no longer reads service models through moto.core.utils.create_loader; "
        "revisit moto_seam.share_model_loader"
    )
    assert "AccountSpecificBackend.get_session().get_available_regions(" in inspect.getsource(
        base_backend.AccountSpecificBackend._generate_regions
    ), "moto no longer lists a backend's regions from its own session; revisit moto_seam.share_model_loader"
    # Put back after the test.
    backend_type = base_backend.AccountSpecificBackend
    monkeypatch.setattr(utils, "create_loader", utils.create_loader)
    monkeypatch.setattr(backend_type, "get_session", vars(backend_type)["get_session"])
    loader = botocore.loaders.create_loader()
    read: list[str] = []
    load = loader.load_data_with_path
    monkeypatch.setattr(loader, "load_data_with_path", lambda name: read.append(name) or load(name))
    moto_seam.share_model_loader(loader)

    assert utils._load_service_model("lambda", "service-2")["metadata"]["serviceId"] == "Lambda"
    regions = backend_type("stepfunctions", "123456789012", dict, True, None).regions
    assert {"us-east-1", "eu-west-1"} <= set(regions)
    assert any(name.startswith("lambda/") for name in read) and any(name.startswith("stepfunctions/") for name in read)
    assert "endpoints" in read


def test_lambdas_router_is_built_once_and_kept_for_every_later_request() -> None:
    from moto.core import responses, routing

    assert "get_service_router(self.boto3_service_name)" in inspect.getsource(
        responses.BaseResponse._get_action_from_method_and_request_uri
    ), "moto no longer routes REST requests through get_service_router; revisit moto_seam.route_lambda_requests_ahead"
    assert "if protocol not in self._routers" in inspect.getsource(routing.ServiceOperationRouter._get_router), (
        "moto no longer keeps the router it builds per protocol; revisit moto_seam.route_lambda_requests_ahead"
    )
    moto_seam.route_lambda_requests_ahead()
    built = routing.get_service_router("lambda")._routers["rest-json"]
    moto_seam.route_lambda_requests_ahead()
    assert routing.get_service_router("lambda")._routers["rest-json"] is built
