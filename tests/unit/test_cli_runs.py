"""`pytoon runs` against a loopback fake of the API: the requests each command sends, what it prints, its exit
status, and one plain line (never a traceback) for each way the API refuses or is missing."""

from __future__ import annotations

import gc
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from pytoon import cli_runs
from pytoon.api.schemas import (
    GateDecisionBody,
    RunArtifactsBody,
    RunBody,
    RunClipBody,
    RunPublishedBody,
    RunRenderBody,
)
from pytoon.cli import DEFAULT_DEV_KEY, main
from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve

RUN_ID = "0123456789abcdef0123456789abcdef"
KEY = "pk_test_cli_runs"


class FakeApi(LoopbackFake):
    """Answers each (method, path) with its scripted replies in turn (the last one again once they run out)."""

    def __init__(self) -> None:
        super().__init__()
        self.replies: dict[tuple[str, str], list[Reply]] = {}

    def answer(self, method: str, path: str, *replies: Reply) -> None:
        self.replies[method, path] = list(replies)

    def respond(self, request: ReceivedRequest) -> Reply:
        queue = self.replies.get((request.method, request.path))
        if not queue:
            return Reply.json(404, {"detail": "Not Found"})
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    monkeypatch.delenv(cli_runs.API_URL_ENV, raising=False)
    monkeypatch.delenv(cli_runs.API_KEY_ENV, raising=False)
    with serve(FakeApi(), name="fake-pytoon-api") as fake:
        yield fake


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits `--wait` makes, recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr(cli_runs.time, "sleep", waited.append)
    return waited


def pytoon(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    gc.unfreeze()  # main sets the process's objects aside before exiting; this process goes on
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def runs(api: FakeApi, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    command, *rest = argv
    return pytoon(capsys, "runs", command, "--api-url", api.base_url, "--api-key", KEY, *rest)


def run_body(status: str = "awaiting_ideation_approval", **fields: Any) -> dict[str, Any]:
    """A run as the API's own body model writes it."""
    artifacts = {"ideas": None, "ideas_text": None, "clips": [], "render": None, "published": None, "gates": {}}
    body = {
        "run_id": RUN_ID,
        "project": "aismr",
        "brief": "Rain on a tin roof",
        "status": status,
        "current_step": "ideation_approval" if status == "awaiting_ideation_approval" else None,
        "error": None,
        "created_at": "2026-12-02T21:00:05.123456+00:00",
        "updated_at": "2026-12-02T21:00:09.000000+00:00",
    } | fields
    body["artifacts"] = RunArtifactsBody(**(artifacts | body.get("artifacts", {})))
    return RunBody(**body).model_dump(mode="json")


def test_start_sends_the_project_and_brief_and_prints_the_run_id(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer("POST", "/v1/runs/start", Reply.json(202, {"run_id": RUN_ID, "status": "pending"}))
    code, out, _ = runs(api, capsys, "start", "--project", "aismr", "--brief", "Rain on a tin roof")
    assert (code, out) == (0, f"{RUN_ID}\n")
    [sent] = api.received("POST", "/v1/runs/start")
    assert sent.json == {"project": "aismr", "brief": "Rain on a tin roof"}
    assert sent.headers["x-api-key"] == KEY


def test_the_api_and_key_come_from_the_environment_else_the_local_development_key(
    api: FakeApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api.answer("GET", "/v1/runs", Reply.json(200, {"runs": []}))
    monkeypatch.setenv(cli_runs.API_URL_ENV, api.base_url)
    assert pytoon(capsys, "runs", "list") == (0, "no runs\n", "")
    monkeypatch.setenv(cli_runs.API_KEY_ENV, "pk_from_env")
    assert pytoon(capsys, "runs", "list")[0] == 0
    assert [r.headers["x-api-key"] for r in api.received("GET", "/v1/runs")] == [DEFAULT_DEV_KEY, "pk_from_env"]


def test_no_key_for_an_api_elsewhere_is_refused_before_anything_is_sent(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = pytoon(capsys, "runs", "show", RUN_ID, "--api-url", "https://api.example.com")
    assert code == 2
    assert err == "pytoon runs show: no API key for https://api.example.com: pass --api-key or set PYTOON_API_KEY\n"


def test_start_wait_prints_each_change_until_the_run_waits_at_a_gate(
    api: FakeApi, capsys: pytest.CaptureFixture[str], sleeps: list[float]
) -> None:
    api.answer("POST", "/v1/runs/start", Reply.json(202, {"run_id": RUN_ID, "status": "pending"}))
    api.answer(
        "GET",
        f"/v1/runs/{RUN_ID}",
        Reply.json(200, run_body("pending")),
        Reply.json(200, run_body("running", current_step="ideation")),
        Reply.json(429, {"detail": "Rate limit exceeded", "retry_after_seconds": 7}, {"Retry-After": "7"}),
        Reply.json(200, run_body("running", current_step="ideation")),
        Reply.json(200, run_body("awaiting_ideation_approval")),
    )
    code, out, err = runs(api, capsys, "start", "--project", "aismr", "--brief", "Rain", "--wait")
    assert code == 0
    assert out.splitlines() == [
        RUN_ID,
        f"waiting at the ideation gate: pytoon runs show {RUN_ID}; pytoon runs approve {RUN_ID} --gate ideation",
    ]
    changes = [line.split(None, 1)[1] for line in err.splitlines()]
    assert changes == ["pending", "running  (ideation)", "awaiting_ideation_approval  (ideation_approval)"]
    assert len(api.received("GET", f"/v1/runs/{RUN_ID}")) == 5
    assert 7 in sleeps  # the rate limit's wait was kept, and following went on


def test_start_wait_ends_with_the_reason_of_a_failed_run(
    api: FakeApi, capsys: pytest.CaptureFixture[str], sleeps: list[float]
) -> None:
    api.answer("POST", "/v1/runs/start", Reply.json(202, {"run_id": RUN_ID, "status": "pending"}))
    failed = run_body("failed", current_step="ideation", error="ideation: the brief names no subject")
    api.answer("GET", f"/v1/runs/{RUN_ID}", Reply.json(200, failed))
    code, out, err = runs(api, capsys, "start", "--project", "aismr", "--brief", "Rain", "--wait")
    assert (code, out) == (1, f"{RUN_ID}\n")
    assert err.splitlines()[-1] == f"run {RUN_ID} failed: ideation: the brief names no subject"


def test_list_asks_for_a_status_and_prints_a_table(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    other = run_body("running", run_id="f" * 32, project="motivational", current_step="generate_clips")
    api.answer("GET", "/v1/runs", Reply.json(200, {"runs": [run_body(), other]}))
    code, out, _ = runs(api, capsys, "list", "--status", "awaiting_ideation_approval", "--limit", "5")
    assert code == 0
    [sent] = api.received("GET", "/v1/runs")
    assert sent.query == {"status": "awaiting_ideation_approval", "limit": "5"}
    header, first, second = (line.split() for line in out.splitlines())
    assert header == ["RUN", "ID", "PROJECT", "STATUS", "STEP", "CREATED"]
    assert first == [RUN_ID, "aismr", "awaiting_ideation_approval", "ideation_approval", "2026-12-02", "21:00:05"]
    assert second[:4] == ["f" * 32, "motivational", "running", "generate_clips"]


def test_list_says_when_nothing_matches(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer("GET", "/v1/runs", Reply.json(200, {"runs": []}))
    assert runs(api, capsys, "list", "--status", "failed") == (0, "no failed runs\n", "")


def _finished_run() -> dict[str, Any]:
    clips = [
        RunClipBody(index=0, prompt="Rain on tin", caption="Listen", seconds=4, done=True, engine="runway",
                    fallback_reason=None, url="http://clips/0.mp4"),
        RunClipBody(index=1, prompt="Drops", caption="Breathe", seconds=4, done=True, engine="local_ffmpeg",
                    fallback_reason="runway failed: Internal error; the local designed card", url=None),
    ]  # fmt: skip
    artifacts = {
        "ideas_text": "Title: Tin roof rain\nHook: Listen.",
        "clips": clips,
        "render": RunRenderBody(
            job_id="job-1",
            status="done",
            renderer="pytoon",
            fallback_reason=None,
            output_url="http://out/video.mp4",
            thumbnail_url=None,
        ),
        "published": RunPublishedBody(
            publisher="bucket", state="published", url="http://published/run.mp4", platforms={}, reason=None
        ),
        "gates": {
            "ideation": GateDecisionBody(approved=True, comment="lovely", decided_at="2026-12-02T21:01:00+00:00"),
            "publish": GateDecisionBody(approved=True, comment=None, decided_at="2026-12-02T21:05:00+00:00"),
        },
    }
    return run_body("completed", artifacts=artifacts)


def test_show_reads_as_a_reviewer_needs_it(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer("GET", f"/v1/runs/{RUN_ID}", Reply.json(200, _finished_run()))
    code, out, _ = runs(api, capsys, "show", RUN_ID)
    assert code == 0
    lines = [line.strip() for line in out.splitlines()]
    assert "status    completed" in lines
    assert "Title: Tin roof rain" in lines and "Hook: Listen." in lines
    assert "1. runway        4 s  Listen" in lines
    assert "2. local_ffmpeg  4 s  Breathe" in lines
    assert "fallback: runway failed: Internal error; the local designed card" in lines
    assert "render    job job-1  done" in lines and "http://out/video.mp4" in lines
    assert "published published by bucket  http://published/run.mp4" in lines
    assert "ideation  approved 2026-12-02 21:01:00  “lovely”" in lines
    assert "publish   approved 2026-12-02 21:05:00" in lines


def test_show_of_a_run_at_a_gate_names_the_error_and_the_next_command(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer("GET", f"/v1/runs/{RUN_ID}", Reply.json(200, run_body(error="notifications: receiver answered 500")))
    _, out, _ = runs(api, capsys, "show", RUN_ID)
    assert "status    awaiting_ideation_approval  (step ideation_approval)" in out
    assert "error     notifications: receiver answered 500" in out
    assert out.splitlines()[-1] == f"next: pytoon runs approve {RUN_ID} --gate ideation [--reject --comment TEXT]"


def test_show_json_prints_the_api_s_body(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    body = _finished_run()
    api.answer("GET", f"/v1/runs/{RUN_ID}", Reply.json(200, body))
    code, out, _ = runs(api, capsys, "show", RUN_ID, "--json")
    assert code == 0 and json.loads(out) == body


def test_approve_and_reject_send_the_decision(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    path = f"/v1/runs/{RUN_ID}/approve"
    api.answer("POST", path, Reply.json(200, run_body("running")), Reply.json(200, run_body("rejected")))
    assert runs(api, capsys, "approve", RUN_ID, "--gate", "ideation") == (
        0,
        f"ideation gate approved: run {RUN_ID} is running\n",
        "",
    )
    code, out, _ = runs(api, capsys, "approve", RUN_ID, "--gate", "publish", "--reject", "--comment", "too dark")
    assert (code, out) == (0, f"publish gate rejected: run {RUN_ID} is rejected\n")
    approved, rejected = (r.json for r in api.received("POST", path))
    assert approved == {"gate": "ideation", "approved": True, "comment": None}
    assert rejected == {"gate": "publish", "approved": False, "comment": "too dark"}


def test_chat_sends_the_message_and_prints_the_reply_and_the_session(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = {"session_id": "s-42", "reply": f"Started run {RUN_ID} for aismr.", "actions": [], "runs": []}
    api.answer("POST", "/v1/chat/supervisor", Reply.json(200, reply))
    code, out, err = runs(api, capsys, "chat", "make a rain video for aismr")
    assert (code, out) == (0, f"Started run {RUN_ID} for aismr.\n")
    assert "session s-42" in err and "--session s-42" in err
    runs(api, capsys, "chat", "how is it doing", "--session", "s-42")
    first, second = (r.json for r in api.received("POST", "/v1/chat/supervisor"))
    assert first == {"message": "make a rain video for aismr"}
    assert second == {"message": "how is it doing", "session_id": "s-42"}


VALIDATION = {"type": "string_too_short", "loc": ["body", "brief"], "msg": "String should have at least 1 character"}


@pytest.mark.parametrize(
    ("reply", "status", "message"),
    [
        (Reply.json(401, {"detail": "Invalid API key"}), 1, "Invalid API key"),
        (Reply.json(404, {"detail": "Run not found"}), 1, "Run not found"),
        (
            Reply.json(409, {"detail": f"run {RUN_ID} is running, not waiting at the ideation gate"}),
            1,
            f"run {RUN_ID} is running, not waiting at the ideation gate",
        ),
        (
            Reply.json(422, {"detail": [VALIDATION]}),
            2,
            "invalid request: brief: String should have at least 1 character",
        ),
        (Reply.json(400, {"detail": "unknown project 'nope'"}), 2, "request refused: unknown project 'nope'"),
        (
            Reply.json(429, {"detail": "Rate limit exceeded", "retry_after_seconds": 12}, {"Retry-After": "12"}),
            1,
            "Rate limit exceeded: try again in 12 s",
        ),
        (Reply(502, b"Bad Gateway", "text/plain"), 1, "the API answered 502: Bad Gateway"),
        (Reply(200, b"<html>", "text/html"), 1, "answered /v1/runs/start with a body that is not JSON"),
    ],
)
def test_each_refusal_is_the_api_s_reason_on_one_line(
    api: FakeApi, capsys: pytest.CaptureFixture[str], reply: Reply, status: int, message: str
) -> None:
    api.answer("POST", "/v1/runs/start", reply)
    code, out, err = runs(api, capsys, "start", "--project", "aismr", "--brief", "Rain")
    assert (code, out) == (status, "")
    assert err.startswith("pytoon runs start: ") and message in err and len(err.splitlines()) == 1


def test_an_implied_development_key_that_is_refused_says_how_to_pass_one(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer("GET", "/v1/runs", Reply.json(401, {"detail": "Invalid API key"}))
    code, _, err = pytoon(capsys, "runs", "list", "--api-url", api.base_url)
    assert code == 1
    assert "Invalid API key (the development key of a local `pytoon serve` was sent: pass --api-key" in err


def test_no_api_listening_says_to_start_one(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens: bound, never listening
        code, out, err = pytoon(capsys, "runs", "list", "--api-url", closed)
    assert (code, out) == (1, "")
    assert err == f"pytoon runs list: no API at {closed}: start `pytoon serve`\n"


def test_a_server_that_is_not_this_api_is_one_line_too(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer("GET", f"/v1/runs/{RUN_ID}", Reply.json(200, {"hello": "world"}))
    code, _, err = runs(api, capsys, "show", RUN_ID)
    assert code == 1 and "answered in a shape this command does not know" in err
