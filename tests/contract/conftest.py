"""Shared fixtures: the parsed template, its functions (Globals merged), and the state machines' ASL."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

from pytoon.local.template import load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
# The functions that run ffmpeg (render segments, build the soundtrack, assemble, decode uploaded video clips),
# and so get FfmpegLayer.
# The planner validates https media a V2 job names (video clips are decoded); the voiceover step decodes what
# a remote text-to-speech provider answers, the clip engine step decodes every generated clip to check it.
FFMPEG_USERS = {
    "VoiceoverFunction",
    "ClipEngineFunction",
    "SegmentRenderFunction",
    "AudioFunction",
    "AssembleFunction",
    "UploadValidationFunction",
    "PlannerFunction",
}


@dataclass(frozen=True)
class Function:
    """One AWS::Serverless::Function, with Globals.Function merged the way SAM merges them."""

    logical_id: str
    props: dict[str, Any]

    @property
    def code_uri(self) -> str:
        return self.props["CodeUri"]

    @property
    def handler(self) -> str:
        return self.props["Handler"]

    @property
    def timeout(self) -> int:
        return int(self.props.get("Timeout", 3))

    @property
    def memory(self) -> int:
        return int(self.props.get("MemorySize", 128))

    @property
    def ephemeral(self) -> int:
        return int(self.props.get("EphemeralStorage", {}).get("Size", 512))

    @property
    def layers(self) -> list[Any]:
        return self.props.get("Layers", [])

    @property
    def events(self) -> dict[str, Any]:
        return self.props.get("Events", {})


def merge_globals(globals_: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """SAM's Globals merge, for the keys used here: maps merge (function wins), lists append."""
    merged = copy.deepcopy(globals_)
    for key, value in props.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_globals(merged[key], value)
        elif isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = merged[key] + value
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


@pytest.fixture(scope="session")
def functions(template: dict[str, Any]) -> dict[str, Function]:
    globals_ = template.get("Globals", {}).get("Function", {})
    return {
        logical_id: Function(logical_id, merge_globals(globals_, resource.get("Properties", {})))
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


@pytest.fixture(scope="session")
def state_machines(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::StateMachine"
    }


@pytest.fixture(scope="session")
def render_job(state_machines: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return state_machines["RenderJobStateMachine"]


@pytest.fixture(scope="session")
def render_job_asl_text(render_job: dict[str, Any]) -> str:
    return (REPO_ROOT / render_job["DefinitionUri"]).read_text(encoding="utf-8")


STATE_MACHINES = ("RenderJobStateMachine", "ProductionRunStateMachine")


@pytest.fixture(scope="session", params=STATE_MACHINES)
def machine(request: pytest.FixtureRequest, state_machines: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each state machine of the template in turn, for the rules every definition follows."""
    return state_machines[request.param]


@pytest.fixture(scope="session")
def machine_asl_text(machine: dict[str, Any]) -> str:
    return (REPO_ROOT / machine["DefinitionUri"]).read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def machine_asl(template: dict[str, Any], machine: dict[str, Any], machine_asl_text: str) -> dict[str, Any]:
    text = substitute(machine_asl_text, machine["DefinitionSubstitutions"], parameter_defaults(template))
    return json.loads(text)


def parameter_defaults(template: dict[str, Any]) -> dict[str, Any]:
    return {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}


def function_arn_standin(logical_id: str) -> str:
    """The ARN that `!GetAtt <logical_id>.Arn` stands for in these tests."""
    return f"arn:aws:lambda:us-east-1:123456789012:function:pytoon-{logical_id}-AbC123dEf456"


def substitute(text: str, substitutions: dict[str, Any], parameters: dict[str, Any]) -> str:
    """Replace ${Var} the way DefinitionSubstitutions will, with realistic stand-ins for ARNs."""

    def value(name: str) -> str:
        spec = substitutions[name]
        if isinstance(spec, dict) and "Fn::GetAtt" in spec:
            target, attribute = spec["Fn::GetAtt"]
            assert attribute == "Arn", f"{name}: only .Arn substitutions are expected"
            return function_arn_standin(target)
        if isinstance(spec, dict) and "Ref" in spec:
            if spec["Ref"] not in parameters:  # a state machine: its Ref is its ARN
                return f"arn:aws:states:us-east-1:123456789012:stateMachine:pytoon-{spec['Ref']}-AbC123dEf456"
            return str(parameters[spec["Ref"]])
        assert isinstance(spec, str | int), f"{name}: unexpected substitution {spec!r}"
        return str(spec)

    return PLACEHOLDER.sub(lambda m: value(m.group(1)), text)


@pytest.fixture(scope="session")
def render_job_asl(template: dict[str, Any], render_job: dict[str, Any], render_job_asl_text: str) -> dict[str, Any]:
    """The RenderJob definition after substitution (parameter defaults, stand-in ARNs), parsed."""
    text = substitute(render_job_asl_text, render_job["DefinitionSubstitutions"], parameter_defaults(template))
    return json.loads(text)


# --- the SAM transform, offline ----------------------------------------------------------------------

# AWS managed policies the transform may look up by name, as IAM's ListPolicies would return them.
AWS_MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for path, name in [
        ("service-role/", "AWSLambdaBasicExecutionRole"),
        ("", "AWSXrayWriteOnlyAccess"),
        ("service-role/", "AWSLambdaRole"),
    ]
}


class _StubPaginator:
    def __init__(self, calls: list[dict[str, Any]]) -> None:
        self._calls = calls

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self._calls.append(kwargs)
        yield {"Policies": [{"PolicyName": name, "Arn": arn} for name, arn in AWS_MANAGED_POLICIES.items()]}


class StubIam:
    """Just enough of an IAM client for ManagedPolicyLoader: list_policies(Scope=AWS), one page."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def get_paginator(self, operation: str) -> _StubPaginator:
        assert operation == "list_policies"
        return _StubPaginator(self.calls)


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """What `sam package` hands to CloudFormation: local artifact paths replaced by S3 URIs."""
    result = copy.deepcopy(template)
    for resource in result["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://pytoon-contract-tests/{props[key].strip('/')}.zip"
    return result


@pytest.fixture(scope="session")
def cfn(template: dict[str, Any]) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the translator builds a boto3 session for pseudo-params
        return transform(packaged(template), {}, ManagedPolicyLoader(StubIam()))


@pytest.fixture(scope="session")
def cfn_resources(cfn: dict[str, Any]) -> dict[str, Any]:
    return cfn["Resources"]


def of_type(resources: dict[str, Any], type_: str) -> dict[str, Any]:
    return {lid: r for lid, r in resources.items() if r["Type"] == type_}


def role_statements(resources: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources[role_id]["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]
