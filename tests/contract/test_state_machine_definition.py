"""The state machines' ASL agrees with template.yaml and follows the rules a deployed state machine depends on
(the RenderJob's own shape is checked here too; the ProductionRun's in test_production_run_definition.py).

Each rule guards a failure that only shows up at deploy time or mid-execution: a DefinitionUri whose case is
wrong, a `$.path` passed as a literal string because its key lacks `.$`, a Next that names no state, or a
Lambda throttle that nothing retries.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .asl import iter_state_sets, iter_states, walk
from .conftest import PLACEHOLDER, REPO_ROOT

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
TRANSIENT_LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
CATCH_TARGET = "MarkFailed"
# ASL fields whose value is itself a path (no `.$` suffix needed), plus Choice's `Variable`.
PATH_FIELDS = re.compile(r"^(Variable|.*Path)$")


def test_definition_uri_exists_with_exact_case(machine: dict[str, Any]) -> None:
    relative = Path(machine["DefinitionUri"])
    # Walk it one component at a time: on a case-insensitive file system, exists() would accept any case.
    current = REPO_ROOT
    for part in relative.parts:
        names = {p.name for p in current.iterdir()}
        assert part in names, f"{part!r} not in {current} (has: {sorted(names)})"
        current = current / part
    assert current.is_file()


def test_placeholders_match_definition_substitutions(machine: dict[str, Any], machine_asl_text: str) -> None:
    placeholders = set(PLACEHOLDER.findall(machine_asl_text))
    assert placeholders == set(machine["DefinitionSubstitutions"])


def test_function_substitutions_name_functions_in_the_template(
    template: dict[str, Any], machine: dict[str, Any], resources: dict[str, Any]
) -> None:
    for name, value in machine["DefinitionSubstitutions"].items():
        if name.endswith("FunctionArn"):
            target, attribute = value["Fn::GetAtt"]
            assert attribute == "Arn", name
            assert resources[target]["Type"] == "AWS::Serverless::Function", name
        elif name.endswith("StateMachineArn"):
            assert resources[value["Ref"]]["Type"] == "AWS::Serverless::StateMachine", name
        elif isinstance(value, dict) and "Ref" in value:
            assert value["Ref"] in template["Parameters"], name


def test_unsubstituted_file_is_valid_json(machine_asl_text: str) -> None:
    # Placeholders sit inside strings, so the file stays valid JSON for editors and linters.
    json.loads(machine_asl_text)


def test_substituted_definition_parses_and_has_no_leftover_placeholders(
    machine_asl: dict[str, Any],
) -> None:
    assert not PLACEHOLDER.search(json.dumps(machine_asl))
    assert machine_asl["StartAt"] in machine_asl["States"]


def test_every_task_invokes_lambda_through_the_optimized_integration(render_job_asl: dict[str, Any]) -> None:
    tasks = {name: state for name, state, _ in iter_states(render_job_asl) if state["Type"] == "Task"}
    assert tasks
    for name, state in tasks.items():
        # A task that waits for a callback hands the function its token, and nothing else waits that way.
        waits = state["Parameters"].get("Payload", {}).get("task_token.$") == "$$.Task.Token"
        assert state["Resource"] == LAMBDA_INVOKE + (".waitForTaskToken" if waits else ""), name
        assert state["Parameters"]["FunctionName"].startswith("arn:aws:lambda:"), name
        assert "Payload" in state["Parameters"] or "Payload.$" in state["Parameters"], name


def test_every_task_retries_transient_lambda_errors_with_backoff(machine_asl: dict[str, Any]) -> None:
    for name, state, _ in iter_states(machine_asl):
        if state["Type"] != "Task" or not state["Resource"].startswith(LAMBDA_INVOKE):
            continue
        covered = {
            error
            for retrier in state.get("Retry", [])
            if retrier.get("BackoffRate", 1.0) >= 2 and retrier.get("MaxAttempts", 3) >= 2
            for error in retrier["ErrorEquals"]
        }
        missing = TRANSIENT_LAMBDA_ERRORS - covered
        assert not missing or "States.ALL" in covered, f"{name} does not retry {sorted(missing)} with backoff >= 2"


def test_every_top_level_step_catches_everything_into_mark_failed(render_job_asl: dict[str, Any]) -> None:
    """Nested tasks (the Map's RenderSegment) cannot leave their processor: the Map's Catch covers them."""
    states = render_job_asl["States"]
    assert states[CATCH_TARGET]["Type"] == "Task"
    for name, state in states.items():
        if name == CATCH_TARGET or state["Type"] not in ("Task", "Map", "Parallel"):
            continue
        catchers = [c for c in state.get("Catch", []) if "States.ALL" in c["ErrorEquals"]]
        assert catchers, f"{name} has no Catch on States.ALL"
        assert catchers[-1]["Next"] == CATCH_TARGET, name
        assert catchers[-1].get("ResultPath") == "$.error", f"{name}: MarkFailed reads the error from $.error"


def test_mark_failed_ends_the_execution_as_failed(render_job_asl: dict[str, Any]) -> None:
    after = render_job_asl["States"][CATCH_TARGET]
    assert "Catch" not in after, "a failing MarkFailed must fail the execution (the EventBridge backstop retries it)"
    assert render_job_asl["States"][after["Next"]]["Type"] == "Fail"


def test_maps_use_item_processor_and_stay_within_inline_concurrency(
    render_job_asl: dict[str, Any], template: dict[str, Any]
) -> None:
    maps = [(name, state) for name, state, _ in iter_states(render_job_asl) if state["Type"] == "Map"]
    assert maps
    for name, state in maps:
        assert "ItemProcessor" in state and "Iterator" not in state, name
        assert "Parameters" not in state, f"{name}: use ItemSelector, not the legacy Parameters"
        mode = state["ItemProcessor"].get("ProcessorConfig", {}).get("Mode", "INLINE")
        if mode == "INLINE":
            assert state.get("MaxConcurrency", 40) <= 40, name
    parameter = template["Parameters"]["SegmentMaxConcurrency"]
    assert 1 <= parameter["MinValue"] <= parameter["Default"] <= parameter["MaxValue"] <= 40


def test_keys_ending_in_dollar_hold_paths_or_intrinsics(machine_asl: dict[str, Any]) -> None:
    for key, value in walk(machine_asl):
        if key.endswith(".$"):
            assert isinstance(value, str) and (value.startswith("$") or value.startswith("States.")), (
                key,
                value,
            )


def test_path_strings_sit_under_dollar_keys_or_path_fields(machine_asl: dict[str, Any]) -> None:
    """`"taskId": "$.x"` passes the literal string "$.x"; it must be `"taskId.$": "$.x"`."""
    for key, value in walk(machine_asl):
        if isinstance(value, str) and (value == "$" or value.startswith("$.") or value.startswith("$$.")):
            assert key.endswith(".$") or PATH_FIELDS.match(key), f"{key!r}: {value!r} would be passed literally"


def test_every_next_names_a_state_in_its_scope_and_every_state_is_reachable(
    machine_asl: dict[str, Any],
) -> None:
    for scope, states, start_at in iter_state_sets(machine_asl):
        assert start_at in states, f"{scope}: StartAt {start_at!r}"
        edges: dict[str, set[str]] = {}
        for name, state in states.items():
            targets = {state["Next"]} if "Next" in state else set()
            targets |= {catcher["Next"] for catcher in state.get("Catch", [])}
            targets |= {choice["Next"] for choice in state.get("Choices", [])}
            if "Default" in state:
                targets.add(state["Default"])
            for target in targets:
                assert target in states, f"{scope}{name}: Next {target!r} is not a state in this scope"
            terminal = state.get("End") is True or state["Type"] in ("Succeed", "Fail", "Choice")
            assert terminal or "Next" in state, f"{scope}{name}: neither Next nor End"
            edges[name] = targets
        reached, frontier = {start_at}, [start_at]
        while frontier:
            for target in edges[frontier.pop()] - reached:
                reached.add(target)
                frontier.append(target)
        assert reached == set(states), f"{scope}: unreachable {sorted(set(states) - reached)}"


def test_task_payloads_carry_ids_not_blobs(render_job_asl: dict[str, Any]) -> None:
    """Payloads stay far below 256 KB because they name a job (and a segment, and a clip step), never content."""
    for name, state, _ in iter_states(render_job_asl):
        if state["Type"] == "Task":
            payload = state["Parameters"]["Payload"]
            assert set(payload) <= {"job_id.$", "index.$", "error.$", "step", "task_token.$"}, (name, sorted(payload))
