"""The music library a V2 job can name as its `music_source`."""

from __future__ import annotations

from pytoon.api.dependencies import Caller
from pytoon.api.errors import error_responses
from pytoon.api.routing import api_router
from pytoon.api.schemas import MusicLibraryBody, MusicTrackBody
from pytoon.music import tracks

router = api_router(prefix="/api/v2/music", tags=["music"], responses=error_responses(401, 422, 429))


@router.get("", response_model=MusicLibraryBody)
def list_music(caller: Caller) -> MusicLibraryBody:
    """Every library track, sorted by name: royalty-free loops made by the project."""
    return MusicLibraryBody(tracks=[MusicTrackBody.model_validate(t.model_dump()) for t in tracks()])
