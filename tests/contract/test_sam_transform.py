"""The SAM transform succeeds offline, and the CloudFormation it produces has the expected shape.

Local paths (CodeUri, ContentUri, DefinitionUri) become s3:// URIs first, as `sam package` would do. The
managed-policy loader is given a stub IAM client, so nothing reaches AWS.
"""

from __future__ import annotations

import re
from typing import Any

from .conftest import FFMPEG_USERS, of_type, role_statements

EXPECTED_FUNCTIONS = {
    "ApiFunction",
    "WebhooksFunction",
    "VoiceoverFunction",
    "ClipEngineFunction",
    "PlannerFunction",
    "SegmentRenderFunction",
    "AudioFunction",
    "AssembleFunction",
    "MarkFailedFunction",
    "UploadValidationFunction",
    "RunStepFunction",
}


def test_every_function_becomes_a_lambda_function(cfn_resources: dict[str, Any]) -> None:
    functions = of_type(cfn_resources, "AWS::Lambda::Function")
    assert set(functions) == EXPECTED_FUNCTIONS
    for logical_id, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.11", logical_id
        assert props["Architectures"] == ["x86_64"], logical_id
        assert props["TracingConfig"] == {"Mode": "Active"}, logical_id
        assert props["Handler"] == "app.lambda_handler", logical_id


def test_layers_are_built_and_attached(cfn_resources: dict[str, Any]) -> None:
    layers = of_type(cfn_resources, "AWS::Lambda::LayerVersion")
    by_prefix = {prefix: [lid for lid in layers if lid.startswith(prefix)] for prefix in ("DomainLayer", "FfmpegLayer")}
    assert all(len(ids) == 1 for ids in by_prefix.values()), by_prefix
    domain, ffmpeg = by_prefix["DomainLayer"][0], by_prefix["FfmpegLayer"][0]
    assert layers[ffmpeg]["Properties"]["LicenseInfo"] == "GPL-3.0-or-later"
    for logical_id, function in of_type(cfn_resources, "AWS::Lambda::Function").items():
        attached = [layer["Ref"] for layer in function["Properties"]["Layers"]]
        assert attached[0] == domain, logical_id
        assert (ffmpeg in attached) == (logical_id in FFMPEG_USERS), logical_id


def test_state_machine_is_wired_to_the_asl_file_and_the_functions(cfn_resources: dict[str, Any]) -> None:
    machine = cfn_resources["RenderJobStateMachine"]
    assert machine["Type"] == "AWS::StepFunctions::StateMachine"
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["DefinitionS3Location"]["Key"] == "statemachine/render_job.asl.json.zip"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ERROR"
    substitutions = props["DefinitionSubstitutions"]
    for name in ("Voiceover", "Planner", "ClipEngine", "SegmentRender", "Audio", "Assemble", "MarkFailed"):
        assert substitutions[f"{name}FunctionArn"] == {"Fn::GetAtt": [f"{name}Function", "Arn"]}
    assert substitutions["SegmentMaxConcurrency"] == {"Ref": "SegmentMaxConcurrency"}
    invokable = {
        statement["Resource"]["Fn::Sub"][1]["functionName"]["Ref"]
        for statement in role_statements(cfn_resources, "RenderJobStateMachineRole")
        if statement["Action"] == ["lambda:InvokeFunction"]
    }
    assert invokable == {
        "VoiceoverFunction",
        "ClipEngineFunction",
        "PlannerFunction",
        "SegmentRenderFunction",
        "AudioFunction",
        "AssembleFunction",
        "MarkFailedFunction",
    }


def test_uploads_prefix_triggers_upload_validation(cfn_resources: dict[str, Any]) -> None:
    bucket = cfn_resources["ArtifactsBucket"]
    [notification] = bucket["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert notification["Function"] == {"Fn::GetAtt": ["UploadValidationFunction", "Arn"]}
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "uploads/"}]
    s3_permissions = [
        lid
        for lid, permission in of_type(cfn_resources, "AWS::Lambda::Permission").items()
        if permission["Properties"]["Principal"] == "s3.amazonaws.com"
    ]
    assert len(s3_permissions) == 1
    permission = cfn_resources[s3_permissions[0]]["Properties"]
    assert permission["FunctionName"] == {"Ref": "UploadValidationFunction"}
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    # S3 checks the permission when the notification is written, so the bucket must wait for it.
    assert s3_permissions[0] in _as_list(bucket.get("DependsOn"))


def test_async_invocations_retry_twice_then_land_in_a_dlq(cfn_resources: dict[str, Any]) -> None:
    configs = {
        config["Properties"]["FunctionName"]["Ref"]: config["Properties"]
        for config in of_type(cfn_resources, "AWS::Lambda::EventInvokeConfig").values()
    }
    assert configs["UploadValidationFunction"]["MaximumRetryAttempts"] == 2
    assert configs["UploadValidationFunction"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["UploadValidationDLQ", "Arn"]
    }
    assert configs["MarkFailedFunction"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["MarkFailedDLQ", "Arn"]
    }
    assert cfn_resources["UploadValidationDLQ"]["Type"] == "AWS::SQS::Queue"


def test_dead_executions_reach_mark_failed_through_eventbridge(cfn_resources: dict[str, Any]) -> None:
    [rule] = of_type(cfn_resources, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"]["stateMachineArn"] == [
        {"Ref": "RenderJobStateMachine"},
        {"Ref": "ProductionRunStateMachine"},
    ]
    assert set(pattern["detail"]["status"]) == {"FAILED", "TIMED_OUT", "ABORTED"}
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["MarkFailedFunction", "Arn"]}
    principals = {
        (p["Properties"]["FunctionName"]["Ref"], p["Properties"]["Principal"])
        for p in of_type(cfn_resources, "AWS::Lambda::Permission").values()
    }
    assert ("MarkFailedFunction", "events.amazonaws.com") in principals


def test_one_rest_api_with_one_stage_routes_to_api_and_webhooks(cfn_resources: dict[str, Any]) -> None:
    [api_id] = of_type(cfn_resources, "AWS::ApiGateway::RestApi")
    assert api_id == "PytoonApi"
    stages = of_type(cfn_resources, "AWS::ApiGateway::Stage")
    assert [s["Properties"]["StageName"] for s in stages.values()] == [{"Ref": "ApiStageName"}]
    body = cfn_resources["PytoonApi"]["Properties"]["Body"]
    assert set(body["x-amazon-apigateway-binary-media-types"]) >= {"multipart/form-data", "*/*"}
    routes = {
        (path, method): operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        for path, methods in body["paths"].items()
        for method, operation in methods.items()
    }
    assert "${ApiFunction.Arn}" in routes[("/", "x-amazon-apigateway-any-method")]
    assert "${ApiFunction.Arn}" in routes[("/{proxy+}", "x-amazon-apigateway-any-method")]
    assert "${WebhooksFunction.Arn}" in routes[("/webhooks/{provider}", "post")]
    invoked_by_apigw = {
        p["Properties"]["FunctionName"]["Ref"]
        for p in of_type(cfn_resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    }
    assert invoked_by_apigw == {"ApiFunction", "WebhooksFunction"}


def test_table_and_bucket_are_retained_and_locked_down(cfn_resources: dict[str, Any]) -> None:
    table = cfn_resources["JobsTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    [gsi] = props["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "GSI1" and gsi["Projection"] == {"ProjectionType": "ALL"}

    bucket = cfn_resources["ArtifactsBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    props = bucket["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    [deny_plain_http] = cfn_resources["ArtifactsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny_plain_http["Effect"] == "Deny"
    assert deny_plain_http["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_bucket_name_is_lowercase_by_construction_and_fits_63_chars(resources: dict[str, Any]) -> None:
    name = resources["ArtifactsBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    pattern, variables = name
    # Longest real values: 12-digit account, a 14-char region, the 8-hex-digit first group of a stack UUID.
    rendered = pattern.replace("${AWS::AccountId}", "123456789012").replace("${AWS::Region}", "ap-southeast-4")
    rendered = rendered.replace("${StackSuffix}", "0a1b2c3d")
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", rendered), rendered
    assert "AWS::StackName" not in str(name)
    assert variables["StackSuffix"] == {
        "Fn::Select": [
            0,
            {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]},
        ]
    }
    # The function that the bucket notifies uses the same expression, never a reference to the bucket.
    upload = resources["UploadValidationFunction"]["Properties"]
    assert upload["Environment"]["Variables"]["PYTOON_BUCKET_NAME"]["Fn::Sub"] == name
    statements = [st for policy in upload["Policies"] for st in policy.get("Statement", [])]
    [s3_statement] = [st for st in statements if any(a.startswith("s3:") for a in st["Action"])]
    arn_pattern, arn_variables = s3_statement["Resource"]["Fn::Sub"]
    assert arn_pattern == f"arn:${{AWS::Partition}}:s3:::{pattern}/uploads/*"
    assert arn_variables == variables


def test_no_role_grants_a_wildcard_resource_except_log_delivery(cfn_resources: dict[str, Any]) -> None:
    offenders = []
    for role_id in of_type(cfn_resources, "AWS::IAM::Role"):
        for statement in role_statements(cfn_resources, role_id):
            actions = _as_list(statement["Action"])
            if "*" in _as_list(statement["Resource"]) and not all(a.startswith("logs:") for a in actions):
                offenders.append((role_id, actions))
            assert not any(a.endswith(":*") or a == "*" for a in actions), (role_id, actions)
    assert offenders == []


def test_transformed_template_has_no_dependency_cycle(cfn_resources: dict[str, Any]) -> None:
    graph = {lid: _dependencies(resource) & set(cfn_resources) for lid, resource in cfn_resources.items()}
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", "cycle: " + " -> ".join([*path, node])
        state[node] = "open"
        for dependency in sorted(graph[node]):
            visit(dependency, [*path, node])
        state[node] = "done"

    for node in sorted(graph):
        visit(node, [])


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


_SUB_VARIABLE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


def _dependencies(node: Any) -> set[str]:
    """Logical ids a resource needs first: Ref, Fn::GetAtt, ${X} inside Fn::Sub, DependsOn."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                local = set(value[1]) if isinstance(value, list) else set()
                found |= {m.group(1) for m in _SUB_VARIABLE.finditer(text)} - local
                if isinstance(value, list):
                    found |= _dependencies(value[1])
            elif key == "DependsOn":
                found |= set(_as_list(value))
            else:
                found |= _dependencies(value)
    elif isinstance(node, list):
        for item in node:
            found |= _dependencies(item)
    return found
