"""Which external engines generate a scene, in the order they are tried: the rules in engines.json.

The first engine is, in order: the one the scene names, the job's `engine_override`, the preset's first
preference, the engine whose capabilities the scene's style and description mention, the default. The
preset's other preferences, then the fallback chain, follow; every engine appears once. Whether an engine
can be used now (its key, its recent failures) is decided when it is tried; `local_ffmpeg` always ends the
chain, rendering the scene's designed card.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pytoon.config import ConfigError
from pytoon.models import JobSpec
from pytoon.scenes import Scene


class EngineRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The longest a generation may take, from submit to a finished clip; then the next engine is tried.
    timeout_seconds: int = Field(ge=1, le=3600)
    # How often a provider without callbacks is asked how its task is doing.
    poll_interval_seconds: int = Field(ge=1, le=60)
    # Words in a scene's style or description that this engine is chosen for.
    capabilities: tuple[str, ...]


class RotationRules(BaseModel):
    """An engine that fails more than `failure_threshold` of at least `min_attempts` generations within
    `window_seconds` is skipped until the window has passed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_seconds: int = Field(ge=10)
    min_attempts: int = Field(ge=1)
    failure_threshold: float = Field(gt=0, le=1)


class EngineConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_engine: str
    fallback_chain: tuple[str, ...]
    engines: dict[str, EngineRules]
    preset_preferences: dict[str, tuple[str, ...]]
    rotation: RotationRules
    # Appended, after the brand-safe rewording, to a prompt an engine refused on content grounds.
    moderation_rephrase_suffix: str

    @model_validator(mode="after")
    def _names_are_engines(self) -> EngineConfig:
        named = {self.default_engine, *self.fallback_chain, *(e for p in self.preset_preferences.values() for e in p)}
        unknown = named - set(self.engines)
        if unknown:
            raise ValueError(f"engines.json names engines it does not configure: {sorted(unknown)}")
        return self


def engine_config() -> EngineConfig:
    """The rules in `PYTOON_ENGINE_CONFIG` (a JSON file of the same shape) when set, else the shipped engines.json."""
    return _load_config(os.environ.get("PYTOON_ENGINE_CONFIG", "").strip() or None)


@cache
def _load_config(path: str | None) -> EngineConfig:
    if path is None:
        text = resources.files(__package__).joinpath("engines.json").read_text(encoding="utf-8")
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"PYTOON_ENGINE_CONFIG cannot be read ({path}): {exc}") from None
    try:
        return EngineConfig.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        raise ConfigError(f"the engine rules in {path or 'engines.json'} are invalid: {exc}") from None


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9_]+", text.lower()))


def _by_capability(scene: Scene, config: EngineConfig) -> str | None:
    style = scene.style
    words = _words(" ".join(filter(None, [scene.description, *(style.model_dump().values() if style else [])])))
    return next((name for name, rules in config.engines.items() if words & set(rules.capabilities)), None)


def engine_chain(scene: Scene, spec: JobSpec, config: EngineConfig | None = None) -> list[str]:
    """The external engines to try for a generated scene, first choice first (see the module docstring)."""
    config = config or engine_config()
    asked = scene.media.engine if scene.media.engine not in (None, "local") else None
    override = spec.engine_override if spec.engine_override not in (None, "local") else None
    preferences = config.preset_preferences.get(spec.preset.id, ()) or tuple(
        e for e in spec.preset.engine_preferences if e in config.engines
    )
    first = asked or override or next(iter(preferences), None) or _by_capability(scene, config) or config.default_engine
    return _ordered([first, *preferences, *config.fallback_chain], config)


def prompt_chain(engine: str | None, preset_id: str, config: EngineConfig | None = None) -> list[str]:
    """The engines to try for a clip made from a prompt alone (a production run's clip): the engine asked for,
    then the preset's preferences, then the default engine and the fallback chain."""
    config = config or engine_config()
    preferences = config.preset_preferences.get(preset_id, ())
    asked = engine if engine not in (None, "local") else None
    return _ordered(
        [asked or next(iter(preferences), None) or config.default_engine, *preferences, *config.fallback_chain], config
    )


def _ordered(chain: list[str | None], config: EngineConfig) -> list[str]:
    """The chain's configured engines, each once, in order."""
    return [name for index, name in enumerate(chain) if name in config.engines and name not in chain[:index]]


def rephrased_for_moderation(prompt: str, config: EngineConfig | None = None) -> str:
    """The prompt an engine refused, reworded as a brand-safe prompt with the safe-content suffix."""
    from pytoon.content_rules import BRAND_SAFE_SUFFIX, engine_prompt

    config = config or engine_config()
    safe = prompt if BRAND_SAFE_SUFFIX in prompt else engine_prompt(prompt, brand_safe=True)
    # Not brand-safe a second time: that would append its suffix again. This only collapses and caps it.
    return engine_prompt(f"{safe.rstrip('. ')}. {config.moderation_rephrase_suffix}", brand_safe=False)
