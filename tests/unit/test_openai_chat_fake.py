"""The package's fake of OpenAI's chat completions, through the shared LLM client over real HTTP: tool calls as
the provider answers them, the requests it refuses as the provider does, and its unscripted scene-graph plan
(what `pytoon serve --fake-providers` plans with)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pytoon.llm_client import LlmConfig, LlmUnavailableError, message_of, post_chat
from pytoon.llm_planner import LlmPlanRequest, PlanMedia, chat_request_body, plan_with_llm
from pytoon.local.fakes.openai_chat import FakeOpenAIChat, fake_openai_chat

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
