"""Several state machines on embedded AWS: the real template plus a machine that renders through a nested
RenderJob execution (`startExecution.sync:2`) and a gate that waits for a task token.

The stack runs in its own process (tests/integration/embedded_host.py): moto's backends are per process and
the session's `embedded` stack may already hold the real template's names here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import boto3
import pytest
import yaml

from pytoon.aws import reset_clients
from pytoon.aws.executions import execution_arn
from pytoon.config import get_settings
from pytoon.local.embedded import FAKE_ACCOUNT_ENV, EmbeddedStack
from pytoon.local.template import REPO_ROOT, load_template

pytestmark = pytest.mark.integration

ADDITIONS = Path(__file__).parent / "nested_machines"
HOST = Path(__file__).parent / "embedded_host.py"
DEADLINE_SECONDS = 300


def _absolute(properties: dict[str, Any], key: str, root: Path) -> None:
    if key in properties:
        properties[key] = str(root / properties[key])


def _merged_template(folder: Path) -> Path:
    """template.yaml with the additions listed first; every path absolute, so the file can live anywhere."""
    real = load_template()
    additions = load_template(ADDITIONS / "template_additions.yaml")["Resources"]
    for root, resources in ((REPO_ROOT, real["Resources"]), (ADDITIONS, additions)):
        for resource in resources.values():
            _absolute(resource.get("Properties", {}), "CodeUri", root)
            _absolute(resource.get("Properties", {}), "DefinitionUri", root)
    real["Resources"] = {**additions, **real["Resources"]}
    path = folder / "template.yaml"
    path.write_text(yaml.safe_dump(real, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    template = _merged_template(tmp_path_factory.mktemp("template"))
    host = subprocess.Popen(
        [sys.executable, str(HOST), str(template)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert host.stdout is not None and host.stdin is not None
    line = host.stdout.readline()
    assert line, f"the embedded host did not start (exit status {host.wait(timeout=30)})"
    deployed = EmbeddedStack.from_json(line)
    monkey = pytest.MonkeyPatch()
    for name, value in {
        **FAKE_ACCOUNT_ENV,
        "AWS_ENDPOINT_URL": deployed.endpoint_url,
        "AWS_DEFAULT_REGION": deployed.region,
        "PYTOON_TABLE_NAME": deployed.table_names["JobsTable"],
        "PYTOON_BUCKET_NAME": deployed.bucket_name,
        # Jobs submitted here start the parent machine, which starts their render.
        "PYTOON_STATE_MACHINE_ARN": deployed.state_machine_arns["NestedRenderStateMachine"],
    }.items():
        monkey.setenv(name, value)
    reset_clients()
    get_settings.cache_clear()
    yield deployed
    monkey.undo()
    reset_clients()
    get_settings.cache_clear()
    host.stdin.close()
    host.wait(timeout=30)


def _client(stack: EmbeddedStack, service: str) -> Any:
    return boto3.client(service, region_name=stack.region, endpoint_url=stack.endpoint_url)


def _finished_execution(stack: EmbeddedStack, arn: str) -> dict:
    sfn = _client(stack, "stepfunctions")
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(0.2)
    raise AssertionError(f"{arn} still RUNNING after {DEADLINE_SECONDS}s")


def test_every_state_machine_deploys_with_substitutions_resolved_in_dependency_order(stack: EmbeddedStack) -> None:
    assert set(stack.state_machine_arns) == {
        "RenderJobStateMachine",
        "ProductionRunStateMachine",
        "NestedRenderStateMachine",
        "ApprovalGateStateMachine",
    }
    definition = json.loads(
        _client(stack, "stepfunctions").describe_state_machine(
            stateMachineArn=stack.state_machine_arns["NestedRenderStateMachine"]
        )["definition"]
    )
    task = definition["States"]["RenderVideo"]
    assert task["Parameters"]["StateMachineArn"] == stack.render_state_machine_arn
    assert task["ResultSelector"]["render_machine"] == "RenderJobStateMachine"
    # The function environment that names a machine reaches the handlers and the settings.
    assert stack.state_machine_variables == {
        "PYTOON_STATE_MACHINE_ARN": stack.render_state_machine_arn,
        "PYTOON_PRODUCTION_RUN_STATE_MACHINE_ARN": stack.state_machine_arns["ProductionRunStateMachine"],
    }


def test_a_parent_machine_renders_a_job_through_a_nested_render_execution(stack: EmbeddedStack, tmp_path: Path) -> None:
    from PIL import Image

    from pytoon.assets import store_upload
    from pytoon.aws import keys
    from pytoon.aws.jobs import JobRepository
    from pytoon.aws.storage import ArtifactStore
    from pytoon.models import AssetCategory
    from pytoon.submission import JobRequest, submit_request

    image = tmp_path / "product.png"
    Image.new("RGB", (900, 1400), (30, 120, 200)).save(image)
    upload = store_upload(tenant_id="runs", category=AssetCategory.IMAGE, filename=image.name, data=image.read_bytes())
    request = JobRequest(preset_id="product_hero_clean", prompt="One second.", target_duration_seconds=1)
    request.image_uris.append(upload.key)
    job_id = submit_request(request, tenant_id="runs").job_id

    run = _finished_execution(stack, execution_arn(stack.state_machine_arns["NestedRenderStateMachine"], job_id))
    if run["status"] != "SUCCEEDED":
        history = _client(stack, "stepfunctions").get_execution_history(executionArn=run["executionArn"])["events"]
        raise AssertionError(f"run {run['status']}: {[e for e in history if 'Failed' in e['type']]}")
    output = json.loads(run["output"])
    assert output["render_machine"] == "RenderJobStateMachine"
    assert output["render_status"] == "SUCCEEDED"
    assert output["render_output"]["job_id"] == job_id  # sync:2 hands over the nested output as JSON

    nested = _client(stack, "stepfunctions").describe_execution(
        executionArn=execution_arn(stack.render_state_machine_arn, job_id)
    )
    assert nested["status"] == "SUCCEEDED"
    assert JobRepository.from_settings(get_settings()).get(job_id).status.value == "DONE"
    video = tmp_path / "out.mp4"
    ArtifactStore.from_settings(get_settings()).download(keys.output_key(job_id), video)
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 30


def _gate_token(stack: EmbeddedStack, gate: str) -> str:
    dynamodb = _client(stack, "dynamodb")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        item = dynamodb.get_item(
            TableName=stack.table_names["JobsTable"], Key={"PK": {"S": f"GATE#{gate}"}, "SK": {"S": "TOKEN"}}
        ).get("Item")
        if item:
            return item["token"]["S"]
        time.sleep(0.1)
    raise AssertionError(f"gate {gate} never registered its task token")


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_wait_for_task_token_resumes_on_send_task_outcome(stack: EmbeddedStack, outcome: str) -> None:
    sfn = _client(stack, "stepfunctions")
    gate = f"gate-{outcome}"
    arn = sfn.start_execution(stateMachineArn=stack.state_machine_arns["ApprovalGateStateMachine"], name=gate)[
        "executionArn"
    ]
    token = _gate_token(stack, gate)
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"  # waiting, not finished by the invoke
    if outcome == "success":
        sfn.send_task_success(taskToken=token, output=json.dumps({"approved_by": "reviewer"}))
    else:
        sfn.send_task_failure(taskToken=token, error="Rejected", cause="not on brand")
    execution = _finished_execution(stack, arn)
    if outcome == "success":
        assert execution["status"] == "SUCCEEDED"
        assert json.loads(execution["output"]) == {"approved_by": "reviewer"}
    else:
        # The error reaches the execution; moto's SendTaskFailure drops the cause (AWS keeps it).
        assert execution["status"] == "FAILED" and execution.get("error") == "Rejected"
