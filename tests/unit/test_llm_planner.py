"""The LLM planner against a fake OpenAI-compatible API over real HTTP: the typed scene graph it returns, and the
reason every kind of failure (provider errors, slow or cut-off answers, refusals, invalid plans) is given."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

from pytoon.config import ConfigError
from pytoon.llm_planner import (
    LlmPlannerConfig,
    LlmPlannerError,
    LlmPlanRequest,
    PlanMedia,
    llm_planner_config,
    plan_with_llm,
    planner_schema,
)
from pytoon.local.fakes.openai_chat import FakeOpenAIChat, ScriptedAnswer, fake_openai_chat, strict_schema_problems
from pytoon.scenes import SceneGraph

IMAGE_A, IMAGE_B, CLIP = "uploads/a1/shot1.png", "uploads/b2/shot2.jpg", "uploads/c3/clip.mp4"
REQUEST = LlmPlanRequest(
    prompt="Meet Aurora. Cold for 24 hours. Order today.",
    brand_safe=True,
    preset_id="overlay_glow",
    mood_hints=("bright",),
    media=(
        PlanMedia(key=IMAGE_A, kind="image"),
        PlanMedia(key=IMAGE_B, kind="image"),
        PlanMedia(key=CLIP, kind="video"),
    ),
    total_ms=15_000,
    scene_count=3,
    scene_texts=("Meet Aurora.", "Cold for 24 hours.", "Order today."),
)


def _scene(n: int, asset: str | None, kind: str = "image", **changes: Any) -> dict[str, Any]:
    """A scene as a strict answer spells it: every field present, absent ones null."""
    scene = {
        "id": n,
        "description": f"Scene {n}: the bottle on a marble counter",
        "duration": 5000,
        "media": {"type": kind, "asset": asset, "prompt": None, "effect": "slow_zoom_in"},
        "caption": REQUEST.scene_texts[(n - 1) % 3],
        "style": {"mood": "bright", "camera_motion": None, "lighting": None},
        "overlays": [],
        "transition": "fade",
    }
    return scene | changes


def _answer(*scenes: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "2.0",
        "scenes": list(scenes or [_scene(1, IMAGE_A), _scene(2, IMAGE_B), _scene(3, CLIP, "video")]),
    }


@pytest.fixture
def fake() -> Any:
    with fake_openai_chat() as server:
        yield server


def _config(fake: FakeOpenAIChat, **changes: Any) -> LlmPlannerConfig:
    return LlmPlannerConfig.model_validate(
        {"base_url": fake.api_url, "model": "gpt-4o-mini", "api_key": fake.api_key} | changes
    )


def _reason(fake: FakeOpenAIChat, request: LlmPlanRequest = REQUEST, **config: Any) -> str:
    with pytest.raises(LlmPlannerError) as raised:
        plan_with_llm(request, _config(fake, **config))
    return raised.value.reason


# --- the happy path ---


def test_answer_becomes_the_typed_scene_graph(fake: FakeOpenAIChat) -> None:
    overlay = {
        "type": "product_image",
        "asset": IMAGE_B,
        "position": "custom",
        "scale": 0.6,
        "opacity": 1,
        "x": 0.5,
        "y": 0.4,
    }
    title = {
        "type": "text",
        "asset": "24 h cold",
        "position": "top-left",
        "scale": 1,
        "opacity": 0.9,
        "x": None,
        "y": None,
    }
    fake.answer(
        _answer(_scene(1, IMAGE_A, overlays=[overlay, title]), _scene(2, IMAGE_B), _scene(3, CLIP, "video", style=None))
    )

    graph = plan_with_llm(REQUEST, _config(fake))

    assert isinstance(graph, SceneGraph)
    assert [(s.id, s.media.type, s.media.asset, s.duration) for s in graph.scenes] == [
        (1, "image", IMAGE_A, 5000),
        (2, "image", IMAGE_B, 5000),
        (3, "video", CLIP, 5000),
    ]
    assert [s.caption for s in graph.scenes] == list(REQUEST.scene_texts)
    first = graph.scenes[0]
    assert (first.overlays[0].asset, first.overlays[0].x, first.overlays[1].asset, first.overlays[1].x) == (
        IMAGE_B,
        0.5,
        "24 h cold",
        None,
    )
    assert first.style is not None and first.style.mood == "bright" and graph.scenes[2].style is None
    # Nulls the strict answer spelled out are absent from the stored document, which the stored schema wants.
    assert "x" not in graph.document()["scenes"][0]["overlays"][1]


def test_request_carries_the_key_rules_job_and_a_strict_schema(fake: FakeOpenAIChat) -> None:
    fake.answer(_answer())
    plan_with_llm(REQUEST, _config(fake))

    (received,) = fake.requests
    assert received.headers["authorization"] == f"Bearer {fake.api_key}"
    assert received.json["model"] == "gpt-4o-mini"
    system, user = received.json["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert "Exactly 3 scenes" in system["content"] and "exactly 15000" in system["content"]
    assert "safety-sensitive" in system["content"] and "fade_black" in system["content"]
    job = json.loads(user["content"])
    assert job["prompt"] == REQUEST.prompt and job["scene_texts"] == list(REQUEST.scene_texts)
    assert job["media"] == [
        {"asset": IMAGE_A, "kind": "image"},
        {"asset": IMAGE_B, "kind": "image"},
        {"asset": CLIP, "kind": "video"},
    ]
    spec = received.json["response_format"]
    assert (
        spec["type"] == "json_schema"
        and spec["json_schema"]["name"] == "scene_graph"
        and spec["json_schema"]["strict"] is True
    )
    schema = spec["json_schema"]["schema"]
    assert strict_schema_problems(schema) == []
    scenes = schema["properties"]["scenes"]
    assert (scenes["minItems"], scenes["maxItems"]) == (3, 3)
    assert scenes["items"]["properties"]["media"]["properties"]["asset"]["enum"] == [IMAGE_A, IMAGE_B, CLIP, None]
    # The fields the job's request decides are not the model's to fill.
    assert "globalAudio" not in schema["properties"] and "audio" not in scenes["items"]["properties"]
    assert "engine" not in scenes["items"]["properties"]["media"]["properties"]


def test_strict_schema_accepts_strict_answers_and_still_enforces_the_stored_rules() -> None:
    schema = planner_schema(REQUEST)
    jsonschema.validate(_answer(), schema)
    for wrong in (
        _answer(_scene(1, IMAGE_A), _scene(2, IMAGE_B)),  # a scene short
        _answer(_scene(1, "https://example.com/x.png"), _scene(2, IMAGE_B), _scene(3, CLIP, "video")),
        _answer(_scene(1, IMAGE_A, duration=999), _scene(2, IMAGE_B), _scene(3, CLIP, "video")),
        _answer(_scene(1, IMAGE_A, transition="wipe"), _scene(2, IMAGE_B), _scene(3, CLIP, "video")),
        _answer(_scene(1, IMAGE_A, audio="uploads/x/track.mp3"), _scene(2, IMAGE_B), _scene(3, CLIP, "video")),
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)


def test_fake_refuses_a_schema_strict_mode_refuses(fake: FakeOpenAIChat) -> None:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    messages = [{"role": "user", "content": "Plan it."}]
    for schema in (
        {"type": "object", "properties": {"a": {"type": "string"}}},  # neither required nor closed
        {"type": "object", "properties": {"a": {"type": "string", "minLength": 1}}, "required": ["a"]},
        {"anyOf": [{"type": "object"}, {"type": "null"}]},
    ):
        response_format = {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": schema}}
        body = {"model": "m", "messages": messages, "response_format": response_format}
        answer = httpx.post(f"{fake.api_url}/chat/completions", json=body, headers=headers)
        assert answer.status_code == 400
        assert answer.json()["error"]["type"] == "invalid_request_error"
        assert answer.json()["error"]["param"] == "response_format"
    assert len(fake.requests) == 3


# --- provider failures ---


def test_wrong_key_is_refused_with_openais_error_shape(fake: FakeOpenAIChat) -> None:
    fake.answer(_answer())
    reason = _reason(fake, api_key="sk-wrong")
    assert reason == "LLM planner HTTP 401 (invalid_api_key)"
    assert "sk-wrong" not in reason


def test_server_error(fake: FakeOpenAIChat) -> None:
    fake.fail(503)
    assert _reason(fake) == "LLM planner HTTP 503"


def test_rate_limit_with_a_short_retry_after_is_retried_once(fake: FakeOpenAIChat) -> None:
    fake.fail(429, retry_after="0")
    fake.answer(_answer())
    graph = plan_with_llm(REQUEST, _config(fake))
    assert len(graph.scenes) == 3 and len(fake.requests) == 2


def test_rate_limit_twice_fails(fake: FakeOpenAIChat) -> None:
    fake.fail(429, retry_after="0")
    fake.fail(429, retry_after="0")
    assert _reason(fake) == "LLM planner HTTP 429 (rate_limit_exceeded)"
    assert len(fake.requests) == 2


@pytest.mark.parametrize("retry_after", ["30", None, "soon"])
def test_rate_limit_with_a_long_or_no_retry_after_is_not_retried(fake: FakeOpenAIChat, retry_after: str | None) -> None:
    fake.fail(429, retry_after=retry_after)
    fake.answer(_answer())
    assert _reason(fake) == "LLM planner HTTP 429 (rate_limit_exceeded)"
    assert len(fake.requests) == 1


def test_slow_answer_times_out_at_the_deadline(fake: FakeOpenAIChat) -> None:
    fake.answer(_answer(), delay_seconds=30)
    assert _reason(fake, timeout_seconds=1) == "LLM planner timed out after 1 s"


def test_connection_refused() -> None:
    with fake_openai_chat() as gone:
        config = _config(gone)
    with pytest.raises(LlmPlannerError) as raised:
        plan_with_llm(REQUEST, config)
    assert (
        raised.value.reason
        == f"LLM planner could not connect to {config.base_url.removeprefix('http://').removesuffix('/v1')}"
    )


def test_refusal(fake: FakeOpenAIChat) -> None:
    fake.refuse("I'm sorry, I can't help with that request.")
    assert _reason(fake) == "LLM planner refused: I'm sorry, I can't help with that request."


def test_truncated_answer(fake: FakeOpenAIChat) -> None:
    fake.answer(json.dumps(_answer())[:180], finish_reason="length")
    assert _reason(fake) == "LLM planner answer cut off (finish_reason length)"


def test_answer_that_is_not_json(fake: FakeOpenAIChat) -> None:
    fake.answer("Here is your plan: three scenes!")
    assert _reason(fake).startswith("LLM planner answer is not JSON (Expecting value")


def test_empty_answer(fake: FakeOpenAIChat) -> None:
    fake.script(ScriptedAnswer(content=None))
    assert _reason(fake) == "LLM planner answer is empty"


def test_response_that_is_not_a_chat_completion() -> None:
    # A proxy's page in front of the provider; the caller's own client (here over an in-memory transport) is used.
    page = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>Gateway login</html>"))
    config = LlmPlannerConfig(base_url="https://llm.example.com/v1", model="m", api_key="k")
    with httpx.Client(transport=page) as client, pytest.raises(LlmPlannerError) as raised:
        plan_with_llm(REQUEST, config, client=client)
    assert raised.value.reason == "LLM planner response is not a chat completion"


def test_oversized_answer(fake: FakeOpenAIChat) -> None:
    fake.answer("x" * (1024 * 1024 + 1))
    assert _reason(fake) == "LLM planner response larger than 1024 KiB"


# --- answers that break the job's rules ---


def test_one_scene_too_many(fake: FakeOpenAIChat) -> None:
    fake.answer(_answer(_scene(1, IMAGE_A), _scene(2, IMAGE_B), _scene(3, CLIP, "video"), _scene(4, IMAGE_A)))
    assert _reason(fake) == "LLM planner answer invalid: expected exactly 3 scenes, got 4"


@pytest.mark.parametrize("asset", ["uploads/zz/invented.png", "https://cdn.example.com/shot1.png"])
def test_invented_asset_or_url(fake: FakeOpenAIChat, asset: str) -> None:
    fake.answer(_answer(_scene(1, IMAGE_A), _scene(2, asset), _scene(3, CLIP, "video")))
    reason = _reason(fake)
    assert reason.startswith(f"LLM planner answer invalid: scenes/1/media: '{asset}' is not one of the job's media")
    assert f"unused: '{IMAGE_B}'" in reason


def test_caption_with_a_control_character(fake: FakeOpenAIChat) -> None:
    fake.answer(_answer(_scene(1, IMAGE_A, caption="Meet\x07Aurora."), _scene(2, IMAGE_B), _scene(3, CLIP, "video")))
    assert _reason(fake) == (
        "LLM planner answer invalid: scenes/0/caption: control and bidi-override characters are not allowed: "
        "a control character (U+0007)"
    )


def test_caption_and_description_limits(fake: FakeOpenAIChat) -> None:
    fake.answer(
        _answer(
            _scene(1, IMAGE_A, caption="A" * 151), _scene(2, IMAGE_B, description="B" * 151), _scene(3, CLIP, "video")
        )
    )
    assert _reason(fake) == (
        "LLM planner answer invalid: scenes/0/caption: at most 150 characters, got 151; "
        "scenes/1/description: at most 150 characters, got 151"
    )


def test_caption_that_needs_too_many_lines(fake: FakeOpenAIChat) -> None:
    wide = "W" * 150  # within the character limit, far wider than three lines at the smallest size
    fake.answer(_answer(_scene(1, IMAGE_A, caption=wide), _scene(2, IMAGE_B), _scene(3, CLIP, "video")))
    reason = _reason(fake)
    assert reason.startswith("LLM planner answer invalid: scenes/0/caption: needs ") and "at most 3 fit" in reason


def test_media_kind_and_overlay_assets_must_match_the_job(fake: FakeOpenAIChat) -> None:
    clip_overlay = {
        "type": "logo",
        "asset": CLIP,
        "position": "top-right",
        "scale": 0.3,
        "opacity": 1,
        "x": None,
        "y": None,
    }
    fake.answer(_answer(_scene(1, IMAGE_A), _scene(2, IMAGE_B, overlays=[clip_overlay]), _scene(3, CLIP, "image")))
    assert _reason(fake) == (
        f"LLM planner answer invalid: scenes/1/overlays/0: '{CLIP}' is not one of the job's images; "
        f"scenes/2/media: {CLIP} is a video, media.type says image"
    )


def test_fields_the_job_decides_are_refused(fake: FakeOpenAIChat) -> None:
    # A provider without strict structured outputs can still answer them.
    engine = _scene(1, None, "video", media={"type": "video", "engine": "runway", "prompt": "a bottle in snow"})
    answer = _answer(engine, _scene(2, IMAGE_B), _scene(3, CLIP, "video")) | {
        "globalAudio": {"backgroundMusic": "x.mp3"}
    }
    fake.answer(answer)
    assert _reason(fake) == (
        "LLM planner answer invalid: globalAudio: the job's own uploads decide the soundtrack; "
        "scenes/0/media: the job's engine policy chooses engines, not the planner; "
        f"scenes: every media item is used at least once; unused: '{IMAGE_A}'"
    )


def test_schema_violations_are_listed(fake: FakeOpenAIChat) -> None:
    fake.answer(_answer(_scene(1, IMAGE_A, duration=500), _scene(2, IMAGE_B, id=2.5), _scene(3, CLIP, "video")))
    assert _reason(fake) == (
        "LLM planner answer invalid: scenes/0/duration: 500 is less than the minimum of 1000; "
        "scenes/1/id: 2.5 is not of type 'integer'"
    )


def test_scenes_without_media_are_allowed_when_every_asset_is_used(fake: FakeOpenAIChat) -> None:
    request = REQUEST.model_copy(update={"scene_count": 4})
    fake.answer(_answer(_scene(1, IMAGE_A), _scene(2, IMAGE_B), _scene(3, CLIP, "video"), _scene(4, None)))
    graph = plan_with_llm(request, _config(fake))
    assert [s.media.asset for s in graph.scenes] == [IMAGE_A, IMAGE_B, CLIP, None]


# --- configuration ---


@pytest.fixture
def env(no_llm: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No LLM configured (the unit conftest's no_llm), to set variables on."""
    return no_llm


def test_not_configured_means_no_planner(env: pytest.MonkeyPatch) -> None:
    assert llm_planner_config() is None


def test_configuration_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("PYTOON_PLANNER_LLM_BASE_URL", "https://api.openai.com/v1/")
    env.setenv("PYTOON_PLANNER_LLM_MODEL", "gpt-4o-mini")
    env.setenv("PYTOON_PLANNER_LLM_API_KEY", "sk-live-secret")
    config = llm_planner_config()
    assert config is not None
    assert (config.completions_url, config.model, config.api_key, config.timeout_seconds) == (
        "https://api.openai.com/v1/chat/completions",
        "gpt-4o-mini",
        "sk-live-secret",
        20.0,
    )
    assert "sk-live-secret" not in repr(config)
    env.setenv("PYTOON_PLANNER_LLM_TIMEOUT_SECONDS", "7.5")
    assert llm_planner_config().timeout_seconds == 7.5
    env.setenv("PYTOON_PLANNER_LLM_BASE_URL", "http://localhost:8000/v1")
    assert llm_planner_config().base_url == "http://localhost:8000/v1"


_COMPLETE = {
    "PYTOON_PLANNER_LLM_BASE_URL": "https://api.openai.com/v1",
    "PYTOON_PLANNER_LLM_MODEL": "gpt-4o-mini",
    "PYTOON_PLANNER_LLM_API_KEY": "sk-live-secret",
}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"PYTOON_PLANNER_LLM_MODEL": None}, "PYTOON_PLANNER_LLM_MODEL is not set"),
        ({"PYTOON_PLANNER_LLM_BASE_URL": None}, "PYTOON_PLANNER_LLM_BASE_URL is not set"),
        (
            {"PYTOON_PLANNER_LLM_API_KEY": None},
            "PYTOON_PLANNER_LLM_API_KEY (or PYTOON_PLANNER_LLM_API_KEY_SECRET_ARN) is not set",
        ),
        ({"PYTOON_PLANNER_LLM_BASE_URL": "http://llm.example.com/v1"}, "PYTOON_PLANNER_LLM_BASE_URL is invalid"),
        ({"PYTOON_PLANNER_LLM_BASE_URL": "api.openai.com/v1"}, "PYTOON_PLANNER_LLM_BASE_URL is invalid"),
        ({"PYTOON_PLANNER_LLM_BASE_URL": "https://api.openai.com/v1?x=1"}, "must not carry a query"),
        ({"PYTOON_PLANNER_LLM_TIMEOUT_SECONDS": "0.5"}, "PYTOON_PLANNER_LLM_TIMEOUT_SECONDS is invalid ('0.5')"),
        ({"PYTOON_PLANNER_LLM_TIMEOUT_SECONDS": "31"}, "a number of seconds from 1 to 30"),
        ({"PYTOON_PLANNER_LLM_TIMEOUT_SECONDS": "nan"}, "PYTOON_PLANNER_LLM_TIMEOUT_SECONDS is invalid"),
    ],
)
def test_malformed_configuration_names_the_variable(
    env: pytest.MonkeyPatch, variables: dict[str, str | None], message: str
) -> None:
    for name, value in (_COMPLETE | variables).items():
        if value is not None:
            env.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        llm_planner_config()
    assert message in str(raised.value)
    assert "sk-live-secret" not in str(raised.value)


def test_request_names_a_known_preset() -> None:
    with pytest.raises(ValueError, match="Unknown preset: nope"):
        LlmPlanRequest.model_validate(REQUEST.model_dump() | {"preset_id": "nope"})


def test_request_rejects_more_scenes_than_its_length_holds() -> None:
    with pytest.raises(ValueError, match="4 scenes of at least 1000 ms do not fit 3000 ms"):
        LlmPlanRequest.model_validate(REQUEST.model_dump() | {"scene_count": 4, "total_ms": 3000})
