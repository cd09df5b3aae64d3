"""The ProductionRun ASL: every step's failure reaches MarkRunFailed naming the step, every wait is bounded by
a configured timeout, a rejected gate ends the run `rejected`, and the render is a nested RenderJob."""

from __future__ import annotations

from typing import Any

import pytest

from .asl import iter_states
from .conftest import function_arn_standin, parameter_defaults, substitute

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
GATES = {"AwaitIdeationApproval": "ideation", "AwaitPublishApproval": "publish"}


@pytest.fixture(scope="module")
def run_machine(state_machines: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return state_machines["ProductionRunStateMachine"]


@pytest.fixture(scope="module")
def run_asl(template: dict[str, Any], run_machine: dict[str, Any]) -> dict[str, Any]:
    import json

    from .conftest import REPO_ROOT

    text = (REPO_ROOT / run_machine["DefinitionUri"]).read_text(encoding="utf-8")
    return json.loads(substitute(text, run_machine["DefinitionSubstitutions"], parameter_defaults(template)))


def test_every_top_level_step_fails_the_run_through_a_state_that_names_it(run_asl: dict[str, Any]) -> None:
    states = run_asl["States"]
    named = set()
    for name, state in states.items():
        if state["Type"] not in ("Task", "Map") or name in ("MarkRunFailed", "MarkRunRejected"):
            continue
        [catch_all] = [c for c in state["Catch"] if "States.ALL" in c["ErrorEquals"]]
        assert catch_all["ResultPath"] == "$.failure", name
        failed_at = states[catch_all["Next"]]
        assert failed_at["Type"] == "Pass" and failed_at["Next"] == "MarkRunFailed", name
        assert failed_at["Parameters"]["failure.$"] == "$.failure", name
        named.add(failed_at["Parameters"]["step"])
    assert named == {"ideation", "ideation_approval", "clips", "render", "publish_approval", "publish"}
    assert states[states["MarkRunFailed"]["Next"]]["Type"] == "Fail"


def test_gates_wait_for_a_token_within_the_configured_timeout_and_a_rejection_ends_rejected(
    run_asl: dict[str, Any],
) -> None:
    states = run_asl["States"]
    for name, gate in GATES.items():
        state = states[name]
        assert state["Resource"] == LAMBDA_INVOKE + ".waitForTaskToken"
        payload = state["Parameters"]["Payload"]
        assert payload["gate"] == gate and payload["token.$"] == "$$.Task.Token"
        assert state["TimeoutSecondsPath"] == f"$.timeouts.{gate}_approval_timeout_seconds"
        [rejected] = [c for c in state["Catch"] if c["ErrorEquals"] == ["Run.Rejected"]]
        assert states[rejected["Next"]]["Parameters"]["gate"] == gate
        assert states[states[rejected["Next"]]["Next"]]["Next"] == "RunRejected"
    assert states["RunRejected"]["Type"] == "Succeed"


def test_the_render_is_a_nested_render_job_named_after_its_job_and_bounded(
    run_asl: dict[str, Any], run_machine: dict[str, Any]
) -> None:
    render = run_asl["States"]["RenderVideo"]
    assert render["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert render["Parameters"]["StateMachineArn"].endswith("RenderJobStateMachine-AbC123dEf456")
    assert render["Parameters"]["Name.$"] == "$.render.job_id"
    assert render["TimeoutSecondsPath"] == "$.timeouts.render_timeout_seconds"
    assert run_machine["DefinitionSubstitutions"]["RenderJobStateMachineArn"] == {"Ref": "RenderJobStateMachine"}


def test_lambda_tasks_time_out_after_their_function_and_carry_ids_only(
    run_asl: dict[str, Any], run_machine: dict[str, Any], functions: dict[str, Any]
) -> None:
    arn_to_function = {
        function_arn_standin(value["Fn::GetAtt"][0]): functions[value["Fn::GetAtt"][0]]
        for name, value in run_machine["DefinitionSubstitutions"].items()
        if name.endswith("FunctionArn")
    }
    checked = 0
    for name, state, _ in iter_states(run_asl):
        if state["Type"] != "Task" or not state["Resource"].startswith(LAMBDA_INVOKE):
            continue
        payload = state["Parameters"]["Payload"]
        allowed = {"action", "run_id.$", "timeouts.$", "gate", "token.$", "step", "step.$", "failure.$", "gate.$"}
        allowed |= {"index.$", "task_token.$"}
        assert set(payload) <= allowed, (name, sorted(payload))
        if state["Resource"].endswith(".waitForTaskToken"):
            assert "TimeoutSecondsPath" in state, name  # a wait without a bound would hold a run forever
            continue
        function = arn_to_function[state["Parameters"]["FunctionName"]]
        assert state["TimeoutSeconds"] > function.timeout, (name, function.logical_id)
        checked += 1
    assert checked == 11  # eight run steps, three clip steps
