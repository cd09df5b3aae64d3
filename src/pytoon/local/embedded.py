"""Embedded AWS: moto's S3, DynamoDB, Lambda and Step Functions in this process, deployed from template.yaml.

The repo's ASL runs in moto's Step Functions interpreter as written (execution on), and the local Lambda
runtime routes each task to the real handler. The endpoint is a real HTTP server, so boto3 and the aws
CLI (`--endpoint-url`) can inspect tables, buckets, executions and their history.

Everything lives in this process's memory: when it ends (or crashes), jobs, keys and uploads are gone, and a
job that was running is never marked failed. The endpoint checks no signatures, so it only ever listens on
a loopback address.
"""

from __future__ import annotations

import base64
import errno
import io
import ipaddress
import json
import logging
import os
import shutil
import socket
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from pytoon.aws import answer_requests_with, client, dynamodb_table, model_loader, reset_clients, shared_client
from pytoon.config import get_settings
from pytoon.local import moto_seam
from pytoon.local.direct_requests import DirectRequests
from pytoon.local.lambda_runtime import LocalLambdaRuntime
from pytoon.local.progress import ChangeSignal
from pytoon.local.state import pid_alive
from pytoon.local.template import TEMPLATE_PATH, functions, load_template

FAKE_ACCOUNT_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
BUCKET_NAME = "pytoon-artifacts"
TABLE_PREFIX = "pytoon-"
EMBEDDED_TABLE = TABLE_PREFIX + "jobs"  # the name JobsTable gets locally
IN_MEMORY_WARNING = (
    "Embedded AWS keeps everything in memory: when this process stops or crashes, its jobs, keys and uploads "
    "are gone, and running jobs are not marked failed."
)
STATE_MACHINE_TYPE = "AWS::Serverless::StateMachine"
RENDER_STATE_MACHINE = "RenderJobStateMachine"
# What every render job invokes (its plan, segments, soundtrack and assembly) and the check each stored upload
# triggers: `pytoon render` loads these before its job starts. Speaking, AI clips and marking a failure load
# when first invoked.
EVERY_RENDER_INVOKES = (
    "PlannerFunction",
    "SegmentRenderFunction",
    "AudioFunction",
    "AssembleFunction",
    "UploadValidationFunction",
)
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
# Scratch folders of embedded stacks live under here, one per process id.
WORK_ROOT = Path(tempfile.gettempdir()) / "pytoon-work"


class EmbeddedStartError(RuntimeError):
    """The embedded endpoint cannot start (port taken, address not loopback); the message says why."""


@dataclass
class EmbeddedStack:
    endpoint_url: str
    region: str
    bucket_name: str
    table_names: dict[str, str]
    function_arns: dict[str, str]
    state_machine_arns: dict[str, str]
    # Function environment variables that name a state machine (e.g. PYTOON_STATE_MACHINE_ARN), as set locally.
    state_machine_variables: dict[str, str]

    @property
    def render_state_machine_arn(self) -> str:
        return self.state_machine_arns[RENDER_STATE_MACHINE]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> EmbeddedStack:
        return cls(**json.loads(text))


def require_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise EmbeddedStartError(
            f"embedded AWS must listen on a loopback address, not {host!r}: it checks no signatures"
        )


def bind_listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0 = any free port); a taken port is an EmbeddedStartError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # reuse TIME_WAIT, never a live listener
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise EmbeddedStartError(f"port {port} on {host} is already in use") from exc
        raise EmbeddedStartError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def _local_ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _fresh_work_dir(requested: Path | None) -> Path:
    """An empty scratch folder: the one asked for, emptied, or this process's own under WORK_ROOT, where the
    folders of processes that are gone (crashed runs) are removed on the way."""
    if requested is not None:
        shutil.rmtree(requested, ignore_errors=True)
        requested.mkdir(parents=True, exist_ok=True)
        return requested
    WORK_ROOT.mkdir(parents=True, exist_ok=True)
    for folder in WORK_ROOT.iterdir():
        if folder.name.isdigit() and (int(folder.name) == os.getpid() or not pid_alive(int(folder.name))):
            shutil.rmtree(folder, ignore_errors=True)
    own = WORK_ROOT / str(os.getpid())
    own.mkdir()
    return own


@dataclass
class EmbeddedAWS:
    """Start with `start()`, which deploys the stack and points this process's AWS config at it.

    `port=0` picks a free port. `listening` hands over an already bound socket instead (a parent process
    binds it, so a taken port fails there, before anything starts). `state_machines` names the machines to
    deploy (with those they refer to), every one by default: a render needs its own only, and creating a
    machine costs moto a parse of its definition (about 0.1 s)."""

    region: str = "us-east-1"
    host: str = "127.0.0.1"
    port: int = 0
    segment_concurrency: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    work_dir: Path | None = None
    template_path: Path = TEMPLATE_PATH
    listening: socket.socket | None = None
    state_machines: tuple[str, ...] | None = None
    stack: EmbeddedStack | None = None
    # After start: the functions the deployed machines and the bucket's notifications invoke.
    invoked_functions: list[str] = field(default_factory=list)
    # Everything that may have changed a job: DynamoDB writes through the endpoint, finished invocations.
    changes: ChangeSignal = field(default_factory=ChangeSignal)
    _server: moto_seam.MotoHttpServer | None = None
    _runtime: LocalLambdaRuntime | None = None
    _saved_env: dict[str, str | None] = field(default_factory=dict)
    _own_work_dir: Path | None = None

    @property
    def runtime(self) -> LocalLambdaRuntime:
        assert self._runtime is not None, "call start() first"
        return self._runtime

    def start(self) -> EmbeddedStack:
        # The embedded server's request log and the interpreter's failure dumps are not for users:
        # failures reach them through job records and execution history.
        for name in ("werkzeug", "moto"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        require_loopback(self.host)
        listening = self.listening or bind_listening_socket(self.host, self.port)
        host, port = listening.getsockname()[:2]
        endpoint = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self._set_env(
            {
                **FAKE_ACCOUNT_ENV,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "AWS_ENDPOINT_URL": endpoint,
                moto_seam.INTERPRETER_PORT_ENV: str(port),
            }
        )
        work_dir = _fresh_work_dir(self.work_dir)
        self._own_work_dir = work_dir
        moto_seam.enable_state_machine_execution()
        moto_seam.import_state_machine_interpreter()
        moto_seam.enable_nested_executions()
        moto_seam.parse_each_definition_once()
        # From the session this process's own clients load their models into, one client per configuration.
        moto_seam.build_interpreter_clients_with(shared_client)
        dispatch = moto_seam.MotoDispatch(after_request=self._count_job_changes)
        self._server = moto_seam.MotoHttpServer(listening, dispatch.wsgi_app)
        self._server.start()
        answer_requests_with(DirectRequests(dispatch, port))
        # After answer_requests_with, which starts the process's session afresh.
        moto_seam.share_model_loader(model_loader())
        template = load_template(self.template_path)
        self._runtime = LocalLambdaRuntime(functions(template), self.template_path.parent)
        self._runtime.add_listener(lambda _name: self.changes.notify())
        self._runtime.install()
        self.stack = self._deploy(template, endpoint)
        self._set_env(
            {
                "PYTOON_TABLE_NAME": self.stack.table_names["JobsTable"],
                "PYTOON_BUCKET_NAME": self.stack.bucket_name,
                **self.stack.state_machine_variables,
                "PYTOON_WORK_DIR": str(work_dir),
                "FFMPEG_BINARY": os.environ.get("FFMPEG_BINARY") or _local_ffmpeg(),
                "POWERTOOLS_SERVICE_NAME": "pytoon",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
                # Everything runs on this machine: a tenant's notification receiver may too.
                "PYTOON_NOTIFY_ALLOW_LOOPBACK": "true",
            }
        )
        get_settings.cache_clear()
        return self.stack

    def prepare_for_jobs(self, functions: list[str] | None = None) -> None:
        """Build now what the first job would build on its way: moto's router for Lambda's API, which the render
        machine's two first tasks each built at once, and the handlers of `functions` (every one by default)."""
        moto_seam.route_lambda_requests_ahead()
        self.runtime.preload(functions)

    def _count_job_changes(self, target: str) -> None:
        if target.rpartition(".")[2] in DYNAMODB_WRITES:
            self.changes.notify()

    def stop(self) -> None:
        if self._runtime is not None:
            self._runtime.uninstall()
        if self._server is not None:
            answer_requests_with(None)
            self._server.stop()
            self._server = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        if self._own_work_dir is not None:
            shutil.rmtree(self._own_work_dir, ignore_errors=True)
        reset_clients()
        get_settings.cache_clear()

    def __enter__(self) -> EmbeddedAWS:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _set_env(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _deploy(self, template: dict[str, Any], endpoint: str) -> EmbeddedStack:
        """Create what the template declares that local mode emulates; every other resource type (API,
        layers, queues, alarms, log groups, secrets…) has no local counterpart and is skipped."""
        resources: dict[str, Any] = template["Resources"]
        tables = {
            logical_id: self._create_table(logical_id, r["Properties"])
            for logical_id, r in resources.items()
            if r["Type"] == "AWS::DynamoDB::Table"
        }
        buckets = [lid for lid, r in resources.items() if r["Type"] == "AWS::S3::Bucket"]
        client("s3", self.region).create_bucket(Bucket=BUCKET_NAME)
        role_arn = self._create_role()
        function_arns = {
            f.logical_id: self._create_function(f.logical_id, f.handler, role_arn) for f in functions(template)
        }
        values = _Values(
            parameters={name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
            | {"SegmentMaxConcurrency": str(self.segment_concurrency)},
            refs={**tables, **dict.fromkeys(buckets, BUCKET_NAME), **{f: f for f in function_arns}},
            attributes={(f, "Arn"): arn for f, arn in function_arns.items()},
        )
        machines: dict[str, str] = {}
        for logical_id in _state_machine_order(resources, self.state_machines):
            arn = self._create_state_machine(logical_id, resources[logical_id]["Properties"], values, role_arn)
            machines[logical_id] = arn
            values.refs[logical_id] = arn
            values.attributes[(logical_id, "Arn")] = arn
            values.attributes[(logical_id, "Name")] = logical_id
        notified = self._wire_bucket_notifications(resources, buckets, function_arns)
        invoked = set(notified).union(
            *(_references(resources[m]["Properties"].get("DefinitionSubstitutions", {})) for m in machines)
        )
        self.invoked_functions = [f for f in function_arns if f in invoked]
        return EmbeddedStack(
            endpoint_url=endpoint,
            region=self.region,
            bucket_name=BUCKET_NAME,
            table_names=tables,
            function_arns=function_arns,
            state_machine_arns=machines,
            state_machine_variables=_state_machine_variables(template, machines),
        )

    def _create_table(self, logical_id: str, props: dict[str, Any]) -> str:
        name = TABLE_PREFIX + logical_id.removesuffix("Table").lower()
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        # Through the table resource the main thread uses anyway: one boto3 session fewer to load.
        dynamodb_table(name, self.region).meta.client.create_table(**kwargs)
        return name

    def _create_role(self) -> str:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        return moto_seam.create_role("pytoon-local", json.dumps(trust))

    def _create_function(self, logical_id: str, handler: str, role_arn: str) -> str:
        # moto needs a code bundle to store; the local runtime imports the real handler instead.
        bundle = io.BytesIO()
        with zipfile.ZipFile(bundle, "w") as archive:
            archive.writestr("app.py", "# served by pytoon.local.lambda_runtime\n")
        spec = {
            "FunctionName": logical_id,
            "Runtime": "python3.11",
            "Role": role_arn,
            "Handler": handler,
            "Code": {"ZipFile": base64.b64encode(bundle.getvalue()).decode()},
        }
        return moto_seam.create_function(self.region, spec)

    def _create_state_machine(self, logical_id: str, props: dict[str, Any], values: _Values, role_arn: str) -> str:
        definition = (self.template_path.parent / props["DefinitionUri"]).read_text()
        for name, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + name + "}", values.resolve(value, where=f"{logical_id}.{name}"))
        response = client("stepfunctions", self.region).create_state_machine(
            name=logical_id, definition=definition, roleArn=role_arn, type=props.get("Type", "STANDARD")
        )
        return response["stateMachineArn"]

    def _wire_bucket_notifications(
        self, resources: dict[str, Any], buckets: list[str], function_arns: dict[str, str]
    ) -> list[str]:
        """Point the bucket's notifications at the functions with S3 events; returns those functions."""
        configurations = []
        notified = []
        for logical_id, resource in resources.items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] != "S3":
                    continue
                props = event["Properties"]
                events = props["Events"] if isinstance(props["Events"], list) else [props["Events"]]
                entry: dict[str, Any] = {"LambdaFunctionArn": function_arns[logical_id], "Events": events}
                rules = props.get("Filter", {}).get("S3Key", {}).get("Rules")
                if rules:
                    entry["Filter"] = {"Key": {"FilterRules": rules}}
                configurations.append(entry)
                notified.append(logical_id)
        if not (configurations and buckets):
            return []
        client("s3", self.region).put_bucket_notification_configuration(
            Bucket=BUCKET_NAME, NotificationConfiguration={"LambdaFunctionConfigurations": configurations}
        )
        return notified


@dataclass
class _Values:
    """What the intrinsics in DefinitionSubstitutions resolve to locally: `!Ref` of a parameter, table, bucket,
    function or state machine (its ARN), and `!GetAtt X.Arn` / `!GetAtt StateMachine.Name`."""

    parameters: dict[str, str]
    refs: dict[str, str]
    attributes: dict[tuple[str, str], str]

    def resolve(self, value: Any, where: str) -> str:
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, dict) and "Ref" in value:
            name = value["Ref"]
            if name in self.parameters:
                return self.parameters[name]
            if name in self.refs:
                return self.refs[name]
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            target, attribute = value["Fn::GetAtt"]
            if (target, attribute) in self.attributes:
                return self.attributes[(target, attribute)]
        raise ValueError(f"cannot resolve substitution {where} = {value!r} locally")


def _references(value: Any) -> set[str]:
    """Logical ids a `!Ref` or `!GetAtt` anywhere inside `value` points at."""
    if isinstance(value, dict):
        found = set()
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt" and isinstance(inner, list) and inner:
                found.add(inner[0])
            else:
                found |= _references(inner)
        return found
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def _state_machine_order(resources: dict[str, Any], wanted: tuple[str, ...] | None = None) -> list[str]:
    """The `wanted` state machines (every one by default) and those they refer to, each after the machines its
    DefinitionSubstitutions refer to."""
    machines = [lid for lid, r in resources.items() if r["Type"] == STATE_MACHINE_TYPE]
    unknown = sorted(set(wanted or ()) - set(machines))
    if unknown:
        raise ValueError(f"the template declares no state machine {', '.join(unknown)}")
    graph = {
        lid: _references(resources[lid]["Properties"].get("DefinitionSubstitutions", {})) & set(machines)
        for lid in machines
    }
    if wanted is not None:
        needed, pending = set(), list(wanted)
        while pending:
            machine = pending.pop()
            if machine not in needed:
                needed.add(machine)
                pending += graph[machine]
        graph = {machine: refers_to for machine, refers_to in graph.items() if machine in needed}
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise ValueError(f"state machines refer to each other in a cycle: {exc.args[1]}") from exc


def _state_machine_variables(template: dict[str, Any], machine_arns: dict[str, str]) -> dict[str, str]:
    """Function environment variables that name a state machine (`!Ref Machine`, `!GetAtt Machine.Arn`), set
    locally for every handler: they share one process, so one name must mean one machine."""
    variables: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for name, value in resource["Properties"].get("Environment", {}).get("Variables", {}).items():
            target = _state_machine_target(value, machine_arns)
            if target is None:
                continue
            if variables.get(name, target) != target:
                raise ValueError(f"{name} names two different state machines ({logical_id} and another function)")
            variables[name] = target
    return variables


def _state_machine_target(value: Any, machine_arns: dict[str, str]) -> str | None:
    if not isinstance(value, dict):
        return None
    if value.get("Ref") in machine_arns:
        return machine_arns[value["Ref"]]
    target = value.get("Fn::GetAtt")
    if isinstance(target, list) and target[0] in machine_arns:
        return machine_arns[target[0]] if target[1] == "Arn" else target[0]
    return None
