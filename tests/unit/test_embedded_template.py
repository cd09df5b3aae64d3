"""How embedded AWS reads a template's state machines: deploy order, substitutions, the variables naming them."""

from __future__ import annotations

import pytest

from pytoon.local.embedded import _state_machine_order, _state_machine_variables, _Values


def _machine(**substitutions: object) -> dict:
    return {"Type": "AWS::Serverless::StateMachine", "Properties": {"DefinitionSubstitutions": substitutions}}


def test_machines_deploy_after_the_machines_they_refer_to_whatever_the_file_order() -> None:
    resources = {
        "Outer": _machine(Run={"Ref": "Middle"}),
        "Middle": _machine(Render={"Fn::GetAtt": ["Render", "Name"]}, Fn={"Fn::GetAtt": ["Planner", "Arn"]}),
        "Render": _machine(Concurrency={"Ref": "SegmentMaxConcurrency"}),
        "Planner": {"Type": "AWS::Serverless::Function", "Properties": {}},
    }
    assert _state_machine_order(resources) == ["Render", "Middle", "Outer"]


def test_machines_asked_for_deploy_with_those_they_refer_to_and_no_other() -> None:
    resources = {
        "Outer": _machine(Run={"Ref": "Middle"}),
        "Middle": _machine(Render={"Fn::GetAtt": ["Render", "Name"]}),
        "Render": _machine(),
        "Other": _machine(),
    }
    assert _state_machine_order(resources, ("Render",)) == ["Render"]
    assert _state_machine_order(resources, ("Middle",)) == ["Render", "Middle"]
    with pytest.raises(ValueError, match="no state machine Missing"):
        _state_machine_order(resources, ("Missing",))


def test_a_cycle_between_machines_is_refused_by_name() -> None:
    resources = {"A": _machine(B={"Ref": "B"}), "B": _machine(A={"Fn::GetAtt": ["A", "Arn"]})}
    with pytest.raises(ValueError, match="cycle"):
        _state_machine_order(resources)


def test_substitutions_resolve_refs_and_attributes_and_name_what_they_cannot() -> None:
    values = _Values(
        parameters={"SegmentMaxConcurrency": "2"},
        refs={"Render": "arn:render"},
        attributes={("Render", "Name"): "Render", ("Planner", "Arn"): "arn:planner"},
    )
    assert values.resolve({"Ref": "Render"}, where="x") == "arn:render"
    assert values.resolve({"Ref": "SegmentMaxConcurrency"}, where="x") == "2"
    assert values.resolve({"Fn::GetAtt": ["Render", "Name"]}, where="x") == "Render"
    assert values.resolve("literal", where="x") == "literal"
    with pytest.raises(ValueError, match=r"Run\.Secret"):
        values.resolve({"Fn::GetAtt": ["Vault", "Arn"]}, where="Run.Secret")


def test_function_variables_naming_a_machine_are_collected_and_must_agree() -> None:
    def function(**variables: object) -> dict:
        return {"Type": "AWS::Serverless::Function", "Properties": {"Environment": {"Variables": variables}}}

    machines = {"Render": "arn:render", "Run": "arn:run"}
    template = {
        "Resources": {
            "Api": function(RENDER={"Ref": "Render"}, RUN={"Fn::GetAtt": ["Run", "Arn"]}, TABLE={"Ref": "Table"}),
            "Worker": function(RENDER={"Ref": "Render"}),
        }
    }
    assert _state_machine_variables(template, machines) == {"RENDER": "arn:render", "RUN": "arn:run"}
    template["Resources"]["Worker"] = function(RENDER={"Ref": "Run"})
    with pytest.raises(ValueError, match="RENDER"):
        _state_machine_variables(template, machines)
