"""Which external engines a generated scene tries, in order, from the rules in engines.json."""

from __future__ import annotations

import pytest

from pytoon.content_rules import BRAND_SAFE_SUFFIX, MAX_ENGINE_PROMPT_CHARS
from pytoon.scenes import Scene, SceneMedia, SceneStyle
from pytoon.video_engines.selection import EngineConfig, engine_chain, engine_config, rephrased_for_moderation
from tests.factories import make_spec


def scene(description: str = "A bottle on a table", engine: str | None = None, style: SceneStyle | None = None):
    return Scene(
        id=1,
        description=description,
        duration=3000,
        media=SceneMedia(type="video", engine=engine),
        caption="",
        style=style,
    )


def test_the_shipped_rules_load_and_name_only_configured_engines() -> None:
    config = engine_config()
    assert set(config.fallback_chain) == set(config.engines) == {"runway", "luma", "pika", "sora"}
    with pytest.raises(ValueError, match="does not configure"):
        EngineConfig.model_validate(config.model_dump() | {"default_engine": "dalle"})


def test_the_scene_s_own_engine_comes_first_then_the_fallback_chain_each_once() -> None:
    chain = engine_chain(scene(engine="pika"), make_spec(preset_id="overlay_glow"))
    assert chain == ["pika", "runway", "luma", "sora"]


def test_engine_override_wins_over_the_preset_and_the_style() -> None:
    spec = make_spec().model_copy(update={"engine_override": "sora"})
    assert engine_chain(scene("An anime dragon"), spec)[0] == "sora"


def test_the_preset_preference_comes_before_the_fallback_chain() -> None:
    assert engine_chain(scene(), make_spec(preset_id="product_hero_clean")) == ["luma", "runway", "pika", "sora"]


@pytest.mark.parametrize(
    ("description", "style", "first"),
    [
        ("An anime city at night", None, "pika"),
        ("A bottle turning", SceneStyle(camera_motion="rotation"), "luma"),
        ("A street", SceneStyle(mood="cinematic"), "runway"),
        ("Plain words", None, "runway"),  # the default
    ],
)
def test_capabilities_in_the_style_or_description_choose_the_first_engine(
    description: str, style: SceneStyle | None, first: str
) -> None:
    assert engine_chain(scene(description, style=style), make_spec(preset_id="overlay_glow"))[0] == first


def test_local_is_never_in_the_external_chain() -> None:
    spec = make_spec(preset_id="overlay_glow").model_copy(update={"engine_override": "local"})
    assert "local" not in engine_chain(scene(engine="local"), spec)


def test_a_refused_prompt_is_reworded_once_brand_safe_and_capped() -> None:
    rephrased = rephrased_for_moderation("Two knights fight in a crash of swords")
    assert "fight" not in rephrased and "compete" in rephrased
    assert rephrased.count(BRAND_SAFE_SUFFIX) == 1 and rephrased.endswith("suitable for all audiences")
    assert rephrased_for_moderation(rephrased).count(BRAND_SAFE_SUFFIX) == 1
    assert len(rephrased_for_moderation("word " * 400)) <= MAX_ENGINE_PROMPT_CHARS
