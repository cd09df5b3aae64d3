"""The package's fake of OpenAI's chat completions, through the shared LLM client over real HTTP: tool calls as
the provider answers them, the requests it refuses as the provider does, its unscripted scene-graph plan (what
`pytoon serve --fake-providers` plans with) and its unscripted tool use (what the supervisor chats with there)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from pytoon.llm_client import LlmConfig, LlmUnavailableError, message_of, post_chat
from pytoon.llm_planner import LlmPlanRequest, PlanMedia, chat_request_body, plan_with_llm
from pytoon.local.fakes.openai_chat import FakeOpenAIChat, fake_openai_chat
from pytoon.runs.supervisor import tool_definitions

START_RUN = {
    "type": "function",
    "function": {
        "name": "start_run",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"project": {"type": "string"}, "brief": {"type": "string"}},
            "required": ["project", "brief"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture
def fake() -> Iterator[FakeOpenAIChat]:
    with fake_openai_chat() as server:
        yield server


def _config(fake: FakeOpenAIChat) -> LlmConfig:
    return LlmConfig(base_url=fake.api_url, model="gpt-4o-mini", api_key=fake.api_key)


def _chat(fake: FakeOpenAIChat, messages: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
    return post_chat({"model": "gpt-4o-mini", "messages": messages, **body}, _config(fake), subject="Supervisor")


def test_tool_calls_are_answered_as_the_provider_shapes_them(fake: FakeOpenAIChat) -> None:
    fake.call_tools(("start_run", {"project": "aismr", "brief": "Glass kiwi"}))
    fake.answer("Started your aismr run.")
    question = [{"role": "user", "content": "Make an aismr video of a glass kiwi."}]

    completion = _chat(fake, question, tools=[START_RUN])

    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    message = message_of(completion)
    (call,) = message["tool_calls"]
    assert message["content"] is None and call["type"] == "function" and call["function"]["name"] == "start_run"
    assert json.loads(call["function"]["arguments"]) == {"project": "aismr", "brief": "Glass kiwi"}
    # The tool's result goes back in a `tool` message answering that call.
    result = {"role": "tool", "tool_call_id": call["id"], "content": '{"run_id": "r1"}'}
    follow_up = _chat(fake, [*question, message, result], tools=[START_RUN])
    assert message_of(follow_up)["content"] == "Started your aismr run."
    assert fake.requests[1].json["messages"][-1] == result


def test_a_tool_message_answering_no_call_is_refused(fake: FakeOpenAIChat) -> None:
    stray = [{"role": "user", "content": "Hi"}, {"role": "tool", "tool_call_id": "call_9", "content": "{}"}]
    with pytest.raises(LlmUnavailableError) as raised:
        _chat(fake, stray)
    assert (raised.value.status, raised.value.reason) == (400, "Supervisor HTTP 400")


def test_a_strict_tool_whose_schema_strict_mode_refuses(fake: FakeOpenAIChat) -> None:
    loose = json.loads(json.dumps(START_RUN))
    del loose["function"]["parameters"]["additionalProperties"]
    answer = httpx.post(
        f"{fake.api_url}/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "Hi"}], "tools": [loose]},
        headers={"Authorization": f"Bearer {fake.api_key}"},
    )
    assert answer.status_code == 400 and "'additionalProperties' must be false" in answer.json()["error"]["message"]


def test_a_request_without_a_key_is_refused_with_openais_error_shape(fake: FakeOpenAIChat) -> None:
    answer = httpx.post(f"{fake.api_url}/chat/completions", json={"model": "m", "messages": []})
    assert answer.status_code == 401
    assert answer.json() == {
        "error": {
            "message": "You didn't provide an API key. You need to provide your API key in an Authorization header.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def test_unscripted_the_fake_plans_the_scene_graph_the_planner_asked_for(fake: FakeOpenAIChat) -> None:
    request = LlmPlanRequest(
        prompt="Meet Aurora. Cold all day. Order now.",
        brand_safe=True,
        preset_id="overlay_glow",
        media=(PlanMedia(key="uploads/a/one.png", kind="image"), PlanMedia(key="uploads/b/two.mp4", kind="video")),
        total_ms=7000,
        scene_count=3,
        scene_texts=("Meet Aurora.", "Cold all day.", "Order now."),
    )
    graph = plan_with_llm(request, _config(fake))
    assert [(s.caption, s.media.asset, s.duration) for s in graph.scenes] == [
        ("Meet Aurora.", "uploads/a/one.png", 2333),
        ("Cold all day.", "uploads/b/two.mp4", 2333),
        ("Order now.", "uploads/a/one.png", 2334),
    ]
    assert fake.requests[0].json == chat_request_body(request, _config(fake))


# --- unscripted, a request offering tools (the supervisor chat) ---

RUN_ID = "0123456789abcdef0123456789abcdef"
SUPERVISOR_TOOLS = tool_definitions(["aismr", "motivational"])


def _asked(fake: FakeOpenAIChat, message: str, tools: list[dict[str, Any]] = SUPERVISOR_TOOLS) -> dict[str, Any]:
    return message_of(_chat(fake, [{"role": "user", "content": message}], tools=tools, tool_choice="auto"))


def _called(message: dict[str, Any], tools: list[dict[str, Any]] = SUPERVISOR_TOOLS) -> tuple[str, dict[str, Any]]:
    """The one tool the answer calls and its arguments, checked against that tool's schema."""
    (call,) = message["tool_calls"]
    name, arguments = call["function"]["name"], json.loads(call["function"]["arguments"])
    (parameters,) = [tool["function"]["parameters"] for tool in tools if tool["function"]["name"] == name]
    jsonschema.validate(arguments, parameters)
    return name, arguments


@pytest.mark.parametrize(
    ("message", "called"),
    [
        ("make a relaxing rain video for aismr", ("start_run", {"project": "aismr", "brief": "a relaxing rain video"})),
        (
            "please create a sunrise run for the motivational project",
            ("start_run", {"project": "motivational", "brief": "a sunrise run"}),
        ),
        ("list my runs", ("list_runs", {"status": None})),
        ("what is running?", ("list_runs", {"status": "running"})),
        ("what is waiting for ideation approval", ("list_runs", {"status": "awaiting_ideation_approval"})),
        (f"status of {RUN_ID}", ("get_run", {"run_id": RUN_ID})),
        (
            f"approve the ideas of {RUN_ID}",
            ("approve_gate", {"run_id": RUN_ID, "gate": "ideation", "approved": True, "comment": None}),
        ),
        (
            f"reject the publish gate of {RUN_ID} because it is too dark",
            ("approve_gate", {"run_id": RUN_ID, "gate": "publish", "approved": False, "comment": "it is too dark"}),
        ),
        ("which projects are there?", ("project_names", {})),
    ],
)
def test_unscripted_the_fake_calls_the_offered_tool_the_message_asks_for(
    fake: FakeOpenAIChat, message: str, called: tuple[str, dict[str, Any]]
) -> None:
    answer = _chat(fake, [{"role": "user", "content": message}], tools=SUPERVISOR_TOOLS, tool_choice="auto")

    assert answer["choices"][0]["finish_reason"] == "tool_calls" and message_of(answer)["content"] is None
    assert _called(message_of(answer)) == called


def test_unscripted_the_tools_names_and_choices_are_the_requests_own(fake: FakeOpenAIChat) -> None:
    def tool(name: str, properties: dict[str, Any]) -> dict[str, Any]:
        parameters = {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        }
        return {"type": "function", "function": {"name": name, "strict": True, "parameters": parameters}}

    tools = [
        tool("create_video", {"channel": {"type": "string", "enum": ["cats", "dogs"]}, "topic": {"type": "string"}}),
        tool("list_videos", {}),
    ]

    made = _asked(fake, "make a sleepy kitten video for dogs", tools)
    listed = _asked(fake, "list them", tools)

    assert _called(made, tools) == ("create_video", {"channel": "dogs", "topic": "a sleepy kitten video"})
    assert _called(listed, tools) == ("list_videos", {})


def test_unscripted_a_run_named_before_is_the_one_it_means(fake: FakeOpenAIChat) -> None:
    conversation = [
        {"role": "user", "content": "make a relaxing rain video for aismr"},
        {"role": "assistant", "content": f"Run {RUN_ID} (aismr) is pending."},
        {"role": "user", "content": "how is it doing?"},
    ]

    answer = message_of(_chat(fake, conversation, tools=SUPERVISOR_TOOLS))

    assert _called(answer) == ("get_run", {"run_id": RUN_ID})


@pytest.mark.parametrize(
    ("message", "said"),
    [
        ("help", "I can:\n- Start a production run"),
        ("create a video", "Which project: aismr, motivational?"),
        (f"approve {RUN_ID}", "Which gate: ideation, publish?"),
        ("how is it doing?", "Which run do you mean? Give me its id."),
        ("sing me a song", "I cannot do that. I can:\n- Start a production run"),
    ],
)
def test_unscripted_help_a_missing_argument_and_what_no_tool_does_are_answered_in_words(
    fake: FakeOpenAIChat, message: str, said: str
) -> None:
    answer = _chat(fake, [{"role": "user", "content": message}], tools=SUPERVISOR_TOOLS)

    assert answer["choices"][0]["finish_reason"] == "stop" and "tool_calls" not in message_of(answer)
    assert message_of(answer)["content"].startswith(said)


def test_unscripted_tool_results_are_summarized_with_the_runs_and_errors_they_hold(fake: FakeOpenAIChat) -> None:
    run = {"run_id": RUN_ID, "project": "aismr", "brief": "rain on a tin roof", "status": "pending", "error": None}
    question = {"role": "user", "content": f"status of {RUN_ID} and list my runs"}
    calls = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": "{}"}}
            for n, name in enumerate(("get_run", "list_runs", "approve_gate"), start=1)
        ],
    }
    results = [
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"run": run})},
        {"role": "tool", "tool_call_id": "call_2", "content": json.dumps({"count": 0, "runs": []})},
        {"role": "tool", "tool_call_id": "call_3", "content": json.dumps({"error": "Run not found: abc"})},
    ]

    answer = _chat(fake, [question, calls, *results], tools=SUPERVISOR_TOOLS)

    assert answer["choices"][0]["finish_reason"] == "stop"
    assert message_of(answer)["content"] == (
        f"Run {RUN_ID} (aismr: “rain on a tin roof”) is pending.\nFound none.\nThat did not work: Run not found: abc."
    )


def test_a_scripted_answer_comes_before_the_unscripted_tool_call(fake: FakeOpenAIChat) -> None:
    fake.answer("Scripted.")

    first = _asked(fake, "list my runs")
    second = _asked(fake, "list my runs")

    assert first["content"] == "Scripted." and _called(second) == ("list_runs", {"status": None})
