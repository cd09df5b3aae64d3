"""Embedded AWS: moto's S3, DynamoDB, Lambda and Step Functions in this process, deployed from template.yaml.

The repo's ASL runs in moto's Step Functions interpreter as written (execution on), and the local Lambda
runtime routes each task to the real handler. The endpoint is a real HTTP server, so boto3 and the aws
CLI (`--endpoint-url`) can inspect tables, buckets, executions and their history.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from moto.server import ThreadedMotoServer

from pytoon.aws import client, reset_clients
from pytoon.config import get_settings
from pytoon.local.lambda_runtime import LocalLambdaRuntime
from pytoon.local.template import TEMPLATE_PATH, functions, load_template

FAKE_ACCOUNT_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
BUCKET_NAME = "pytoon-artifacts"
TABLE_PREFIX = "pytoon-"
EMBEDDED_TABLE = TABLE_PREFIX + "jobs"  # the name JobsTable gets locally


@dataclass
class EmbeddedStack:
    endpoint_url: str
    region: str
    bucket_name: str
    table_names: dict[str, str]
    function_arns: dict[str, str]
    state_machine_arns: dict[str, str]

    @property
    def render_state_machine_arn(self) -> str:
        return self.state_machine_arns["RenderJobStateMachine"]


def _local_ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass
class EmbeddedAWS:
    """Start with `start()`, which deploys the stack and points this process's AWS config at it."""

    region: str = "us-east-1"
    host: str = "127.0.0.1"
    port: int = 0
    segment_concurrency: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    work_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "pytoon-work")
    template_path: Path = TEMPLATE_PATH
    stack: EmbeddedStack | None = None
    _server: ThreadedMotoServer | None = None
    _runtime: LocalLambdaRuntime | None = None
    _saved_env: dict[str, str | None] = field(default_factory=dict)

    @property
    def runtime(self) -> LocalLambdaRuntime:
        assert self._runtime is not None, "call start() first"
        return self._runtime

    def start(self) -> EmbeddedStack:
        # The embedded server's request log and the interpreter's failure dumps are not for users:
        # failures reach them through job records and execution history.
        for name in ("werkzeug", "moto"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        self._set_env(
            {
                **FAKE_ACCOUNT_ENV,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "AWS_ENDPOINT_URL": endpoint,
                # moto's Step Functions interpreter calls Lambda on localhost:MOTO_PORT.
                "MOTO_PORT": str(port),
            }
        )
        httpx.post(f"{endpoint}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}})
        reset_clients()
        template = load_template(self.template_path)
        self._runtime = LocalLambdaRuntime(functions(template), self.template_path.parent)
        self._runtime.install()
        self.stack = self._deploy(template, endpoint)
        self._set_env(
            {
                "PYTOON_TABLE_NAME": self.stack.table_names["JobsTable"],
                "PYTOON_BUCKET_NAME": self.stack.bucket_name,
                "PYTOON_STATE_MACHINE_ARN": self.stack.render_state_machine_arn,
                "PYTOON_WORK_DIR": str(self.work_dir),
                "FFMPEG_BINARY": os.environ.get("FFMPEG_BINARY") or _local_ffmpeg(),
                "POWERTOOLS_SERVICE_NAME": "pytoon",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            }
        )
        get_settings.cache_clear()
        return self.stack

    def stop(self) -> None:
        if self._runtime is not None:
            self._runtime.uninstall()
        if self._server is not None:
            self._server.stop()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
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
        parameters = {"SegmentMaxConcurrency": str(self.segment_concurrency)}
        machines = {
            logical_id: self._create_state_machine(logical_id, r["Properties"], function_arns, parameters, role_arn)
            for logical_id, r in resources.items()
            if r["Type"] == "AWS::Serverless::StateMachine"
        }
        self._wire_bucket_notifications(resources, buckets, function_arns)
        return EmbeddedStack(
            endpoint_url=endpoint,
            region=self.region,
            bucket_name=BUCKET_NAME,
            table_names=tables,
            function_arns=function_arns,
            state_machine_arns=machines,
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
        client("dynamodb", self.region).create_table(**kwargs)
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
        role = client("iam", self.region).create_role(
            RoleName="pytoon-local", AssumeRolePolicyDocument=json.dumps(trust)
        )
        return role["Role"]["Arn"]

    def _create_function(self, logical_id: str, handler: str, role_arn: str) -> str:
        # moto needs a code bundle to store; the local runtime imports the real handler instead.
        bundle = io.BytesIO()
        with zipfile.ZipFile(bundle, "w") as archive:
            archive.writestr("app.py", "# served by pytoon.local.lambda_runtime\n")
        response = client("lambda", self.region).create_function(
            FunctionName=logical_id,
            Runtime="python3.11",
            Role=role_arn,
            Handler=handler,
            Code={"ZipFile": bundle.getvalue()},
        )
        return response["FunctionArn"]

    def _create_state_machine(
        self,
        logical_id: str,
        props: dict[str, Any],
        function_arns: dict[str, str],
        parameters: dict[str, str],
        role_arn: str,
    ) -> str:
        definition = (self.template_path.parent / props["DefinitionUri"]).read_text()
        for name, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + name + "}", _resolve(value, function_arns, parameters))
        response = client("stepfunctions", self.region).create_state_machine(
            name=logical_id, definition=definition, roleArn=role_arn, type=props.get("Type", "STANDARD")
        )
        return response["stateMachineArn"]

    def _wire_bucket_notifications(
        self, resources: dict[str, Any], buckets: list[str], function_arns: dict[str, str]
    ) -> None:
        configurations = []
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
        if configurations and buckets:
            client("s3", self.region).put_bucket_notification_configuration(
                Bucket=BUCKET_NAME, NotificationConfiguration={"LambdaFunctionConfigurations": configurations}
            )


def _resolve(value: Any, function_arns: dict[str, str], parameters: dict[str, str]) -> str:
    """Resolve the intrinsics DefinitionSubstitutions use: !GetAtt Fn.Arn and !Ref Parameter."""
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        target, attribute = value["Fn::GetAtt"]
        if attribute == "Arn" and target in function_arns:
            return function_arns[target]
    if "Ref" in value and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    raise ValueError(f"cannot resolve substitution {value!r} locally")
