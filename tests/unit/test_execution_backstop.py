"""The execution-status backstop (MarkFailedFunction behind the EventBridge rule) for production runs: a run
whose execution died outside its own steps (stopped, timed out, a runtime error) is failed at once with what
the execution says, and its tenant is told; a run its steps already ended is left as it is; an execution that
is not a run's is a render job's."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from functions.mark_failed.app import lambda_handler
from pytoon.aws.runs import RunRepository
from pytoon.config import get_settings
from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve
from pytoon.local.lambda_runtime import LocalContext
from pytoon.notifications import subscribe
from pytoon.runs.models import RunStatus

EVENT = json.loads((Path(__file__).resolve().parents[1] / "events" / "sfn_execution_failed.json").read_text())
CONTEXT = LocalContext("MarkFailedFunction", 256, 10, "arn:aws:lambda:us-east-1:123456789012:function:MarkFailed")


class Receiver(LoopbackFake):
    def respond(self, request: ReceivedRequest) -> Reply:
        return Reply(200)


@pytest.fixture
def runs(moto_settings: pytest.MonkeyPatch) -> RunRepository:
    moto_settings.setenv("PYTOON_NOTIFY_ALLOW_LOOPBACK", "true")
    return RunRepository.from_settings(get_settings())


def _ended(name: str, status: str, error: str | None = None, cause: str | None = None) -> dict:
    event = copy.deepcopy(EVENT)
    event["detail"] |= {"name": name, "status": status, "error": error, "cause": cause}
    return event


def test_a_stopped_run_is_failed_at_once_and_its_tenant_told(runs: RunRepository) -> None:
    runs.create(run_id="run-1", tenant_id="acme", project="aismr", brief="Rain")
    runs.update("run-1", status=RunStatus.AWAITING_IDEATION_APPROVAL, current_step="ideation_approval")
    with serve(Receiver(), name="tenant-webhook") as receiver:
        subscribe("acme", f"{receiver.base_url}/hooks", ["run.failed"])
        answer = lambda_handler(_ended("run-1", "ABORTED"), CONTEXT)
        [told] = receiver.received("POST", "/hooks")
    reason = "the run's execution ended ABORTED"
    assert answer == {"run_id": "run-1", "status": "failed", "reason": reason}
    record = runs.get("run-1")
    assert (record.status, record.error) == (RunStatus.FAILED, reason)
    assert told.json["type"] == "run.failed" and told.json["data"]["error"] == reason


def test_a_runtime_error_is_the_reason(runs: RunRepository) -> None:
    runs.create(run_id="run-2", tenant_id="acme", project="aismr", brief="Rain")
    lambda_handler(_ended("run-2", "FAILED", "States.Runtime", "The JSONPath '$.x' could not be found"), CONTEXT)
    assert runs.get("run-2").error == (
        "the run's execution ended FAILED: States.Runtime: The JSONPath '$.x' could not be found"
    )


def test_a_run_its_steps_ended_keeps_their_outcome(runs: RunRepository) -> None:
    runs.create(run_id="run-3", tenant_id="acme", project="aismr", brief="Rain")
    runs.update("run-3", status=RunStatus.REJECTED, error="rejected at the ideation gate: Off brand")
    # The execution of a rejected run succeeds, but of a failed one it ends FAILED too: the rule sees it.
    answer = lambda_handler(_ended("run-3", "FAILED", "RunFailed"), CONTEXT)
    assert answer["status"] == "rejected" and runs.get("run-3").error == "rejected at the ideation gate: Off brand"


def test_an_execution_that_is_no_run_is_a_render_job_s(runs: RunRepository) -> None:
    # (No job record either, so nothing is stored: the job path says what it would have recorded.)
    answer = lambda_handler(_ended("job-without-a-run", "TIMED_OUT"), CONTEXT)
    assert answer == {"job_id": "job-without-a-run", "status": "FAILED", "reason": "render execution timed_out"}
