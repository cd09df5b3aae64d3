"""Memory, timeout, /tmp and layer choices stay inside Lambda's limits and agree with the ASL's timeouts."""

from __future__ import annotations

from typing import Any

import pytest

from .asl import iter_states
from .conftest import FFMPEG_USERS, Function, function_arn_standin

LAMBDA_MAX_TIMEOUT = 900
API_GATEWAY_REST_TIMEOUT = 29
ONE_VCPU_MB = 1769
# The functions that run ffmpeg (encode, join, decode or probe media) need /opt/bin/ffmpeg.


def test_every_function_is_within_lambda_limits(functions: dict[str, Function]) -> None:
    for logical_id, f in functions.items():
        assert 1 <= f.timeout <= LAMBDA_MAX_TIMEOUT, logical_id
        assert 128 <= f.memory <= 10240, logical_id
        assert 512 <= f.ephemeral <= 10240, logical_id
        assert len(f.layers) <= 5, logical_id


def test_api_backed_functions_answer_within_api_gateway_timeout(functions: dict[str, Function]) -> None:
    behind_api = {lid for lid, f in functions.items() if any(e["Type"] == "Api" for e in f.events.values())}
    assert behind_api == {"ApiFunction", "WebhooksFunction"}
    for logical_id in behind_api:
        assert functions[logical_id].timeout <= API_GATEWAY_REST_TIMEOUT, logical_id


@pytest.mark.parametrize(
    ("logical_id", "min_memory", "min_ephemeral"),
    [
        ("SegmentRenderFunction", 3008, 2048),  # the 2-vCPU band for x264; room for sources and the segment
        ("AudioFunction", 1769, 1024),  # one full vCPU for single-threaded ffmpeg audio work; float WAV stems
        ("AssembleFunction", 2048, 4096),  # every segment of a job plus the joined output on /tmp
        ("UploadValidationFunction", 3008, 1024),  # a 200 MB clip on /tmp, decoded with ffmpeg in time
        ("PlannerFunction", 1024, 512),
        ("VoiceoverFunction", 1769, 512),  # one full vCPU for the offline voice and ffmpeg's decode
        ("ClipEngineFunction", 1769, 1024),  # a generated clip of up to 200 MB, decoded to check it
    ],
)
def test_media_functions_have_cpu_and_disk_for_video(
    functions: dict[str, Function], logical_id: str, min_memory: int, min_ephemeral: int
) -> None:
    f = functions[logical_id]
    assert f.memory >= min_memory
    assert f.ephemeral >= min_ephemeral


def test_renderer_gets_at_least_one_full_vcpu(functions: dict[str, Function]) -> None:
    assert functions["SegmentRenderFunction"].memory >= ONE_VCPU_MB
    assert functions["SegmentRenderFunction"].timeout == LAMBDA_MAX_TIMEOUT


def test_ffmpeg_layer_goes_exactly_where_ffmpeg_runs(functions: dict[str, Function]) -> None:
    for logical_id, f in functions.items():
        assert f.layers[0] == {"Ref": "DomainLayer"}, logical_id
        assert ({"Ref": "FfmpegLayer"} in f.layers) == (logical_id in FFMPEG_USERS), logical_id


def test_environment_carries_the_settings_every_handler_reads(functions: dict[str, Function]) -> None:
    required = {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "PYTOON_TABLE_NAME",
        "PYTOON_BUCKET_NAME",
        "FFMPEG_BINARY",
        "PYTOON_WORK_DIR",
    }
    for logical_id, f in functions.items():
        variables = f.props["Environment"]["Variables"]
        assert required <= set(variables), (logical_id, sorted(required - set(variables)))
        assert variables["FFMPEG_BINARY"] == "/opt/bin/ffmpeg"
        assert variables["PYTOON_WORK_DIR"].startswith("/tmp/")
    assert functions["ApiFunction"].props["Environment"]["Variables"]["PYTOON_STATE_MACHINE_ARN"] == {
        "Ref": "RenderJobStateMachine"
    }


def test_step_functions_never_gives_up_before_lambda_does(
    functions: dict[str, Function], render_job: dict[str, Any], render_job_asl: dict[str, Any]
) -> None:
    """A task timeout at or below the function's abandons a still-running invocation, and the retry starts a
    second one beside it. Strictly above, Lambda's own timeout fires first and the retry sees a clean error."""
    arn_to_function = {
        function_arn_standin(value["Fn::GetAtt"][0]): value["Fn::GetAtt"][0]
        for name, value in render_job["DefinitionSubstitutions"].items()
        if name.endswith("FunctionArn")
    }
    checked = 0
    for name, state, _ in iter_states(render_job_asl):
        if state["Type"] != "Task":
            continue
        function = functions[arn_to_function[state["Parameters"]["FunctionName"]]]
        if state["Resource"].endswith(".waitForTaskToken"):
            # The function returns at once; the task waits for a callback, at most until the deadline the
            # previous step computed.
            assert state["TimeoutSecondsPath"] == "$.wait_seconds", name
            continue
        assert "TimeoutSeconds" in state, name  # the default is no timeout at all
        assert state["TimeoutSeconds"] > function.timeout, (name, function.logical_id, function.timeout)
        checked += 1
    assert checked == 10  # Speak, Plan, three clip steps, RenderSegment in both Maps, BuildAudio, Assemble, MarkFailed
