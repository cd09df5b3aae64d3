"""Bundled open-licence fonts, so captions look the same on every machine and in Lambda.

Presets name font families; proprietary families map to open look-alikes (licences beside the files):
Impact → Anton, Arial Black → Archivo Black. An unknown family is an error, never a silent fallback.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

FONT_FILES: dict[str, str] = {
    "Inter": "Inter-SemiBold.ttf",
    "Bebas Neue": "BebasNeue-Regular.ttf",
    "Montserrat": "Montserrat-ExtraBold.ttf",
    "Impact": "Anton-Regular.ttf",
    "Anton": "Anton-Regular.ttf",
    "Arial Black": "ArchivoBlack-Regular.ttf",
    "Archivo Black": "ArchivoBlack-Regular.ttf",
}


class UnknownFontError(LookupError):
    pass


def font_path(family: str) -> Path:
    try:
        filename = FONT_FILES[family]
    except KeyError:
        raise UnknownFontError(f"No bundled font for family {family!r}; known: {sorted(FONT_FILES)}") from None
    return Path(str(resources.files(__package__).joinpath(filename)))
