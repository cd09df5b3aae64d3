"""The least-privilege roles in template.yaml cover what the handlers really do.

moto does not enforce IAM, so a missing grant would only show on AWS, as AccessDenied in the middle of a
job. Here every AWS call the handlers make during real work (an API upload, a presigned upload that the
upload notification validates, a whole V1 job with music through the state machine, a V2 job with a prompt,
an uploaded clip, an https image the planner fetches and stores, music and a spoken voice script, a scene an
engine generates, a production run through both gates with engine-made clips) is recorded
with the function it ran in, turned into the IAM action and resource AWS would check, and matched against
that function's statements in the SAM-transformed template.
"""

from __future__ import annotations

import fnmatch
import io
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.client
import httpx
import pytest
from PIL import Image
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

from pytoon.aws.storage import ArtifactStore
from pytoon.config import get_settings
from pytoon.local.embedded import EmbeddedAWS
from pytoon.local.fakes.runway_video import fake_runway_video
from pytoon.local.template import load_template
from tests.contract.conftest import StubIam, packaged, role_statements
from tests.contract.test_least_privilege import symbolic
from tests.fakes.media_server import body, media_server, serve_pipeline_fetches
from tests.integration.conftest import upload, upload_clip, wait_for_job
from tests.media import make_test_clip

pytestmark = pytest.mark.integration

Call = tuple[str, str, str]  # function, IAM action, symbolic resource (TABLE, BUCKET/key, STATE_MACHINE...)

_S3_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
    "CopyObject": "s3:PutObject",
    "ListObjectsV2": "s3:ListBucket",
}
_STATES_RESOURCES = {
    "StartExecution": "STATE_MACHINE",
    "DescribeExecution": "STATE_MACHINE_EXECUTIONS",
    "GetExecutionHistory": "STATE_MACHINE_EXECUTIONS",
    "SendTaskSuccess": "STATE_MACHINE",
    "SendTaskFailure": "STATE_MACHINE",
    "SendTaskHeartbeat": "STATE_MACHINE",
}


def _function_of_current_thread() -> str | None:
    """The function a call runs in: a local Lambda environment thread, or the API server's threads."""
    name = threading.current_thread().name
    if match := re.match(r"lambda-([A-Za-z0-9]+)", name):
        return match[1]
    if name == "AnyIO worker thread" or name.endswith("(run)"):
        return "ApiFunction"
    return None  # the test itself, moto's own threads


def _machine_resource(operation: str, params: dict[str, Any]) -> str:
    """The state machine a call acts on, as the least-privilege test names it. A task token names no machine:
    the API resolves only approval gates (ProductionRun), every other caller a render job's or a run's clip."""
    arn = params.get("stateMachineArn") or params.get("executionArn")
    if arn is not None:
        named = _STATES_RESOURCES[operation]
        return named.replace("STATE_MACHINE", "RUN_STATE_MACHINE") if ":ProductionRunStateMachine" in arn else named
    return "RUN_STATE_MACHINE" if _function_of_current_thread() == "ApiFunction" else _STATES_RESOURCES[operation]


def _iam_call(service: str, operation: str, params: dict[str, Any]) -> tuple[str, str] | None:
    if service == "dynamodb":
        table = params.get("TableName") or next(iter(params.get("RequestItems", {})), "")
        assert table == get_settings().table_name, (operation, table)
        return f"dynamodb:{operation}", "TABLE" + (f"/index/{params['IndexName']}" if params.get("IndexName") else "")
    if service == "s3":
        key = params.get("Key")
        return _S3_ACTIONS[operation], "BUCKET" + (f"/{key}" if key else "")
    if service == "stepfunctions":
        return f"states:{operation}", _machine_resource(operation, params)
    if service == "secretsmanager":
        return f"secretsmanager:{operation}", "SECRET"
    return None


@pytest.fixture
def recorded_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[Call]]:
    calls: set[Call] = set()
    lock = threading.Lock()
    original = botocore.client.BaseClient._make_api_call

    def record(function: str | None, call: tuple[str, str] | None) -> None:
        if function is not None and call is not None:
            with lock:
                calls.add((function, *call))

    def make_api_call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        record(_function_of_current_thread(), _iam_call(service, operation, params))
        if operation == "CopyObject":  # S3 checks the source's GetObject as well as the target's PutObject
            source = params["CopySource"]
            record(_function_of_current_thread(), ("s3:GetObject", f"BUCKET/{source['Key']}"))
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    # Presigned URLs and forms are checked by S3 against the signer's permissions when they are used, and
    # file transfers run in s3transfer's own threads: both are recorded where the handler asks for them.
    for method, action in (
        ("url", "s3:GetObject"),
        ("presigned_post", "s3:PutObject"),
        ("download", "s3:GetObject"),
        ("put_file", "s3:PutObject"),
    ):
        monkeypatch.setattr(ArtifactStore, method, _recording(getattr(ArtifactStore, method), action, record))
    yield calls


def _recording(method: Any, action: str, record: Any) -> Any:
    def wrapper(store: ArtifactStore, key: str, *args: Any, **kwargs: Any) -> Any:
        record(_function_of_current_thread(), (action, f"BUCKET/{key}"))
        return method(store, key, *args, **kwargs)

    return wrapper


def _grants() -> dict[str, list[tuple[str, str]]]:
    """function -> [(action, resource pattern)] from the transformed template."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        resources = transform(packaged(load_template()), {}, ManagedPolicyLoader(StubIam()))["Resources"]
    grants: dict[str, list[tuple[str, str]]] = {}
    for function_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        role_id = resource["Properties"]["Role"]["Fn::GetAtt"][0]
        for statement in role_statements(resources, role_id):
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]:
                grants.setdefault(function_id, []).extend((action, symbolic(t)) for t in targets)
    return grants


def _allowed(grants: list[tuple[str, str]], action: str, resource: str) -> bool:
    return any(granted == action and fnmatch.fnmatchcase(resource, pattern) for granted, pattern in grants)


def _assert_all_granted(calls: set[Call], functions: set[str]) -> None:
    """Every one of `functions` made calls, and the template grants every recorded call."""
    functions_seen = {function for function, _, _ in calls}
    assert functions <= functions_seen, functions_seen
    grants = _grants()
    denied = sorted(c for c in calls if not _allowed(grants.get(c[0], []), c[1], c[2]))
    assert denied == [], "calls AWS would refuse (function, action, resource):\n" + "\n".join(map(str, denied))


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 30, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_every_call_the_handlers_make_is_granted(
    api: httpx.Client, embedded: EmbeddedAWS, media_dir: Path, recorded_calls: set[Call]
) -> None:
    images = [upload(api, media_dir / f"product_{i}.png", "image")["uri"] for i in range(2)]
    music = upload(api, media_dir / "music.wav", "audio")["uri"]
    form = api.post(
        "/api/v1/assets/uploads", json={"filename": "late.png", "content_type": "image/png", "category": "image"}
    ).json()
    httpx.post(form["upload_url"], data=form["upload_fields"], files={"file": ("late.png", _png())})
    assert api.get(form["status_url"]).json()["status"] == "READY"
    created = api.post(
        "/api/v1/jobs",
        json={
            "preset_id": "product_hero_clean",
            "prompt": "Every call granted.",
            "target_duration_seconds": 2,
            "image_uris": [*images, form["uri"]],
            "music_uri": music,
        },
    )
    assert created.status_code == 201, created.text
    job = wait_for_job(api, created.json()["job_id"])
    assert job["status"] == "DONE", job["error"]
    # A job whose assembly crashes goes through MarkFailed.
    embedded.runtime.inject_handler_errors("AssembleFunction", count=1)
    failing = api.post(
        "/api/v1/jobs", json={"preset_id": "product_hero_clean", "target_duration_seconds": 1, "image_uris": images}
    )
    assert wait_for_job(api, failing.json()["job_id"])["status"] == "FAILED"

    _assert_all_granted(
        recorded_calls,
        {
            "ApiFunction",
            "UploadValidationFunction",
            "PlannerFunction",
            "SegmentRenderFunction",
            "AudioFunction",
            "AssembleFunction",
            "MarkFailedFunction",
        },
    )


def test_every_call_a_v2_job_makes_is_granted(
    api: httpx.Client, media_dir: Path, tmp_path: Path, recorded_calls: set[Call], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = upload(api, media_dir / "product_1.png", "image")["uri"]
    clip = upload_clip(api, make_test_clip(tmp_path / "clip.mp4", seconds=1.0, fps=24, size=(320, 180)))
    music = upload(api, media_dir / "music.wav", "audio")["uri"]
    with media_server({"/shot.png": body("image/png", _png())}) as server:
        serve_pipeline_fetches(server, monkeypatch)
        created = api.post(
            "/api/v2/jobs",
            json={
                "prompt": "The photo. The clip. The fetched shot.",
                "media_files": [image, clip, server.url("/shot.png")],
                "music_source": music,
                "voice_script": "Every call is granted.",
                "target_duration_seconds": 3,
            },
        )
        assert created.status_code == 202, created.text
        job_id = created.json()["job_id"]
        job = wait_for_job(api, job_id)
    assert job["status"] == "DONE", job["error"]
    assert [s["media_type"] for s in api.get(f"/api/v2/jobs/{job_id}").json()["scenes"]] == ["image", "video", "image"]

    # The planner stored the fetched image, and the segment that shows it read it back: both are checked.
    assert ("PlannerFunction", "s3:PutObject", f"BUCKET/jobs/{job_id}/media/00.png") in recorded_calls
    assert ("SegmentRenderFunction", "s3:GetObject", f"BUCKET/jobs/{job_id}/media/00.png") in recorded_calls
    _assert_all_granted(
        recorded_calls,
        {
            "ApiFunction",
            "UploadValidationFunction",
            "VoiceoverFunction",
            "PlannerFunction",
            "SegmentRenderFunction",
            "AudioFunction",
            "AssembleFunction",
        },
    )


def test_every_call_a_generated_scene_makes_is_granted(
    api: httpx.Client, recorded_calls: set[Call], monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_runway_video() as runway:
        monkeypatch.setenv("RUNWAY_API_KEY", runway.api_key)
        monkeypatch.setenv("RUNWAY_BASE_URL", runway.api_url)
        created = api.post(
            "/api/v2/jobs",
            json={"prompt": "A lake at dawn.", "engine_override": "runway", "target_duration_seconds": 2},
        )
        assert created.status_code == 202, created.text
        job_id = created.json()["job_id"]
        job = wait_for_job(api, job_id)
    assert job["status"] == "DONE", job["error"]
    assert ("ClipEngineFunction", "s3:PutObject", f"BUCKET/jobs/{job_id}/clips/seg_000.mp4") in recorded_calls
    assert ("SegmentRenderFunction", "s3:GetObject", f"BUCKET/jobs/{job_id}/clips/seg_000.mp4") in recorded_calls
    _assert_all_granted(recorded_calls, {"ClipEngineFunction", "PlannerFunction", "SegmentRenderFunction"})


def test_every_call_a_production_run_makes_is_granted(
    api: httpx.Client, recorded_calls: set[Call], monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_runway_video() as runway:
        monkeypatch.setenv("RUNWAY_API_KEY", runway.api_key)
        monkeypatch.setenv("RUNWAY_BASE_URL", runway.api_url)
        started = api.post("/v1/runs/start", json={"project": "aismr", "brief": "Every call granted"})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        for gate, waiting in (("ideation", "awaiting_ideation_approval"), ("publish", "awaiting_publish_approval")):
            _run_reaches(api, run_id, waiting)
            decided = api.post(f"/v1/runs/{run_id}/approve", json={"gate": gate, "approved": True})
            assert decided.status_code == 200, decided.text
        run = _run_reaches(api, run_id, "completed")
    assert {c["engine"] for c in run["artifacts"]["clips"]} == {"runway"}
    _assert_all_granted(
        recorded_calls,
        {"ApiFunction", "RunStepFunction", "ClipEngineFunction", "PlannerFunction", "AssembleFunction"},
    )
    assert ("ApiFunction", "states:SendTaskSuccess", "RUN_STATE_MACHINE") in recorded_calls


def _run_reaches(api: httpx.Client, run_id: str, status: str) -> dict:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run = api.get(f"/v1/runs/{run_id}").json()
        if run["status"] == status:
            return run
        assert run["status"] not in ("completed", "failed", "rejected"), run["error"]
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} never reached {status}")
