"""What an operator relies on, in the transformed template: logs that expire, API access logs, alarms on
throttles, timeouts, aborts and 5xx, the API's reserved concurrency, and job records that expire with their
artifacts."""

from __future__ import annotations

import json
import re
from typing import Any

from .conftest import Function, of_type

# CloudWatch Logs accepts only these retention periods.
VALID_RETENTION_DAYS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557}
VALID_RETENTION_DAYS |= {2922, 3288, 3653}


def _alarms(cfn_resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lid: r["Properties"] for lid, r in of_type(cfn_resources, "AWS::CloudWatch::Alarm").items()}


def test_every_function_logs_to_its_own_group_with_retention(
    functions: dict[str, Function], resources: dict[str, Any], cfn_resources: dict[str, Any]
) -> None:
    groups = []
    for logical_id in functions:
        config = cfn_resources[logical_id]["Properties"]["LoggingConfig"]
        group_id = config["LogGroup"]["Ref"]
        group = resources[group_id]
        assert group["Type"] == "AWS::Logs::LogGroup", logical_id
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, logical_id
        assert group["DeletionPolicy"] == "Delete", logical_id
        groups.append(group_id)
    assert len(set(groups)) == len(functions)
    for group in of_type(resources, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_log_retention_parameter_allows_only_what_cloudwatch_accepts(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["LogRetentionDays"]
    assert set(parameter["AllowedValues"]) <= VALID_RETENTION_DAYS
    assert parameter["Default"] in parameter["AllowedValues"]


def test_api_stage_writes_json_access_logs(cfn_resources: dict[str, Any]) -> None:
    [stage] = of_type(cfn_resources, "AWS::ApiGateway::Stage").values()
    setting = stage["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    # API Gateway substitutes $context variables into the string; what remains must be one JSON object.
    line = re.sub(r"\$context\.[A-Za-z.]+", "x", setting["Format"])
    fields = json.loads(line)
    assert {"requestId", "sourceIp", "httpMethod", "path", "status", "responseLatency", "integrationError"} <= set(
        fields
    )
    assert "\n" not in setting["Format"]  # one log line per request
    assert not re.search(r"header|apikey|requestOverride|body", setting["Format"], re.I)


def test_api_gateway_account_role_is_set_before_the_stage(cfn_resources: dict[str, Any]) -> None:
    """A stage with access logging fails to create while the region has no API Gateway CloudWatch role."""
    [account_id] = of_type(cfn_resources, "AWS::ApiGateway::Account")
    account = cfn_resources[account_id]
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = cfn_resources[role_id]
    assert role["DeletionPolicy"] == "Retain"  # the account setting outlives the stack
    [statement] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    [policy] = role["Properties"]["ManagedPolicyArns"]
    assert policy["Fn::Sub"].endswith(":policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
    assert cfn_resources["PytoonApi"]["DependsOn"] == account_id
    [stage] = of_type(cfn_resources, "AWS::ApiGateway::Stage").values()
    deployment = stage["Properties"]["DeploymentId"]["Ref"]
    assert cfn_resources[deployment]["Properties"]["RestApiId"] == {"Ref": "PytoonApi"}


def test_api_function_has_reserved_concurrency(template: dict[str, Any], cfn_resources: dict[str, Any]) -> None:
    parameter = template["Parameters"]["ApiReservedConcurrency"]
    assert 10 <= parameter["Default"] <= 200
    reserved = cfn_resources["ApiFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == {
        "Fn::If": ["ReservesApiConcurrency", {"Ref": "ApiReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    # 0 would throttle every request: it means "reserve nothing" instead.
    assert template["Conditions"]["ReservesApiConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ApiReservedConcurrency"}, 0]}]
    }


def test_alarms_cover_throttles_timeouts_aborts_and_5xx(cfn_resources: dict[str, Any]) -> None:
    alarms = _alarms(cfn_resources)
    watched: set[tuple[str, str, str]] = set()
    for props in alarms.values():
        metrics = (
            [props]
            if "MetricName" in props
            else [m["MetricStat"]["Metric"] for m in props["Metrics"] if "MetricStat" in m]
        )
        for metric in metrics:
            for dimension in metric["Dimensions"]:
                target = dimension["Value"]
                watched.add((metric["Namespace"], metric["MetricName"], json.dumps(target, sort_keys=True)))
        assert props["TreatMissingData"] == "notBreaching"
        assert props["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }
    machine = json.dumps({"Ref": "RenderJobStateMachine"})
    for metric in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted", "ExecutionThrottled"):
        assert ("AWS/States", metric, machine) in watched, metric
    # A failed run is a run's outcome (its record says why); one that timed out or was aborted is not.
    runs = json.dumps({"Ref": "ProductionRunStateMachine"})
    for metric in ("ExecutionsTimedOut", "ExecutionsAborted"):
        assert ("AWS/States", metric, runs) in watched, metric
    for function in of_type(cfn_resources, "AWS::Lambda::Function"):
        assert ("AWS/Lambda", "Throttles", json.dumps({"Ref": function})) in watched, function
    assert ("AWS/ApiGateway", "5XXError", json.dumps({"Fn::Sub": "${AWS::StackName}-api"})) in watched
    # The 5XX alarm's ApiName is the REST API's own name.
    assert cfn_resources["PytoonApi"]["Properties"]["Name"] == {"Fn::Sub": "${AWS::StackName}-api"}


def test_metric_math_alarm_sums_what_it_names(cfn_resources: dict[str, Any]) -> None:
    for logical_id, props in _alarms(cfn_resources).items():
        if "Metrics" not in props:
            continue
        [expression] = [m for m in props["Metrics"] if "Expression" in m]
        assert expression["ReturnData"] is True
        inputs = {m["Id"] for m in props["Metrics"] if "MetricStat" in m}
        assert set(re.findall(r"[a-z][a-z0-9_]*", expression["Expression"].replace("SUM", ""))) == inputs, logical_id
        assert len(props["Metrics"]) <= 10  # CloudWatch's limit per alarm


def test_job_records_expire_with_their_artifacts(template: dict[str, Any], functions: dict[str, Function]) -> None:
    table = template["Resources"]["JobsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    for logical_id, f in functions.items():
        days = f.props["Environment"]["Variables"]["PYTOON_ARTIFACT_RETENTION_DAYS"]
        assert days == {"Ref": "ArtifactRetentionDays"}, logical_id
    rules = {
        r["Id"]: r for r in template["Resources"]["ArtifactsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    assert rules["expire-job-artifacts"]["ExpirationInDays"] == {"Ref": "ArtifactRetentionDays"}
    assert rules["expire-uploads"]["ExpirationInDays"] == {"Ref": "ArtifactRetentionDays"}
