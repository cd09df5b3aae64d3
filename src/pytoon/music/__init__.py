"""The named music library: royalty-free loops made by the project, chosen by name as `music_source`.

The tracks ship as package data beside this module, listed in manifest.json; tools/generate_music.py
synthesises them (each a whole number of bars that loops without a seam) and writes both. A job that names
a track stores the track's library key (`library/music/<file>`) as its music key, and the audio step reads
a key under that prefix from here instead of from storage: no function needs a storage grant for it, the
renderer is handed a file like any other, and the embedded and AWS modes play the same bytes.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict

LIBRARY_KEY_PREFIX = "library/music/"


class UnknownTrackError(LookupError):
    """A name (or library key) that is not in the music library; the message lists every valid name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name!r} is not in the music library (valid names: {', '.join(track_names())})")
        self.name = name


class Track(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    mood: str
    bpm: int
    bars: int
    duration_seconds: float
    file: str


@cache
def tracks() -> tuple[Track, ...]:
    """Every track, sorted by name."""
    manifest = json.loads(resources.files(__package__).joinpath("manifest.json").read_text(encoding="utf-8"))
    return tuple(sorted((Track.model_validate(entry) for entry in manifest["tracks"]), key=lambda t: t.name))


def track_names() -> list[str]:
    return [t.name for t in tracks()]


def get_track(name: str) -> Track:
    for candidate in tracks():
        if candidate.name == name:
            return candidate
    raise UnknownTrackError(name)


def track_path(name: str) -> Path:
    """The track's file (package data; installed packages are plain directories, also in the Lambda layer)."""
    return Path(str(resources.files(__package__).joinpath(get_track(name).file)))


def library_key(name: str) -> str:
    """The music key a job stores for a library track."""
    return LIBRARY_KEY_PREFIX + get_track(name).file


def library_file(key: str) -> Path | None:
    """The packaged file a music key names, or None for a key in storage (an upload)."""
    if not key.startswith(LIBRARY_KEY_PREFIX):
        return None
    file = key.removeprefix(LIBRARY_KEY_PREFIX)
    for candidate in tracks():
        if candidate.file == file:
            return track_path(candidate.name)
    raise UnknownTrackError(Path(file).stem)
