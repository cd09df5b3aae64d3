"""A production run's ideas: the deterministic ideator's for every project (the same brief, the same ideas; every
rule met), and the LLM's against the package's fake_llm of OpenAI's chat completions over real HTTP: the structured
request, the validated answer, and every kind of failure falling back to the rules with its reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytoon.config import get_tts_settings
from pytoon.local.fakes.openai_chat import FakeOpenAIChat, fake_openai_chat, strict_schema_problems
from pytoon.runs.ideation import (
    ClipIdea,
    Ideas,
    IdeationError,
    ideas_problems,
    ideate,
    readable,
    rules_ideas,
)
from pytoon.runs.projects import get_project, project_names
from pytoon.voice import spoken_duration_ms
from pytoon.voice_track import VOICE_TAIL_MS, script_sentences
from tests.unit.conftest import LLM_MODEL

BRIEF = "Glass kiwi fruit being sliced with a sharp knife, crisp sounds."
OTHER_BRIEF = "Make a video about Aurora, our steel bottle that keeps drinks cold for 24 hours. Launching in March."


# --- the deterministic ideator ---


@pytest.mark.parametrize("name", project_names())
def test_rules_ideas_meet_every_rule_of_the_project(name: str) -> None:
    project = get_project(name)
    ideas = ideate(BRIEF, project)

    assert (ideas.ideator, ideas.model, ideas.fallback_reason) == ("rules", None, None)
    assert ideas_problems(ideas, project) == []
    assert len(ideas.clips) == project.clip_count
    assert len({clip.prompt for clip in ideas.clips}) == project.clip_count  # a different shot each
    assert all("glass kiwi fruit" in clip.prompt.lower() for clip in ideas.clips)
    assert all(len(clip.caption) <= project.caption_style.max_chars for clip in ideas.clips)
    assert ideas.title == "Glass kiwi fruit"
    # The brief's words, then the project's own hashtags.
    assert ideas.hashtags[:3] == ["#fruit", "#glass", "#kiwi"] and project.hashtags[0] in ideas.hashtags
    assert (ideas.voice_script is not None) == project.voice


@pytest.mark.parametrize("name", project_names())
def test_rules_ideas_are_the_same_for_the_same_brief_and_differ_for_another(name: str) -> None:
    project = get_project(name)
    again = rules_ideas(BRIEF, project)
    assert rules_ideas(BRIEF, project) == again
    other = rules_ideas(OTHER_BRIEF, project)
    assert other.title == "Aurora" and other.title != again.title
    assert [c.prompt for c in other.clips] != [c.prompt for c in again.clips]
    assert other.hashtags[:3] == ["#aurora", "#steel", "#bottle"]


def test_motivational_captions_are_in_capitals() -> None:
    ideas = rules_ideas(BRIEF, get_project("motivational"))
    assert all(clip.caption == clip.caption.upper() and clip.caption.strip() for clip in ideas.clips)


def test_product_launch_voice_script_is_spoken_within_its_clips() -> None:
    project = get_project("product_launch")
    ideas = rules_ideas(OTHER_BRIEF, project)
    assert ideas.voice_script is not None
    sentences = script_sentences(ideas.voice_script)
    # The hook opens it; the captions, which the spoken sentences replace on screen, follow.
    assert sentences == [ideas.hook, *(clip.caption for clip in ideas.clips)]
    spoken_ms = spoken_duration_ms(sentences, get_tts_settings())
    assert 0 < spoken_ms + VOICE_TAIL_MS <= project.total_seconds * 1000


def test_a_brief_without_words_cannot_be_ideated() -> None:
    with pytest.raises(IdeationError, match="nothing to make a video about"):
        rules_ideas(" ... ", get_project("aismr"))


# --- the rules every ideas document is held to ---


def _broken(ideas: Ideas, **changes: Any) -> list[str]:
    return ideas_problems(ideas.model_copy(update=changes), get_project("product_launch"))


def test_ideas_problems_name_what_breaks_the_rules() -> None:
    ideas = rules_ideas(BRIEF, get_project("product_launch"))
    clips = list(ideas.clips)
    assert _broken(ideas, clips=clips[:2]) == ["clips: expected exactly 4, got 2"]
    long_caption = ClipIdea(prompt="A bottle", caption="A caption far longer than forty-eight characters here.")
    assert _broken(ideas, clips=[long_caption, *clips[1:]]) == [
        "clips.0.caption: 54 characters, more than caption_style.max_chars (48)"
    ]
    two_sentences = ClipIdea(prompt="A bottle", caption="Cold. All day.")
    assert _broken(ideas, clips=[two_sentences, *clips[1:]])[0].startswith("clips.0.caption: one sentence per")
    refused = ClipIdea(prompt="A nude model holding the bottle", caption="Cold all day.")
    assert _broken(ideas, clips=[refused, *clips[1:]]) == [
        "clips.0.prompt refused by the content rules: it asks for 'nude'"
    ]
    assert _broken(ideas, voice_script=None) == ["voice_script: this project needs one"]
    too_long = " ".join(["Aurora keeps every drink cold for a whole day and night."] * 6)
    (problem,) = _broken(ideas, voice_script=too_long)
    assert problem.startswith("voice_script takes about") and problem.endswith("the clips last 20 s, so shorten it")
    silent = rules_ideas(BRIEF, get_project("aismr"))
    assert ideas_problems(silent.model_copy(update={"voice_script": "Hello."}), get_project("aismr")) == [
        "voice_script: this project has no voice"
    ]


@pytest.mark.parametrize(
    ("hashtags", "message"),
    [(["#asmr", "#ASMR"], "each at most once"), (["asmr"], "is not a hashtag"), (["#two words"], "is not a hashtag")],
)
def test_ideas_hashtags_are_hash_words_each_once(hashtags: list[str], message: str) -> None:
    document = rules_ideas(BRIEF, get_project("aismr")).model_dump() | {"hashtags": hashtags}
    with pytest.raises(ValueError, match=message):
        Ideas.model_validate(document)


def test_readable_shows_the_reviewer_everything() -> None:
    ideas = rules_ideas(OTHER_BRIEF, get_project("product_launch"))
    text = readable(ideas)
    assert text.startswith("# Aurora\n")
    assert f"**Hook:** {ideas.hook}" in text
    for number, clip in enumerate(ideas.clips, start=1):
        assert f"{number}. **{clip.caption}**\n   Prompt: {clip.prompt}\n" in text
    assert f"**Hashtags:** {' '.join(ideas.hashtags)}" in text
    assert f"**Voice script:** {ideas.voice_script}" in text
    assert "_Written by the rules (no LLM configured)._" in text
    fallback = ideas.model_copy(update={"fallback_reason": "LLM ideator HTTP 503"})
    assert "the LLM's ideas were not used: LLM ideator HTTP 503" in readable(fallback)


# --- the LLM ideator ---


def _answer(project_name: str, **changes: Any) -> dict[str, Any]:
    """A valid answer, as a strict answer spells it."""
    project = get_project(project_name)
    count = project.clip_count
    answer = {
        "title": "Glass kiwi, sliced thin",
        "hook": "The crunch you can almost hear.",
        "clips": [
            {"prompt": f"Macro shot {n}: a glass kiwi sliced thin, soft light", "caption": f"Slice number {n}."}
            for n in range(1, count + 1)
        ],
        "hashtags": ["#glasskiwi", "#asmr", "#ASMR"],
        "voice_script": " ".join(f"Slice number {n}." for n in range(1, count + 1)) if project.voice else None,
    }
    return answer | changes


def test_the_llm_is_asked_with_a_strict_schema_and_its_answer_becomes_the_ideas(fake_llm: FakeOpenAIChat) -> None:
    project = get_project("motivational")
    fake_llm.answer(_answer("motivational"))

    ideas = ideate(BRIEF, project)

    assert (ideas.ideator, ideas.model, ideas.fallback_reason) == ("llm", LLM_MODEL, None)
    assert ideas.title == "Glass kiwi, sliced thin" and ideas.voice_script is None
    # Tidied: the project's captions are capitals, a repeated hashtag is dropped.
    assert [clip.caption for clip in ideas.clips] == [f"SLICE NUMBER {n}." for n in range(1, 6)]
    assert ideas.hashtags == ["#glasskiwi", "#asmr"]
    assert "_Written by the LLM (gpt-4o-mini)._" in readable(ideas)

    (request,) = fake_llm.requests
    assert request.headers["authorization"] == f"Bearer {fake_llm.api_key}"
    body = request.json
    assert body["model"] == LLM_MODEL
    system, user = body["messages"]
    assert "exactly 5" in system["content"] and "6-second" in system["content"]
    assert "in capital letters" in system["content"] and project.ideation_guidance in system["content"]
    asked = json.loads(user["content"])
    assert (asked["brief"], asked["project"], asked["clip_count"]) == (BRIEF, "motivational", 5)
    spec = body["response_format"]
    assert spec["type"] == "json_schema" and spec["json_schema"]["strict"] is True
    assert spec["json_schema"]["name"] == "production_ideas"
    schema = spec["json_schema"]["schema"]
    assert strict_schema_problems(schema) == []
    assert (schema["properties"]["clips"]["minItems"], schema["properties"]["clips"]["maxItems"]) == (5, 5)
    assert schema["properties"]["voice_script"] == {"type": "null"}


def test_a_project_with_a_voice_asks_for_a_voice_script(fake_llm: FakeOpenAIChat) -> None:
    fake_llm.answer(_answer("product_launch"))
    ideas = ideate(BRIEF, get_project("product_launch"))
    assert (
        ideas.ideator == "llm"
        and ideas.voice_script == "Slice number 1. Slice number 2. Slice number 3. Slice number 4."
    )
    schema = fake_llm.requests[0].json["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["voice_script"]["type"] == "string"
    assert "at most 19 s" in fake_llm.requests[0].json["messages"][0]["content"]


@pytest.mark.parametrize("name", project_names())
def test_the_unscripted_fake_answers_valid_ideas_from_the_brief(fake_llm: FakeOpenAIChat, name: str) -> None:
    ideas = ideate(BRIEF, get_project(name))
    assert (ideas.ideator, ideas.fallback_reason) == ("llm", None)
    assert ideas.title.startswith("Glass kiwi fruit") and ideas != rules_ideas(BRIEF, get_project(name))


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            _answer("aismr", clips=_answer("aismr")["clips"][:2]),
            "LLM ideator answer invalid: clips: expected exactly 6, got 2",
        ),
        (
            _answer("aismr", hook="Watch the nude kiwi."),
            "LLM ideator answer invalid: hook refused by the content rules: it asks for 'nude'",
        ),
        (
            _answer("aismr", voice_script="Hello there."),
            "LLM ideator answer invalid: voice_script: this project has no",
        ),
        ({"title": "Kiwi"}, "LLM ideator answer invalid: hook: Field required; clips: Field required;"),
        ("Here are some ideas: slice a kiwi!", "LLM ideator answer is not JSON (Expecting value"),
    ],
    ids=["clip-count", "refused-words", "voice-without-voice", "missing-fields", "not-json"],
)
def test_an_invalid_answer_falls_back_to_the_rules(fake_llm: FakeOpenAIChat, answer: Any, reason: str) -> None:
    fake_llm.answer(answer)
    ideas = ideate(BRIEF, get_project("aismr"))
    assert ideas.ideator == "rules" and ideas.fallback_reason is not None
    assert ideas.fallback_reason.startswith(reason)
    # The fallback is the rules' own ideas, with the reason.
    assert ideas == rules_ideas(BRIEF, get_project("aismr"), fallback_reason=ideas.fallback_reason)


def test_a_wrong_key_falls_back_without_showing_it(fake_llm: FakeOpenAIChat, no_llm: pytest.MonkeyPatch) -> None:
    no_llm.setenv("PYTOON_PLANNER_LLM_API_KEY", "sk-wrong-secret-key")
    ideas = ideate(BRIEF, get_project("aismr"))
    assert (ideas.ideator, ideas.fallback_reason) == ("rules", "LLM ideator HTTP 401 (invalid_api_key)")
    assert "sk-wrong" not in readable(ideas)


def test_a_short_rate_limit_is_retried_once(fake_llm: FakeOpenAIChat) -> None:
    fake_llm.fail(429, retry_after="0")
    fake_llm.answer(_answer("aismr"))
    assert ideate(BRIEF, get_project("aismr")).ideator == "llm"
    assert len(fake_llm.requests) == 2


def test_a_rate_limit_twice_falls_back(fake_llm: FakeOpenAIChat) -> None:
    fake_llm.fail(429, retry_after="0")
    fake_llm.fail(429, retry_after="0")
    ideas = ideate(BRIEF, get_project("aismr"))
    assert (ideas.ideator, ideas.fallback_reason) == ("rules", "LLM ideator HTTP 429 (rate_limit_exceeded)")
    assert len(fake_llm.requests) == 2


def test_an_unreachable_llm_falls_back(no_llm: pytest.MonkeyPatch) -> None:
    with fake_openai_chat() as gone:
        no_llm.setenv("PYTOON_PLANNER_LLM_BASE_URL", gone.api_url)
        no_llm.setenv("PYTOON_PLANNER_LLM_MODEL", LLM_MODEL)
        no_llm.setenv("PYTOON_PLANNER_LLM_API_KEY", gone.api_key)
        address = gone.base_url.removeprefix("http://")
    ideas = ideate(BRIEF, get_project("aismr"))
    assert (ideas.ideator, ideas.fallback_reason) == ("rules", f"LLM ideator could not connect to {address}")


def test_a_half_configured_llm_falls_back_naming_the_variable(no_llm: pytest.MonkeyPatch) -> None:
    no_llm.setenv("PYTOON_PLANNER_LLM_BASE_URL", "https://api.openai.com/v1")
    ideas = ideate(BRIEF, get_project("aismr"))
    assert ideas.ideator == "rules"
    assert ideas.fallback_reason is not None
    assert ideas.fallback_reason.startswith("LLM ideator not used: PYTOON_PLANNER_LLM_MODEL is not set")
