"""The named music library: royalty-free tracks made by the project, chosen by name as `music_source`.

The library is empty until its tracks and their generator are added; a job that names a track gets a 400
listing the valid names, and a tenant's own audio upload works as `music_source` meanwhile.
"""

from __future__ import annotations

# name → stored track; filled by the music library.
LIBRARY: dict[str, str] = {}


def library_names() -> list[str]:
    return sorted(LIBRARY)
