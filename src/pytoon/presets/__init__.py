"""Presets are data: `presets.json` holds every preset; adding one needs no code."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from pytoon.models import Preset


class UnknownPresetError(LookupError):
    def __init__(self, preset_id: str) -> None:
        super().__init__(f"Unknown preset: {preset_id}")
        self.preset_id = preset_id


@cache
def all_presets() -> tuple[Preset, ...]:
    raw = json.loads(resources.files(__package__).joinpath("presets.json").read_text())
    return tuple(Preset.model_validate(item) for item in raw["presets"])


def get_preset(preset_id: str) -> Preset:
    for preset in all_presets():
        if preset.id == preset_id:
            return preset
    raise UnknownPresetError(preset_id)
