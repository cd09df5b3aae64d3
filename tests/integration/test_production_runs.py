"""Production runs end to end on embedded AWS, over real HTTP: the ProductionRun ASL runs in the Step Functions
interpreter, renders through a nested RenderJob execution and waits at its gates for `POST .../approve`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve
from pytoon.runs.projects import get_project
from tests.integration.conftest import download
from tests.media import decode_frames, save_png, video_stream

pytestmark = pytest.mark.integration

RUN_DEADLINE_SECONDS = 300
LOOK = Path(__file__).resolve().parents[2] / "out" / "look"
OTHER_TENANT_KEY = "other-tenant-runs-key"


def start_run(api: httpx.Client, project: str = "motivational", brief: str = "Keep going when it gets hard") -> str:
    response = api.post("/v1/runs/start", json={"project": project, "brief": brief})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "pending"
    return body["run_id"]


def run_at(api: httpx.Client, run_id: str, *statuses: str) -> dict:
    """The run once it reaches one of `statuses` (failing with the run's error if it ends anywhere else)."""
    deadline = time.monotonic() + RUN_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        response = api.get(f"/v1/runs/{run_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] in statuses:
            return body
        assert body["status"] not in ("completed", "failed", "rejected"), body
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} never reached {statuses}: {body}")


def approve(api: httpx.Client, run_id: str, gate: str, approved: bool = True, comment: str | None = None) -> dict:
    response = api.post(f"/v1/runs/{run_id}/approve", json={"gate": gate, "approved": approved, "comment": comment})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def other_tenant(api: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    from pytoon.aws.apikeys import ApiKeyRepository
    from pytoon.config import get_settings

    ApiKeyRepository.from_settings(get_settings()).store(OTHER_TENANT_KEY, "other-tenant", 10_000)
    with httpx.Client(base_url=str(api.base_url), headers={"X-API-Key": OTHER_TENANT_KEY}, timeout=60) as client:
        yield client


class Receiver(LoopbackFake):
    """The tenant's own webhook endpoint."""

    def respond(self, request: ReceivedRequest) -> Reply:
        return Reply(204)


@pytest.fixture
def receiver(api: httpx.Client) -> Iterator[tuple[Receiver, str]]:
    """A webhook registered for the suite's tenant (removed afterwards); yields it and its signing secret."""
    with serve(Receiver(), name="tenant-webhook") as fake:
        registered = api.put("/v1/notifications/webhook", json={"url": f"{fake.base_url}/pytoon"})
        assert registered.status_code == 200, registered.text
        assert api.get("/v1/notifications/webhook").json()["secret"] is None  # shown once
        yield fake, registered.json()["secret"]
        assert api.delete("/v1/notifications/webhook").status_code == 204
    assert api.get("/v1/notifications/webhook").status_code == 404


def test_a_run_goes_through_both_gates_to_a_published_video(
    api: httpx.Client, other_tenant: httpx.Client, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    project = get_project("motivational")
    run_id = start_run(api)

    waiting = run_at(api, run_id, "awaiting_ideation_approval")
    assert waiting["current_step"] == "ideation_approval"
    ideas = waiting["artifacts"]["ideas"]
    assert len(ideas["clips"]) == project.clip_count and ideas["ideator"] == "rules"
    assert ideas["title"] in waiting["artifacts"]["ideas_text"]
    # Another tenant cannot see or decide it; a gate it is not waiting at is a conflict that names its status.
    assert other_tenant.get(f"/v1/runs/{run_id}").status_code == 404
    assert (
        other_tenant.post(f"/v1/runs/{run_id}/approve", json={"gate": "ideation", "approved": True}).status_code == 404
    )
    early = api.post(f"/v1/runs/{run_id}/approve", json={"gate": "publish", "approved": True})
    assert early.status_code == 409 and "awaiting_ideation_approval" in early.json()["detail"]
    assert run_id in [
        r["run_id"] for r in api.get("/v1/runs", params={"status": "awaiting_ideation_approval"}).json()["runs"]
    ]
    assert run_id not in [r["run_id"] for r in other_tenant.get("/v1/runs").json()["runs"]]

    decided = approve(api, run_id, "ideation", comment="Good hooks")
    assert decided["artifacts"]["gates"]["ideation"]["comment"] == "Good hooks"
    again = api.post(f"/v1/runs/{run_id}/approve", json={"gate": "ideation", "approved": True})
    assert again.status_code == 409

    review = run_at(api, run_id, "awaiting_publish_approval")
    clips = review["artifacts"]["clips"]
    # No engine has a key here: every clip is a designed card made locally, and says why.
    assert [c["engine"] for c in clips] == ["local_ffmpeg"] * project.clip_count
    assert all("no video engine available" in c["fallback_reason"] for c in clips)
    render = review["artifacts"]["render"]
    assert render["status"] == "done" and render["output_url"]
    job = api.get(f"/api/v2/jobs/{render['job_id']}").json()
    assert job["status"] == "done" and job["scene_count"] == project.clip_count

    video = download(render["output_url"], tmp_path / "run.mp4")
    stream = video_stream(video)
    assert (stream.width, stream.height) == (1080, 1920)
    assert stream.frames == project.clip_count * project.clip_seconds * 30
    frames = decode_frames(video, {15})
    save_png(frames[15], LOOK / "run_first_clip_frame15.png")

    approve(api, run_id, "publish")
    done = run_at(api, run_id, "completed")
    published = done["artifacts"]["published"]
    assert published["state"] == "published" and published["url"]
    assert download(published["url"], tmp_path / "published.mp4").read_bytes() == video.read_bytes()
    assert done["error"] is None

    # The tenant's webhook was told, in order, each event signed (the reference library verifies them).
    # The run is marked completed before its event is sent: the event follows within moments.
    webhook, secret = receiver
    ours = {run_id, render["job_id"]}
    deadline = time.monotonic() + 30
    while True:
        events = [Webhook(secret).verify(r.raw, r.headers) for r in webhook.received("POST", "/pytoon")]
        mine = [e for e in events if ours & {e["data"].get("run_id"), e["data"].get("job_id")}]
        if any(e["type"] == "run.completed" for e in mine) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [e["type"] for e in mine] == [
        "run.awaiting_approval",
        "job.completed",
        "run.awaiting_approval",
        "run.completed",
    ]
    assert [e["data"].get("gate") for e in mine if e["type"] == "run.awaiting_approval"] == ["ideation", "publish"]
    deliveries = api.get("/v1/notifications/deliveries").json()["deliveries"]
    assert len(deliveries) >= 4 and all(d["delivered"] for d in deliveries)


@pytest.mark.parametrize("gate", ["ideation", "publish"])
def test_a_rejection_at_either_gate_ends_the_run_rejected_with_the_comment(api: httpx.Client, gate: str) -> None:
    run_id = start_run(api, brief=f"Rejected at {gate}")
    run_at(api, run_id, "awaiting_ideation_approval")
    if gate == "publish":
        approve(api, run_id, "ideation")
        run_at(api, run_id, "awaiting_publish_approval")
    approve(api, run_id, gate, approved=False, comment="Off brand")
    ended = run_at(api, run_id, "rejected")
    assert ended["error"] == f"rejected at the {gate} gate: Off brand"
    assert ended["artifacts"]["gates"][gate]["approved"] is False
    assert (ended["artifacts"]["render"] is None) == (gate == "ideation")
    assert ended["artifacts"]["published"] is None


def test_a_gate_nobody_decides_fails_the_run_after_its_timeout(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTOON_RUN_IDEATION_APPROVAL_TIMEOUT_SECONDS", "2")
    run_id = start_run(api, brief="Nobody looks at this one")
    ended = run_at(api, run_id, "failed")
    assert ended["error"] == "ideation approval: no outcome within 2 s"
    assert ended["current_step"] == "ideation_approval"
    late = api.post(f"/v1/runs/{run_id}/approve", json={"gate": "ideation", "approved": True})
    assert late.status_code == 409 and "failed" in late.json()["detail"]


def test_bad_requests_are_refused_with_reasons(api: httpx.Client) -> None:
    unknown = api.post("/v1/runs/start", json={"project": "nope", "brief": "x"})
    assert unknown.status_code == 400 and "aismr" in unknown.json()["detail"]
    refused = api.post("/v1/runs/start", json={"project": "aismr", "brief": "something nsfw"})
    assert refused.status_code == 400 and "content rules" in refused.json()["detail"]
    assert api.post("/v1/runs/start", json={"project": "aismr"}).status_code == 422
    assert api.post("/v1/runs/start", json={"project": "aismr", "brief": "x", "extra": 1}).status_code == 422
    assert api.get("/v1/runs/not-a-run").status_code == 404
    assert api.get("/v1/runs/" + "x" * 200).status_code == 422
    bad_gate = api.post("/v1/runs/abc/approve", json={"gate": "render", "approved": True})
    assert bad_gate.status_code == 422
    assert api.get("/v1/runs", params={"status": "sleeping"}).status_code == 422
    assert httpx.get(f"{api.base_url}/v1/runs", headers={"X-API-Key": "wrong-key-123"}).status_code == 401


def test_the_same_idempotency_key_gives_the_same_run(api: httpx.Client) -> None:
    body = {"project": "aismr", "brief": "Soft rain on a window"}
    first = api.post("/v1/runs/start", json=body, headers={"Idempotency-Key": "run-once"})
    second = api.post("/v1/runs/start", json=body, headers={"Idempotency-Key": "run-once"})
    assert first.status_code == second.status_code == 202
    assert first.json()["run_id"] == second.json()["run_id"]
    other = api.post("/v1/runs/start", json={**body, "brief": "Thunder"}, headers={"Idempotency-Key": "run-once"})
    assert other.status_code == 409


def chat(api: httpx.Client, message: str, session_id: str | None = None) -> dict:
    response = api.post("/v1/chat/supervisor", json={"message": message, "session_id": session_id})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_supervisor_starts_lists_reports_and_approves_runs_in_a_session(
    api: httpx.Client, other_tenant: httpx.Client
) -> None:
    started = chat(api, "make a relaxing rain video for aismr")
    session = started["session_id"]
    [action] = started["actions"]
    assert (action["operation"], action["outcome"]) == ("start_run", "ok")
    [run] = started["runs"]
    assert run["project"] == "aismr" and "rain" in run["brief"].lower()
    run_id = run["run_id"]
    run_at(api, run_id, "awaiting_ideation_approval")

    waiting = chat(api, "what is waiting for approval?", session)
    assert waiting["session_id"] == session and run_id in [r["run_id"] for r in waiting["runs"]]
    report = chat(api, "how is it doing?", session)  # "it": the run this session talked about
    assert run_id in report["reply"] and "awaiting_ideation_approval" in [r["status"] for r in report["runs"]]
    approved = chat(api, f"approve ideation for {run_id}", session)
    assert [(a["operation"], a["outcome"]) for a in approved["actions"]] == [("approve_gate", "ok")]
    assert run_at(api, run_id, "awaiting_publish_approval")["artifacts"]["gates"]["ideation"]["approved"] is True

    # Another tenant's chat neither sees the run nor the session.
    elsewhere = chat(other_tenant, f"status of {run_id}", session)
    assert elsewhere["session_id"] != session and elsewhere["runs"] == []
    assert chat(api, "")["reply"] and chat(api, "what can you do?")["reply"]
    rejected = chat(api, f"reject the publish gate of {run_id} because the music is too loud", session)
    assert [(a["operation"], a["outcome"]) for a in rejected["actions"]] == [("approve_gate", "ok")]
    assert run_at(api, run_id, "rejected")["error"] == "rejected at the publish gate: the music is too loud"


def test_a_retried_render_step_gets_the_job_its_first_try_made(api: httpx.Client) -> None:
    from pytoon.aws.runs import RunRepository
    from pytoon.config import get_settings
    from pytoon.runs.steps import prepare_render

    run_id = start_run(api, brief="A render step tried twice")
    run_at(api, run_id, "awaiting_ideation_approval")
    approve(api, run_id, "ideation")
    job_id = run_at(api, run_id, "awaiting_publish_approval")["artifacts"]["render"]["job_id"]
    # As if the step's first try had been cut off after submitting the job, before the run recorded it.
    RunRepository.from_settings(get_settings()).update(run_id, artifacts={"render": None})
    assert prepare_render(run_id).job_id == job_id
    assert api.get(f"/v1/runs/{run_id}").json()["artifacts"]["render"]["job_id"] == job_id
