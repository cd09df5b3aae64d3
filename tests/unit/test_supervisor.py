"""The supervisor chat over a recording fake of the run operations: each rule-based intent (start, list, status,
decide a gate, help), domain errors answered, tenants apart, sessions stored per tenant in moto's DynamoDB
(bounded history, expiry)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import pytest

from pytoon.aws.chat_sessions import MAX_TURN_TEXT_CHARS, MAX_TURNS, SESSION_TTL_SECONDS, ChatSessionRepository
from pytoon.config import Settings
from pytoon.content_rules import check_prompt
from pytoon.local.fakes.openai_chat import FakeOpenAIChat
from pytoon.runs.models import Gate, GateNotWaitingError, RunNotFoundError, RunStatus, UnknownProjectError
from pytoon.runs.projects import project_names
from pytoon.runs.supervisor import MAX_MESSAGE_CHARS, MAX_TOOL_ROUNDS, ChatReply, chat
from tests.conftest import REGION

TENANT, OTHER_TENANT = "t1", "t2"


@dataclass
class FakeRun:
    run_id: str
    tenant_id: str
    project: str
    brief: str
    status: RunStatus
    current_step: str | None = None
    error: str | None = None
    created_at: str = "2026-01-01T00:00:00.000Z"


@dataclass
class FakeRunOperations:
    """The five operations over runs in memory, as the service behaves (another tenant's run is not found, a
    gate decision needs the run at that gate, briefs meet the content rules); every call is recorded."""

    runs: dict[str, FakeRun] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    # Operations that break (an unexpected exception, as a lost connection would raise).
    broken: set[str] = field(default_factory=set)

    def add(self, status: RunStatus, *, tenant_id: str = TENANT, project: str = "aismr", **fields: Any) -> FakeRun:
        run = FakeRun(uuid.uuid4().hex, tenant_id, project, fields.pop("brief", "glass kiwi sliced"), status, **fields)
        self.runs[run.run_id] = run
        return run

    def _record(self, *call: Any) -> None:
        self.calls.append(call)
        if call[0] in self.broken:
            raise RuntimeError("connection reset")

    def start_run(self, tenant_id: str, project: str, brief: str) -> FakeRun:
        self._record("start_run", tenant_id, project, brief)
        if project not in project_names():
            raise UnknownProjectError(f"unknown project {project!r}; known projects: {', '.join(project_names())}")
        check_prompt(brief, "brief")
        return self.add(RunStatus.PENDING, tenant_id=tenant_id, project=project, brief=brief)

    def list_runs(self, tenant_id: str, status: RunStatus | None = None) -> list[FakeRun]:
        self._record("list_runs", tenant_id, status)
        mine = [run for run in self.runs.values() if run.tenant_id == tenant_id]
        return [run for run in reversed(mine) if status is None or run.status is status]

    def _tenant_run(self, tenant_id: str, run_id: str) -> FakeRun:
        run = self.runs.get(run_id)
        if run is None or run.tenant_id != tenant_id:
            raise RunNotFoundError(f"Run not found: {run_id}")
        return run

    def get_run(self, tenant_id: str, run_id: str) -> FakeRun:
        self._record("get_run", tenant_id, run_id)
        return self._tenant_run(tenant_id, run_id)

    def approve_gate(self, tenant_id: str, run_id: str, gate: Gate, approved: bool, comment: str | None) -> FakeRun:
        self._record("approve_gate", tenant_id, run_id, gate, approved, comment)
        run = self._tenant_run(tenant_id, run_id)
        if run.status is not gate.waiting_status:
            raise GateNotWaitingError(f"run {run_id} is {run.status.value}, not waiting at the {gate.value} gate")
        run.status = RunStatus.RUNNING
        return run

    def project_names(self) -> list[str]:
        return project_names()


@pytest.fixture
def operations() -> FakeRunOperations:
    return FakeRunOperations()


@pytest.fixture
def settings(moto_table: str) -> Settings:
    return Settings(table_name=moto_table, bucket_name="pytoon-artifacts", region=REGION)


@pytest.fixture
def sessions(moto_table: str) -> ChatSessionRepository:
    return ChatSessionRepository(moto_table, REGION)


@dataclass
class Conversation:
    """One tenant's session, message after message."""

    operations: FakeRunOperations
    settings: Settings
    tenant_id: str = TENANT
    session_id: str | None = None

    def say(self, message: str) -> ChatReply:
        reply = chat(self.tenant_id, message, self.session_id, self.operations, settings=self.settings)
        self.session_id = reply.session_id
        return reply


@pytest.fixture
def conversation(operations: FakeRunOperations, settings: Settings) -> Conversation:
    return Conversation(operations, settings)


def _stored(table_name: str, tenant_id: str, session_id: str) -> dict | None:
    table = boto3.resource("dynamodb", region_name=REGION).Table(table_name)
    return table.get_item(Key={"PK": f"CHAT#{tenant_id}#{session_id}", "SK": "META"}).get("Item")


# --- starting a run ---


def test_a_sentence_starts_a_run_of_its_project_with_its_brief_and_it_is_what_it_refers_to(
    conversation: Conversation, operations: FakeRunOperations
) -> None:
    started = conversation.say("Make a relaxing rain video for aismr")

    assert operations.calls == [("start_run", TENANT, "aismr", "a relaxing rain video")]
    run_id = started.runs[0].run_id
    assert [(a.operation, a.arguments, a.outcome) for a in started.actions] == [
        ("start_run", {"project": "aismr", "brief": "a relaxing rain video"}, "ok")
    ]
    assert run_id in started.reply and "pending" in started.reply and started.interpreter == "rules"
    assert started.runs[0].project == "aismr" and started.runs[0].status is RunStatus.PENDING

    followed = conversation.say("how is it doing?")
    assert operations.calls[-1] == ("get_run", TENANT, run_id)
    assert followed.reply.startswith(f"Run {run_id} (aismr: “a relaxing rain video”) is pending")


@pytest.mark.parametrize(
    ("message", "project", "brief"),
    [
        ("start an aismr run: rain on a window", "aismr", "rain on a window"),
        ("please start a run for product launch about a steel bottle", "product_launch", "a steel bottle"),
        (
            "Can you make a video about running shoes for the motivational project?",
            "motivational",
            "a video about running shoes",
        ),
    ],
)
def test_other_ways_of_asking_for_a_run_name_its_project_and_brief(
    conversation: Conversation, operations: FakeRunOperations, message: str, project: str, brief: str
) -> None:
    conversation.say(message)

    assert operations.calls == [("start_run", TENANT, project, brief)]


def test_a_project_named_by_an_alias_is_asked_for_and_the_next_message_names_it(
    conversation: Conversation, operations: FakeRunOperations
) -> None:
    asked = conversation.say("make a rain video for asmr")

    assert operations.calls == [] and asked.actions == []
    assert "did you mean aismr" in asked.reply and "aismr, motivational, product_launch" in asked.reply
    conversation.say("aismr")
    assert operations.calls == [("start_run", TENANT, "aismr", "a rain video")]


def test_a_missing_project_is_asked_for_only_in_the_next_message(
    conversation: Conversation, operations: FakeRunOperations
) -> None:
    asked = conversation.say("make a calm video of the sea")
    assert (
        "Which project is “a calm video of the sea” for? Projects: aismr, motivational, product_launch" in asked.reply
    )
    conversation.say("the motivational one")
    assert operations.calls == [("start_run", TENANT, "motivational", "a calm video of the sea")]

    conversation.say("make a sunrise timelapse")
    conversation.say("what is running")
    late = conversation.say("aismr")
    assert [call[0] for call in operations.calls[1:]] == ["list_runs"] and late.actions == []


def test_a_brief_the_content_rules_refuse_and_a_project_the_service_refuses_are_answered(
    conversation: Conversation, operations: FakeRunOperations, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = conversation.say("make a gore video for aismr")
    assert "refused by the content rules" in refused.reply and "'gore'" in refused.reply
    assert refused.actions[0].outcome == "refused" and refused.runs == []

    # The service no longer knows a project the names still list (a deploy in between).
    monkeypatch.setattr(operations, "project_names", lambda: [*project_names(), "cooking"])
    unknown = conversation.say("make a pasta video for cooking")
    assert operations.calls[-1] == ("start_run", TENANT, "cooking", "a pasta video")
    assert "unknown project 'cooking'; known projects: aismr, motivational, product_launch" in unknown.reply
    assert unknown.actions[0].outcome == "refused" and "unknown project" in unknown.actions[0].detail


# --- listing and following runs ---


def test_what_is_running_lists_the_runs_moving_on_their_own(
    conversation: Conversation, operations: FakeRunOperations
) -> None:
    rendering = operations.add(RunStatus.AWAITING_RENDER)
    waiting = operations.add(RunStatus.AWAITING_IDEATION_APPROVAL)
    done = operations.add(RunStatus.COMPLETED)
    operations.add(RunStatus.RUNNING, tenant_id=OTHER_TENANT)

    reply = conversation.say("What is running?")

    assert operations.calls == [("list_runs", TENANT, None)]
    assert rendering.run_id in reply.reply and "rendering its video" in reply.reply
    assert waiting.run_id not in reply.reply and done.run_id not in reply.reply
    assert "1 more is waiting for your approval" in reply.reply
    assert {run.run_id for run in reply.runs} == {rendering.run_id, waiting.run_id, done.run_id}


def test_what_is_waiting_for_approval_lists_both_gates_or_the_one_named(
    conversation: Conversation, operations: FakeRunOperations
) -> None:
    ideas = operations.add(RunStatus.AWAITING_IDEATION_APPROVAL)
    video = operations.add(RunStatus.AWAITING_PUBLISH_APPROVAL)
    operations.add(RunStatus.RUNNING)

    both = conversation.say("what is waiting for approval")
    assert both.reply.startswith("Waiting for your approval (2):")
    assert ideas.run_id in both.reply and video.run_id in both.reply

    publish = conversation.say("which runs are waiting at the publish gate")
    assert operations.calls[-1] == ("list_runs", TENANT, RunStatus.AWAITING_PUBLISH_APPROVAL)
    assert video.run_id in publish.reply and ideas.run_id not in publish.reply

    failed = conversation.say("what failed")
    assert operations.calls[-1] == ("list_runs", TENANT, RunStatus.FAILED) and failed.reply == "No run has failed."


@pytest.mark.parametrize("asking", ["status of {id}", "how is run {id} doing", "what about {id}?", "{id}"])
def test_the_status_of_a_run_named_by_its_id(
    conversation: Conversation, operations: FakeRunOperations, asking: str
) -> None:
    run = operations.add(RunStatus.FAILED, error="clip step: every engine failed")

    reply = conversation.say(asking.format(id=run.run_id))

    assert operations.calls == [("get_run", TENANT, run.run_id)]
    assert (
        reply.reply == f"Run {run.run_id} (aismr: “glass kiwi sliced”) is failed. Why: clip step: every engine failed."
    )
    assert reply.runs[0].error == "clip step: every engine failed"


def test_another_tenants_run_is_not_found_and_it_without_a_run_asks_which(
    conversation: Conversation, operations: FakeRunOperations
) -> None:
    theirs = operations.add(RunStatus.AWAITING_IDEATION_APPROVAL, tenant_id=OTHER_TENANT, brief="their secret")

    for message in (f"status of {theirs.run_id}", f"approve ideation for {theirs.run_id}"):
        reply = conversation.say(message)
        assert reply.reply.startswith(f"I found no run {theirs.run_id}") and "secret" not in reply.reply
        assert reply.runs == [] and reply.actions[0].outcome == "refused"
    assert {call[1] for call in operations.calls} == {TENANT}
    assert theirs.status is RunStatus.AWAITING_IDEATION_APPROVAL

    assert conversation.say("how is that run doing").reply.startswith("Which run do you mean?")


# --- deciding gates ---


def test_approve_ideation_and_reject_the_publish_gate_with_a_reason(
    conversation: Conversation, operations: FakeRunOperations
) -> None:
    ideas = operations.add(RunStatus.AWAITING_IDEATION_APPROVAL)
    video = operations.add(RunStatus.AWAITING_PUBLISH_APPROVAL)

    approved = conversation.say(f"approve ideation for {ideas.run_id}")
    rejected = conversation.say(f"Reject the publish gate of {video.run_id} because the music is too loud.")

    assert operations.calls == [
        ("approve_gate", TENANT, ideas.run_id, Gate.IDEATION, True, None),
        ("approve_gate", TENANT, video.run_id, Gate.PUBLISH, False, "the music is too loud"),
    ]
    assert approved.reply == f"Approved the ideation gate of run {ideas.run_id}: it goes on to make the clips."
    assert "with your reason “the music is too loud”" in rejected.reply and "ends rejected" in rejected.reply
    assert rejected.actions[0].arguments == {
        "run_id": video.run_id,
        "gate": "publish",
        "approved": False,
        "comment": "the music is too loud",
    }


def test_a_decision_without_a_gate_takes_the_one_the_run_waits_at_and_it_is_the_last_run(
    conversation: Conversation, operations: FakeRunOperations
) -> None:
    video = operations.add(RunStatus.AWAITING_PUBLISH_APPROVAL)
    conversation.say(f"how is {video.run_id} doing")

    conversation.say("approve it, looks great")

    assert operations.calls[-2:] == [
        ("get_run", TENANT, video.run_id),
        ("approve_gate", TENANT, video.run_id, Gate.PUBLISH, True, "looks great"),
    ]


def test_a_gate_the_run_is_not_waiting_at_is_answered_with_the_runs_status(
    conversation: Conversation, operations: FakeRunOperations
) -> None:
    rendering = operations.add(RunStatus.AWAITING_RENDER)

    reply = conversation.say(f"approve ideation for {rendering.run_id}")

    assert reply.reply == (
        f"I could not approve the ideation gate of run {rendering.run_id}: "
        f"run {rendering.run_id} is awaiting_render, not waiting at the ideation gate."
    )
    assert reply.actions[0].outcome == "refused" and rendering.status is RunStatus.AWAITING_RENDER
    assert "not waiting at a gate" in conversation.say(f"reject {rendering.run_id}").reply


def test_a_decision_naming_no_run_id_asks_which_run_rather_than_deciding_the_last_one(
    conversation: Conversation, operations: FakeRunOperations
) -> None:
    last = operations.add(RunStatus.AWAITING_IDEATION_APPROVAL)
    conversation.say(f"status of {last.run_id}")

    reply = conversation.say("approve ideation for the rain video")

    assert reply.reply.startswith("I found no run id in that") and operations.calls[-1][0] == "get_run"
    assert last.status is RunStatus.AWAITING_IDEATION_APPROVAL


# --- anything else ---


def test_help_and_what_can_you_do_say_what_it_can_do_with_the_projects(conversation: Conversation) -> None:
    for message in ("help", "What can you do?"):
        reply = conversation.say(message)
        assert "make a relaxing rain video for aismr" in reply.reply and "product_launch" in reply.reply
        assert "approve ideation for <run id>" in reply.reply and reply.actions == []


@pytest.mark.parametrize("message", ["", "   ", "blah blah", "ñ☃ 🎬 \x00 ??? ;;;", "x" * (MAX_MESSAGE_CHARS + 1)])
def test_empty_garbage_and_very_long_messages_are_answered_without_acting(
    conversation: Conversation, operations: FakeRunOperations, sessions: ChatSessionRepository, message: str
) -> None:
    reply = conversation.say(message)

    assert reply.reply and reply.actions == [] and operations.calls == []
    if len(message) > MAX_MESSAGE_CHARS:
        assert f"up to {MAX_MESSAGE_CHARS}" in reply.reply
    else:
        assert "I look after your production runs" in reply.reply
    stored = sessions.open(TENANT, reply.session_id)
    assert stored.session_id == reply.session_id and len(stored.turns[0].user) <= MAX_TURN_TEXT_CHARS


def test_an_operation_that_breaks_is_answered_and_recorded_as_failed(
    conversation: Conversation, operations: FakeRunOperations
) -> None:
    operations.broken.add("list_runs")

    reply = conversation.say("list my runs")

    assert reply.reply.startswith("I could not list your runs: it failed on the service's side")
    assert reply.actions[0].outcome == "failed" and "connection reset" not in reply.reply


# --- with the LLM ---


def _tool_messages(request_json: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(m["content"]) for m in request_json["messages"] if m["role"] == "tool"]


def test_the_llm_acts_through_the_five_tools_for_the_caller_and_its_final_text_is_the_reply(
    conversation: Conversation, operations: FakeRunOperations, fake_llm: FakeOpenAIChat
) -> None:
    fake_llm.call_tools(("start_run", {"project": "aismr", "brief": "rain on a tin roof"}))
    fake_llm.answer("Started your aismr run about rain on a tin roof.")

    reply = conversation.say("I'd love something with rain on a tin roof, the satisfying kind")

    assert operations.calls == [("start_run", TENANT, "aismr", "rain on a tin roof")]
    assert reply.reply == "Started your aismr run about rain on a tin roof." and reply.interpreter == "llm"
    assert reply.llm_fallback_reason is None and reply.actions[0].outcome == "ok"
    first, second = (request.json for request in fake_llm.requests)
    assert [tool["function"]["name"] for tool in first["tools"]] == [
        "start_run",
        "list_runs",
        "get_run",
        "approve_gate",
        "project_names",
    ]
    assert not any("tenant_id" in tool["function"]["parameters"]["properties"] for tool in first["tools"])
    assert first["tools"][0]["function"]["parameters"]["properties"]["project"]["enum"] == project_names()
    assert first["messages"][-1] == {
        "role": "user",
        "content": "I'd love something with rain on a tin roof, the satisfying kind",
    }
    run_id = reply.runs[0].run_id
    assert (
        _tool_messages(second) == [{"run": reply.runs[0].model_dump(mode="json")}]
        and run_id in second["messages"][-1]["content"]
    )


def test_the_llm_reads_the_sessions_history_and_the_last_run(
    conversation: Conversation, operations: FakeRunOperations, fake_llm: FakeOpenAIChat
) -> None:
    run = operations.add(RunStatus.AWAITING_IDEATION_APPROVAL)
    fake_llm.call_tools(("get_run", {"run_id": run.run_id}))
    fake_llm.answer("It is waiting for you to approve its ideas.")
    fake_llm.call_tools(("approve_gate", {"run_id": run.run_id, "gate": "ideation", "approved": True, "comment": None}))
    fake_llm.answer("Approved.")

    conversation.say(f"how is {run.run_id}?")
    conversation.say("ok, approve it")

    assert operations.calls[-1] == ("approve_gate", TENANT, run.run_id, Gate.IDEATION, True, None)
    third = fake_llm.requests[2].json["messages"]
    assert f"last talked about: {run.run_id}" in third[0]["content"]
    assert third[1:] == [
        {"role": "user", "content": f"how is {run.run_id}?"},
        {"role": "assistant", "content": "It is waiting for you to approve its ideas."},
        {"role": "user", "content": "ok, approve it"},
    ]


def test_the_models_tool_calls_are_validated_and_never_reach_another_tenant(
    conversation: Conversation, operations: FakeRunOperations, fake_llm: FakeOpenAIChat
) -> None:
    theirs = operations.add(RunStatus.AWAITING_IDEATION_APPROVAL, tenant_id=OTHER_TENANT)
    fake_llm.call_tools(
        ("get_run", {"run_id": theirs.run_id, "tenant_id": OTHER_TENANT}),
        ("get_run", {"run_id": theirs.run_id}),
        ("approve_gate", {"run_id": theirs.run_id, "gate": "launch", "approved": True, "comment": None}),
        ("delete_run", {"run_id": theirs.run_id}),
    )
    fake_llm.answer("I could not find that run.")

    reply = conversation.say(f"approve {theirs.run_id}")

    assert (
        operations.calls == [("get_run", TENANT, theirs.run_id)]
        and theirs.status is RunStatus.AWAITING_IDEATION_APPROVAL
    )
    extra, not_found, bad_gate, unknown = _tool_messages(fake_llm.requests[1].json)
    assert "tenant_id" in extra["error"] and not_found == {"error": f"Run not found: {theirs.run_id}"}
    assert "gate" in bad_gate["error"] and "no tool 'delete_run'" in unknown["error"]
    assert [(a.operation, a.outcome) for a in reply.actions] == [("get_run", "refused")] and reply.runs == []


def test_an_llm_failure_before_acting_is_answered_by_the_rules_with_the_reason(
    conversation: Conversation, operations: FakeRunOperations, fake_llm: FakeOpenAIChat
) -> None:
    running = operations.add(RunStatus.RUNNING)
    fake_llm.fail(500)
    fake_llm.refuse("I cannot help with that.")

    failed = conversation.say("what is running")
    refused = conversation.say("what is running")

    for reply in (failed, refused):
        assert reply.interpreter == "rules" and reply.reply.startswith("Running (1):") and running.run_id in reply.reply
    assert failed.llm_fallback_reason == "LLM supervisor HTTP 500"
    assert refused.llm_fallback_reason == "LLM supervisor refused: I cannot help with that."


def test_an_llm_failure_after_acting_says_what_was_done_and_does_not_do_it_again(
    conversation: Conversation, operations: FakeRunOperations, fake_llm: FakeOpenAIChat
) -> None:
    fake_llm.call_tools(("start_run", {"project": "aismr", "brief": "a relaxing rain video"}))
    fake_llm.fail(503)

    reply = conversation.say("make a relaxing rain video for aismr")

    assert operations.calls == [("start_run", TENANT, "aismr", "a relaxing rain video")]
    assert reply.llm_fallback_reason == "LLM supervisor HTTP 503" and reply.interpreter == "llm"
    assert reply.reply.startswith("I could not finish answering (LLM supervisor HTTP 503). What I did:")
    assert reply.runs[0].run_id in reply.reply


def test_tool_rounds_are_bounded(
    conversation: Conversation, operations: FakeRunOperations, fake_llm: FakeOpenAIChat
) -> None:
    for _ in range(MAX_TOOL_ROUNDS + 1):
        fake_llm.call_tools(("list_runs", {"status": None}))

    reply = conversation.say("list my runs")

    assert len(fake_llm.requests) == MAX_TOOL_ROUNDS and len(operations.calls) == MAX_TOOL_ROUNDS
    assert reply.llm_fallback_reason == f"LLM supervisor was still calling tools after {MAX_TOOL_ROUNDS} rounds"


def test_the_fake_llm_unscripted_starts_lists_and_reports_a_run_through_the_tools(
    conversation: Conversation, operations: FakeRunOperations, fake_llm: FakeOpenAIChat
) -> None:
    started = conversation.say("make a relaxing rain video for aismr")
    (run,) = operations.runs.values()
    listed = conversation.say("list my runs")
    reported = conversation.say("how is it doing?")

    assert (run.tenant_id, run.project, run.brief) == (TENANT, "aismr", "a relaxing rain video")
    assert [call[0] for call in operations.calls] == ["start_run", "list_runs", "get_run"]
    for reply in (started, listed, reported):
        assert (reply.interpreter, reply.llm_fallback_reason) == ("llm", None)
        assert f"Run {run.run_id} (aismr: “a relaxing rain video”) is pending." in reply.reply
    assert listed.reply.startswith("Found 1:")
    assert [summary.run_id for summary in reported.runs] == [run.run_id]


def test_a_half_configured_llm_is_not_used_and_the_rules_say_why(
    conversation: Conversation, operations: FakeRunOperations, no_llm: pytest.MonkeyPatch
) -> None:
    no_llm.setenv("PYTOON_PLANNER_LLM_BASE_URL", "https://api.openai.com/v1")

    reply = conversation.say("help")

    assert reply.interpreter == "rules" and "I look after your production runs" in reply.reply
    assert reply.llm_fallback_reason.startswith("LLM supervisor not used: PYTOON_PLANNER_LLM_MODEL is not set")


# --- sessions ---


def test_a_conversation_is_stored_turn_by_turn_and_another_tenant_cannot_continue_it(
    operations: FakeRunOperations, settings: Settings, sessions: ChatSessionRepository
) -> None:
    mine = Conversation(operations, settings)
    started = mine.say("make a relaxing rain video for aismr")
    mine.say("how is it doing")
    assert started.session_id == mine.session_id

    stored = sessions.open(TENANT, mine.session_id)
    assert [turn.user for turn in stored.turns] == ["make a relaxing rain video for aismr", "how is it doing"]
    assert stored.turns[0].assistant == started.reply and stored.last_run_id == started.runs[0].run_id

    intruder = Conversation(operations, settings, tenant_id=OTHER_TENANT, session_id=mine.session_id)
    reply = intruder.say("how is it doing")
    assert intruder.session_id != mine.session_id and reply.reply.startswith("Which run do you mean?")
    assert operations.calls[-1] == ("get_run", TENANT, started.runs[0].run_id)
    assert len(sessions.open(TENANT, mine.session_id).turns) == 2


# --- the session store ---


def test_a_session_keeps_its_last_turns_and_memory_and_expires_after_its_last_message(
    sessions: ChatSessionRepository, moto_table: str
) -> None:
    session = sessions.open("t1", None)
    for n in range(MAX_TURNS + 5):
        session = sessions.record_turn(session, f"message {n}", f"reply {n}", last_run_id=f"run{n}", pending_brief=None)

    reread = sessions.open("t1", session.session_id)
    assert reread.session_id == session.session_id
    assert [turn.user for turn in reread.turns] == [f"message {n}" for n in range(5, MAX_TURNS + 5)]
    assert reread.turns[-1].assistant == f"reply {MAX_TURNS + 4}" and reread.last_run_id == f"run{MAX_TURNS + 4}"
    item = _stored(moto_table, "t1", session.session_id)
    assert item is not None and len(item["turns"]) == MAX_TURNS
    updated = item["updated_at"].replace("Z", "+00:00")
    assert int(item["expires_at"]) - int(datetime.fromisoformat(updated).timestamp()) == SESSION_TTL_SECONDS


def test_another_tenants_or_an_unknown_session_id_opens_a_fresh_session_under_a_new_id(
    sessions: ChatSessionRepository,
) -> None:
    theirs = sessions.record_turn(sessions.open("t1", None), "secret brief", "ok", last_run_id="r1", pending_brief=None)

    for session_id in (theirs.session_id, "no-such-session", "not a session id!", "x" * 500):
        mine = sessions.open("t2", session_id)
        assert mine.session_id != theirs.session_id and mine.turns == [] and mine.last_run_id is None
    assert sessions.get("t2", theirs.session_id) is None
    assert sessions.open("t1", theirs.session_id).turns[0].user == "secret brief"


def test_two_messages_saved_from_the_same_read_both_keep_their_turn(sessions: ChatSessionRepository) -> None:
    session = sessions.record_turn(sessions.open("t1", None), "first", "one", last_run_id=None, pending_brief=None)
    read_by_both = sessions.open("t1", session.session_id)

    sessions.record_turn(read_by_both, "second", "two", last_run_id=None, pending_brief=None)
    sessions.record_turn(read_by_both, "third", "three", last_run_id="r3", pending_brief=None)

    stored = sessions.open("t1", session.session_id)
    assert [turn.user for turn in stored.turns] == ["first", "second", "third"] and stored.last_run_id == "r3"


def test_an_expired_session_reads_as_unknown_and_its_id_is_taken_afresh(moto_table: str) -> None:
    written_at = time.time()
    session = ChatSessionRepository(moto_table, REGION, clock=lambda: written_at).record_turn(
        ChatSessionRepository(moto_table, REGION).open("t1", None), "hello", "hi", last_run_id="r1", pending_brief=None
    )
    later = ChatSessionRepository(moto_table, REGION, clock=lambda: written_at + SESSION_TTL_SECONDS + 1)

    assert later.get("t1", session.session_id) is None
    fresh = later.open("t1", session.session_id)
    assert fresh.session_id != session.session_id and fresh.turns == []
    # Until TTL deletes it, the expired item is overwritten by a new session that happens to take its key.
    reused = later.record_turn(
        session.model_copy(update={"turns": [], "version": 0}), "again", "hi", last_run_id=None, pending_brief=None
    )
    assert [turn.user for turn in later.open("t1", reused.session_id).turns] == ["again"]
