"""V2 job requests at submit: malformed values are refused by the request model (422), requests that cannot
become a job by the resolver with their reason (400), and what is accepted becomes the spec the planner uses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pytoon.api.errors import ERROR_TABLE
from pytoon.content_rules import ContentRefusedError
from pytoon.media_fetch import MediaUrlError
from pytoon.models import MediaRef
from pytoon.presets import UnknownPresetError
from pytoon.scene_planner import ScenePlanningError
from pytoon.scenes import SceneGraphError
from pytoon.v2_jobs import DEFAULT_PRESET, V2JobRequest, V2RequestError, check_captions, resolve_v2_spec
from pytoon.voice_track import VoiceScriptError
from tests.unit.test_chain import SETTINGS
from tests.unit.test_scene_graph_rules import scene_document

# About 70 s when the offline voice speaks it: longer than any video.
LONG_SCRIPT = "Our new coffee grinder makes every morning better, faster and quieter than ever before. " * 14
GRAPH = {"version": "2.0", "scenes": [scene_document(1, duration=2500), scene_document(2, duration=5000)]}


def resolve(**body: object):
    return resolve_v2_spec(V2JobRequest.model_validate(body), job_id="j1", tenant_id="t", settings=SETTINGS)


def refused(error: type[Exception], **body: object) -> str:
    """The message of a request the resolver refuses, which the API answers with 400."""
    with pytest.raises(error) as caught:
        resolve(**body)
    assert ERROR_TABLE[error].status == 400
    return str(caught.value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "Hello.", "target_duration_seconds": 0}, "target_duration_seconds"),
        ({"prompt": "Hello.", "target_duration_seconds": 61}, "target_duration_seconds"),
        ({"prompt": "Hello.", "max_scenes": 0}, "max_scenes"),
        ({"prompt": "Hello.", "max_scenes": 61}, "max_scenes"),
        ({"prompt": "Hello.", "engine_override": "dalle"}, "engine_override"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"prompt": "Hello \u202eolleh."}, "prompt"),
        ({"prompt": "Hello.", "unknown": True}, "unknown"),
        ({"prompt": "Hello.", "media_files": [f"https://example.com/{i}.png" for i in range(31)]}, "media_files"),
        ({"prompt": "Hello.", "media_files": ["https://example.com/" + "a" * 2048]}, "media_files"),
        ({"prompt": "Hello.", "voice_script": "x" * 5001}, "voice_script"),
        ({"prompt": "Hello.", "brand_safe": "perhaps"}, "brand_safe"),
        ({"scene_graph": "not an object"}, "scene_graph"),
    ],
)
def test_malformed_values_are_refused_by_the_request_model(body: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        V2JobRequest.model_validate(body)
    assert [error["loc"][0] for error in caught.value.errors()] == [field]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"prompt": "Hello."}, "prompt"),
        ({"media_files": ["https://example.com/a.png"]}, "media_files"),
        ({"target_duration_seconds": 10}, "target_duration_seconds"),
        ({"max_scenes": 2}, "max_scenes"),
        ({"engine_override": "runway"}, "engine_override"),
        ({"engine_override": "local"}, "engine_override"),
    ],
)
def test_each_field_the_scene_graph_states_is_refused_beside_it(extra: dict, named: str) -> None:
    message = refused(V2RequestError, scene_graph=GRAPH, **extra)
    assert message.startswith(f"{named} cannot be combined with scene_graph")


def test_every_conflicting_field_is_named_at_once_before_the_graph_is_checked() -> None:
    body = {
        "prompt": "Hello.",
        "media_files": ["https://example.com/a.png"],
        "target_duration_seconds": 10,
        "max_scenes": 2,
        "engine_override": "pika",
        # Invalid too, but the conflict is the first thing to fix.
        "scene_graph": {"version": "2.0", "scenes": []},
    }
    assert refused(V2RequestError, **body).startswith(
        "prompt, media_files, target_duration_seconds, max_scenes, engine_override cannot be combined with scene_graph"
    )


def test_a_scene_graph_goes_with_a_preset_and_brand_safety_and_sets_its_own_length() -> None:
    spec = resolve(scene_graph=GRAPH, preset_id="meme_smooth", brand_safe=False, prompt="", media_files=[])
    assert (spec.api_version, spec.preset.id, spec.brand_safe, spec.prompt) == (2, "meme_smooth", False, "")
    assert spec.scene_graph == GRAPH and spec.duration_ms == 7500 and spec.target_duration_seconds == 8
    assert check_captions(spec) == 2


@pytest.mark.parametrize(("durations", "seconds"), [((1000,), 1), ((1400,), 1), ((30_000, 30_000), 60)])
def test_a_scene_graph_length_is_its_durations_in_whole_seconds(durations: tuple[int, ...], seconds: int) -> None:
    scenes = [scene_document(i + 1, duration=d) for i, d in enumerate(durations)]
    spec = resolve(scene_graph={"version": "2.0", "scenes": scenes})
    assert (spec.target_duration_seconds, spec.duration_ms) == (seconds, sum(durations))


def test_a_scene_graph_that_breaks_its_rules_is_refused_with_every_problem() -> None:
    graph = {"version": "2.0", "scenes": [scene_document(1), scene_document(1, media={"type": "video"})]}
    message = refused(SceneGraphError, scene_graph=graph)
    assert "scene ids must be unique" in message and "scenes/1/media" in message


def test_a_scene_graph_media_url_must_be_https() -> None:
    graph = {"version": "2.0", "scenes": [scene_document(1, media={"type": "image", "asset": "http://e.com/a.png"})]}
    assert "https" in refused(MediaUrlError, scene_graph=graph)


@pytest.mark.parametrize("body", [{}, {"prompt": ""}, {"prompt": "   \n\t"}, {"media_files": ["https://e.com/a.png"]}])
def test_a_prompt_is_required_without_a_scene_graph(body: dict) -> None:
    assert refused(V2RequestError, **body).startswith("prompt is required")


@pytest.mark.parametrize(
    ("body", "error", "says"),
    [
        ({"prompt": "Show it naked on the beach."}, ContentRefusedError, "content rules"),
        ({"prompt": "Hello.", "preset_id": "nope"}, UnknownPresetError, "Unknown preset: nope"),
        ({"prompt": "Hello.", "music_source": "no_such_track"}, V2RequestError, "not in the music library"),
        ({"prompt": "Hello.", "voice_script": "Show it naked."}, ContentRefusedError, "voice_script refused"),
        (
            {"prompt": "Hello.", "voice_script": "Buy it. " + "Far too long for one caption " * 6 + "."},
            VoiceScriptError,
            "voice_script sentence 2",
        ),
        ({"prompt": "Hello.", "voice_script": LONG_SCRIPT}, VoiceScriptError, "takes about"),
        ({"prompt": "Hello.", "media_files": ["http://example.com/a.png"]}, MediaUrlError, "https"),
        ({"prompt": "One. Two. Three.", "target_duration_seconds": 2}, ScenePlanningError, "at most 2 fit"),
        (
            {"prompt": "One.", "max_scenes": 2, "media_files": [f"https://e.com/{i}.png" for i in range(3)]},
            ScenePlanningError,
            "3 media files need 3 scenes, but max_scenes allows 2",
        ),
        ({"scene_graph": GRAPH, "voice_script": LONG_SCRIPT}, VoiceScriptError, "at most 60 s"),
    ],
)
def test_requests_that_cannot_become_a_job_say_why(body: dict, error: type[Exception], says: str) -> None:
    assert says in refused(error, **body)


def test_a_prompt_job_keeps_its_media_in_order_and_its_options() -> None:
    urls = [f"https://example.com/{i}.png" for i in range(4)]
    spec = resolve(prompt="  One. Two.  ", media_files=urls, max_scenes=5, engine_override="luma", voice_script="  ")
    assert spec.prompt == "One. Two." and spec.media == [MediaRef(url=url) for url in urls]
    assert (spec.preset.id, spec.brand_safe, spec.max_scenes, spec.engine_override) == (DEFAULT_PRESET, True, 5, "luma")
    # Four media need four scenes: five seconds each by default.
    assert spec.target_duration_seconds == 20 and spec.voice_script is None
    assert check_captions(spec) == 4


def test_a_caption_too_long_to_show_is_refused_at_submit() -> None:
    long_sentence = "This sentence is far too long for a caption " * 4 + "and it goes on."
    spec = resolve(prompt=f"Short one. {long_sentence}", target_duration_seconds=4)
    with pytest.raises(V2RequestError, match=r"scene 2 caption .*at most 150 characters"):
        check_captions(spec)


def test_a_text_overlay_that_cannot_be_drawn_is_refused_at_submit() -> None:
    overlay = {"type": "text", "asset": "Sale \u202eelas", "position": "center"}
    spec = resolve(scene_graph={"version": "2.0", "scenes": [scene_document(1, overlays=[overlay])]})
    with pytest.raises(V2RequestError, match="scene 1 text overlay: control and bidi-override characters"):
        check_captions(spec)
