"""Each function's role, after the SAM transform, grants exactly the data access its handler uses: item-level
DynamoDB actions, S3 object actions on the prefixes it reads or writes, its own secrets and nothing else.

No function can scan or drop the table, rewrite the bucket's lifecycle or policy, or read another's secret.
The expected grants follow the calls in functions/*/app.py -> src/pytoon (pipeline, assets, webhooks, aws/*):
a handler that starts calling something new needs both a template statement and an entry here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from .conftest import REPO_ROOT, Function, of_type, role_statements

TABLE, INDEX, BUCKET = "TABLE", "TABLE/index/GSI1", "BUCKET"
MACHINE, EXECUTIONS = "STATE_MACHINE", "STATE_MACHINE_EXECUTIONS"
RUN_MACHINE, RUN_EXECUTIONS = "RUN_STATE_MACHINE", "RUN_STATE_MACHINE_EXECUTIONS"
MACHINES = {"RenderJobStateMachine": (MACHINE, EXECUTIONS), "ProductionRunStateMachine": (RUN_MACHINE, RUN_EXECUTIONS)}
JOBS = "BUCKET/jobs/*"
UPLOADS = "BUCKET/uploads/*"


def job_file(name: str) -> str:
    return f"BUCKET/jobs/*/{name}"


# action -> resources, for the services that hold data (the managed logging/X-Ray policies are not data).
# The stack's API address, for per-task callbacks (Luma, Remotion).
WEBHOOK_BASE_URL_PARAMETER = (
    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${AWS::StackName}/webhook-base-url"
)
EXPECTED: dict[str, dict[str, set[str]]] = {
    "ApiFunction": {
        "dynamodb:GetItem": {TABLE, INDEX},
        "dynamodb:PutItem": {TABLE, INDEX},
        "dynamodb:UpdateItem": {TABLE, INDEX},
        "dynamodb:DeleteItem": {TABLE, INDEX},
        "dynamodb:Query": {TABLE, INDEX},
        "s3:PutObject": {UPLOADS, job_file("spec.json")},
        # Presigned GET URLs carry this grant: uploads, job artifacts, a run's clips and published video.
        "s3:GetObject": {UPLOADS, JOBS, "BUCKET/runs/*/clips/*", "BUCKET/runs/*/render.mp4", "BUCKET/published/*"},
        "states:StartExecution": {MACHINE, RUN_MACHINE},
        "states:DescribeExecution": {EXECUTIONS, RUN_EXECUTIONS},  # a run's record follows its execution
        "states:GetExecutionHistory": {EXECUTIONS, RUN_EXECUTIONS},
        # A reviewer's decision resumes the run's gate.
        "states:SendTaskSuccess": {RUN_MACHINE},
        "states:SendTaskFailure": {RUN_MACHINE},
        "states:SendTaskHeartbeat": {RUN_MACHINE},
        # The supervisor chat's LLM.
        "secretsmanager:GetSecretValue": {"SECRET:AdminApiKeySecret", "SECRET:PlannerLlmApiKeySecret"},
    },
    "WebhooksFunction": {
        "dynamodb:GetItem": {TABLE},
        "dynamodb:PutItem": {TABLE},
        "dynamodb:UpdateItem": {TABLE},
        # A provider's webhook resumes a render job's scene or a production run's clip.
        "states:SendTaskSuccess": {MACHINE, RUN_MACHINE},
        "states:SendTaskFailure": {MACHINE, RUN_MACHINE},
        "states:SendTaskHeartbeat": {MACHINE, RUN_MACHINE},
        "secretsmanager:GetSecretValue": {
            "SECRET:SoraWebhookSecret",
            "SECRET:RemotionWebhookSecret",
            "SECRET:LumaWebhookSecret",
        },
    },
    "PlannerFunction": {
        "dynamodb:GetItem": {TABLE},
        "dynamodb:UpdateItem": {TABLE},
        "dynamodb:Query": {TABLE},
        "dynamodb:BatchWriteItem": {TABLE},  # the segment records
        "s3:GetObject": {job_file("spec.json"), job_file("voiceover.json")},
        "s3:PutObject": {
            job_file("plan.json"),
            job_file("scene_graph.json"),
            job_file("timeline.json"),
            job_file("media/*"),  # https media, fetched and validated
        },
        "s3:ListBucket": {BUCKET},
        "secretsmanager:GetSecretValue": {"SECRET:PlannerLlmApiKeySecret"},
    },
    "SegmentRenderFunction": {
        "dynamodb:UpdateItem": {TABLE},
        "dynamodb:Query": {TABLE},
        "s3:GetObject": {
            job_file("plan.json"),
            job_file("segments/*"),
            job_file("media/*"),
            job_file("generation/*"),  # how a generated scene's generation ended
            job_file("clips/*"),  # the clip an engine generated
            UPLOADS,
        },
        "s3:PutObject": {job_file("segments/*")},
        "s3:AbortMultipartUpload": {job_file("segments/*")},
        "s3:ListBucket": {BUCKET},
    },
    "VoiceoverFunction": {
        "dynamodb:GetItem": {TABLE},
        "dynamodb:UpdateItem": {TABLE},  # the job moves to PLANNING with who spoke the voice
        "s3:GetObject": {job_file("spec.json"), job_file("voiceover.json")},
        "s3:PutObject": {job_file("voiceover.wav"), job_file("voiceover.json")},
        "s3:AbortMultipartUpload": {job_file("voiceover.wav"), job_file("voiceover.json")},
        "s3:ListBucket": {BUCKET},
        "secretsmanager:GetSecretValue": {"SECRET:TtsOpenAiApiKeySecret", "SECRET:TtsElevenLabsApiKeySecret"},
    },
    "ClipEngineFunction": {
        "dynamodb:GetItem": {TABLE},
        "dynamodb:UpdateItem": {TABLE},  # the segment's fallback, the job's, metric counters, engine outcomes
        "dynamodb:Query": {TABLE},  # an engine's recent outcomes
        "dynamodb:PutItem": {TABLE},  # the task token a provider's webhook resumes
        # The scene's image, for image-to-video (downloaded, or presigned for the engine to fetch).
        "s3:GetObject": {
            job_file("plan.json"),
            job_file("generation/*"),
            job_file("media/*"),
            UPLOADS,
            "BUCKET/runs/*/generation/*",
            "BUCKET/runs/*/clips/*",
        },
        # A run's finished clip also becomes one of the tenant's uploads.
        "s3:PutObject": {
            job_file("generation/*"),
            job_file("clips/*"),
            "BUCKET/runs/*/generation/*",
            "BUCKET/runs/*/clips/*",
            UPLOADS,
        },
        "s3:AbortMultipartUpload": {
            job_file("generation/*"),
            job_file("clips/*"),
            "BUCKET/runs/*/generation/*",
            "BUCKET/runs/*/clips/*",
            UPLOADS,
        },
        "s3:ListBucket": {BUCKET},
        "secretsmanager:GetSecretValue": {
            "SECRET:RunwayApiKeySecret",
            "SECRET:LumaApiKeySecret",
            "SECRET:PikaApiKeySecret",
            "SECRET:TtsOpenAiApiKeySecret",
            "SECRET:LumaWebhookSecret",  # the token of Luma's callback URLs
        },
        "ssm:GetParameter": {WEBHOOK_BASE_URL_PARAMETER},
    },
    "AudioFunction": {
        "s3:GetObject": {job_file("spec.json"), job_file("voiceover.json"), job_file("voiceover.wav"), UPLOADS},
        "s3:PutObject": {job_file("audio.m4a"), job_file("audio.json")},
        "s3:AbortMultipartUpload": {job_file("audio.m4a"), job_file("audio.json")},
        "s3:ListBucket": {BUCKET},
    },
    "AssembleFunction": {
        "dynamodb:GetItem": {TABLE},
        "dynamodb:PutItem": {TABLE},  # the delivery log of the tenant's notification webhook
        "dynamodb:UpdateItem": {TABLE},
        "dynamodb:Query": {TABLE},
        "s3:GetObject": {job_file("plan.json"), job_file("segments/*"), job_file("audio.m4a"), job_file("audio.json")},
        "s3:PutObject": {job_file(n) for n in ("output.mp4", "thumbnail.jpg", "captions.srt", "metadata.json")},
        "s3:AbortMultipartUpload": {
            job_file(n) for n in ("output.mp4", "thumbnail.jpg", "captions.srt", "metadata.json")
        },
        "s3:ListBucket": {BUCKET},
    },
    "RunStepFunction": {
        # Run records, the render job's record, gate tokens, metric counters, notification subscriptions.
        "dynamodb:GetItem": {TABLE},
        "dynamodb:PutItem": {TABLE},
        "dynamodb:UpdateItem": {TABLE},
        "dynamodb:Query": {TABLE},
        # The clips a Remotion render fetches by presigned URL and the video it made.
        "s3:PutObject": {job_file("spec.json"), "BUCKET/runs/*/render.mp4", "BUCKET/published/*"},
        "s3:GetObject": {
            job_file("spec.json"),
            job_file("output.mp4"),
            "BUCKET/runs/*/clips/*",
            "BUCKET/runs/*/render.mp4",
            "BUCKET/published/*",
        },
        "s3:ListBucket": {BUCKET},
        "secretsmanager:GetSecretValue": {
            "SECRET:PlannerLlmApiKeySecret",
            "SECRET:UploadPostApiKeySecret",
            "SECRET:RemotionApiKeySecret",
        },
        # The stack's API URL, for the Remotion service's callbacks.
        "ssm:GetParameter": {WEBHOOK_BASE_URL_PARAMETER},
    },
    "MarkFailedFunction": {
        "dynamodb:GetItem": {TABLE},
        "dynamodb:PutItem": {TABLE},  # the delivery log of the tenant's notification webhook
        "dynamodb:UpdateItem": {TABLE},
        "sqs:SendMessage": {"DLQ:MarkFailedDLQ"},  # the EventBridge backstop's failure destination
    },
    "UploadValidationFunction": {
        "dynamodb:GetItem": {TABLE},
        "dynamodb:PutItem": {TABLE},
        "s3:GetObject": {UPLOADS},
        "s3:DeleteObject": {UPLOADS},
        "sqs:SendMessage": {"DLQ:UploadValidationDLQ"},  # S3 events that failed every retry
    },
}
DATA_SERVICES = ("dynamodb:", "s3:", "states:", "secretsmanager:", "ssm:", "kms:", "sqs:", "lambda:")
# Control-plane and bulk actions no function needs.
NEVER_GRANTED = re.compile(
    r"dynamodb:(Scan|DeleteTable|UpdateTable|CreateTable|UpdateTimeToLive|PartiQL.*|Restore.*|Export.*|Import.*)"
    r"|s3:(Put|Delete)Bucket.*|s3:PutLifecycleConfiguration|s3:PutEncryptionConfiguration|s3:DeleteBucket"
    r"|s3:PutObjectAcl|s3:\*|dynamodb:\*|secretsmanager:(Put|Update|Delete|Create).*"
)
_UPLOAD_BUCKET_BY_NAME = re.compile(r"^arn:\$\{AWS::Partition\}:s3:::pytoon-artifacts-[^/]+(/.*)?$")


def symbolic(resource: Any) -> str:
    """A resource as the name of what it is (TABLE, BUCKET/uploads/*, SECRET:X), whatever intrinsic builds it."""
    if resource == {"Fn::GetAtt": ["JobsTable", "Arn"]}:
        return TABLE
    if resource == {"Fn::GetAtt": ["ArtifactsBucket", "Arn"]}:
        return BUCKET
    if isinstance(resource, dict) and resource.get("Ref") in MACHINES:
        return MACHINES[resource["Ref"]][0]
    if isinstance(resource, dict) and resource.get("Fn::GetAtt", [""])[0].endswith("DLQ"):
        return "DLQ:" + resource["Fn::GetAtt"][0]
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        value = resource["Fn::Sub"]
        text, variables = (value[0], value[1]) if isinstance(value, list) else (value, {})
        if text == "${secretArn}":
            return "SECRET:" + variables["secretArn"]["Ref"]
        if text.endswith(":stateMachine:${stateMachineName}"):
            return MACHINES[variables["stateMachineName"]["Fn::GetAtt"][0]][0]
        for machine, (_, executions) in MACHINES.items():
            if text.endswith(f":execution:${{{machine}.Name}}:*"):
                return executions
        text = text.replace("${JobsTable.Arn}", TABLE).replace("${ArtifactsBucket.Arn}", BUCKET)
        if match := _UPLOAD_BUCKET_BY_NAME.match(text):
            return BUCKET + (match[1] or "")
        return text
    return json.dumps(resource, sort_keys=True)


def data_grants(cfn_resources: dict[str, Any], function_id: str) -> dict[str, set[str]]:
    role_id = cfn_resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    grants: dict[str, set[str]] = {}
    for statement in role_statements(cfn_resources, role_id):
        assert statement["Effect"] == "Allow" and "Condition" not in statement, statement
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]:
            if action.startswith(DATA_SERVICES):
                grants.setdefault(action, set()).update(symbolic(r) for r in resources)
    return grants


@pytest.mark.parametrize("function_id", sorted(EXPECTED))
def test_each_function_is_granted_exactly_its_data_access(cfn_resources: dict[str, Any], function_id: str) -> None:
    assert data_grants(cfn_resources, function_id) == EXPECTED[function_id]


def test_every_function_is_listed(cfn_resources: dict[str, Any]) -> None:
    assert set(of_type(cfn_resources, "AWS::Lambda::Function")) == set(EXPECTED)


def test_no_role_can_scan_drop_or_reconfigure(cfn_resources: dict[str, Any]) -> None:
    for role_id in of_type(cfn_resources, "AWS::IAM::Role"):
        for statement in role_statements(cfn_resources, role_id):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not [a for a in actions if NEVER_GRANTED.fullmatch(a)], (role_id, actions)


def test_object_actions_never_cover_the_whole_bucket(cfn_resources: dict[str, Any]) -> None:
    """Objects are granted by prefix (uploads/, jobs/, runs/, published/); only ListBucket names the bucket."""
    for function_id, grants in ((f, data_grants(cfn_resources, f)) for f in EXPECTED):
        for action, resources in grants.items():
            if action.startswith("s3:") and action != "s3:ListBucket":
                prefixes = ("BUCKET/uploads/", "BUCKET/jobs/", "BUCKET/runs/", "BUCKET/published/")
                assert all(r.startswith(prefixes) for r in resources), (function_id, action)
    deleters = {f for f in EXPECTED if "s3:DeleteObject" in data_grants(cfn_resources, f)}
    assert deleters == {"UploadValidationFunction"}


def test_secrets_arrive_as_arns_and_each_function_reads_only_its_own(
    functions: dict[str, Function], cfn_resources: dict[str, Any]
) -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (REPO_ROOT / "src" / "pytoon").rglob("*.py"))
    secret_types = of_type(cfn_resources, "AWS::SecretsManager::Secret")
    assert set(secret_types) == {
        "AdminApiKeySecret",
        "SoraWebhookSecret",
        "RemotionWebhookSecret",
        "RemotionApiKeySecret",
        "LumaWebhookSecret",
        "PlannerLlmApiKeySecret",
        "TtsOpenAiApiKeySecret",
        "TtsElevenLabsApiKeySecret",
        "RunwayApiKeySecret",
        "LumaApiKeySecret",
        "PikaApiKeySecret",
        "UploadPostApiKeySecret",
    }
    for function_id, f in functions.items():
        variables = f.props["Environment"]["Variables"]
        # No secret value in plain text: only the ARN, read at run time.
        plain = {
            "ADMIN_API_KEY",
            "SORA_WEBHOOK_SECRET",
            "REMOTION_WEBHOOK_SECRET",
            "PYTOON_PLANNER_LLM_API_KEY",
            "OPENAI_API_KEY",
            "ELEVENLABS_API_KEY",
            "RUNWAY_API_KEY",
            "LUMA_API_KEY",
            "PIKA_API_KEY",
            "UPLOAD_POST_API_KEY",
            "REMOTION_API_KEY",
            "LUMA_WEBHOOK_SECRET",
        }
        assert not plain & set(variables), function_id
        arns = {name: value for name, value in variables.items() if name.endswith("_SECRET_ARN")}
        for name in arns:
            # The name src/pytoon/aws/secrets.py looks up: secret("NAME") reads NAME, else NAME_SECRET_ARN; a video
            # engine's key is looked up from its adapter's prefix ("RUNWAY" -> RUNWAY_API_KEY).
            key = name.removesuffix("_SECRET_ARN")
            assert f'"{key}"' in source or f'"{key.removesuffix("_API_KEY")}"' in source, name
        readable = data_grants(cfn_resources, function_id).get("secretsmanager:GetSecretValue", set())
        assert readable == {f"SECRET:{value['Ref']}" for value in arns.values()}, function_id
    api = functions["ApiFunction"].props["Environment"]["Variables"]
    assert api["ADMIN_API_KEY_SECRET_ARN"] == {"Ref": "AdminApiKeySecret"}
    webhooks = functions["WebhooksFunction"].props["Environment"]["Variables"]
    assert webhooks["SORA_WEBHOOK_SECRET_SECRET_ARN"] == {"Ref": "SoraWebhookSecret"}
    assert webhooks["REMOTION_WEBHOOK_SECRET_SECRET_ARN"] == {"Ref": "RemotionWebhookSecret"}
    planner = functions["PlannerFunction"].props["Environment"]["Variables"]
    assert planner["PYTOON_PLANNER_LLM_API_KEY_SECRET_ARN"] == {"Ref": "PlannerLlmApiKeySecret"}
    voiceover = functions["VoiceoverFunction"].props["Environment"]["Variables"]
    assert voiceover["OPENAI_API_KEY_SECRET_ARN"] == {"Ref": "TtsOpenAiApiKeySecret"}
    assert voiceover["ELEVENLABS_API_KEY_SECRET_ARN"] == {"Ref": "TtsElevenLabsApiKeySecret"}


def test_admin_key_is_generated_unless_given_and_webhook_secrets_start_unusable(resources: dict[str, Any]) -> None:
    admin = resources["AdminApiKeySecret"]["Properties"]
    assert admin["SecretString"] == {"Fn::If": ["HasAdminApiKey", {"Ref": "AdminApiKey"}, {"Ref": "AWS::NoValue"}]}
    condition, given, generated = admin["GenerateSecretString"]["Fn::If"]
    assert (condition, given) == ("HasAdminApiKey", {"Ref": "AWS::NoValue"})
    assert generated["PasswordLength"] >= 32
    placeholders = (
        "SoraWebhookSecret",
        "RemotionWebhookSecret",
        "PlannerLlmApiKeySecret",
        "TtsOpenAiApiKeySecret",
        "TtsElevenLabsApiKeySecret",
        "RunwayApiKeySecret",
        "LumaApiKeySecret",
        "PikaApiKeySecret",
    )
    for logical_id in placeholders:
        props = resources[logical_id]["Properties"]
        generated = props["GenerateSecretString"]
        assert "SecretString" not in props and generated["PasswordLength"] >= 32
        # The placeholder must decode as base64 (what the Standard Webhooks verifier does with a secret), so a
        # callback before the real secret is stored is refused as unsigned, not crashed on.
        assert generated["PasswordLength"] % 4 == 0 and generated["ExcludePunctuation"] is True


def _refs(node: Any, name: str, path: str = "") -> list[str]:
    """Where in the template `{"Ref": name}` occurs, as dotted paths."""
    if node == {"Ref": name}:
        return [path]
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in _refs(value, name, f"{path}.{key}")]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in _refs(value, name, f"{path}.{i}")]
    return []


def test_no_secret_passes_through_a_plain_parameter(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert "SoraWebhookSecret" not in parameters and "RemotionWebhookSecret" not in parameters
    # The admin key parameter only seeds the secret (and decides whether one is generated).
    assert parameters["AdminApiKey"]["NoEcho"] is True
    assert _refs(template, "AdminApiKey") == [
        ".Conditions.HasAdminApiKey.Fn::Not.0.Fn::Equals.0",
        ".Resources.AdminApiKeySecret.Properties.SecretString.Fn::If.1",
    ]


def test_outputs_tell_the_operator_where_the_secrets_are(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["AdminApiKeySecretArn"]["Value"] == {"Ref": "AdminApiKeySecret"}
    command = outputs["ReadAdminApiKeyCommand"]["Value"]["Fn::Sub"]
    assert command.startswith("aws secretsmanager get-secret-value") and "${AdminApiKeySecret}" in command
    secrets = ("SoraWebhookSecretArn", "RemotionWebhookSecretArn", "PlannerLlmApiKeySecretArn")
    engines = ("RunwayApiKeySecretArn", "LumaApiKeySecretArn", "PikaApiKeySecretArn")
    for name in (*secrets, "TtsOpenAiApiKeySecretArn", "TtsElevenLabsApiKeySecretArn", *engines):
        assert "put-secret-value" in outputs[name]["Description"]
