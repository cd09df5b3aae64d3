"""The presets a job may name."""

from __future__ import annotations

from pytoon.api.dependencies import Caller
from pytoon.api.errors import error_responses
from pytoon.api.routing import api_router
from pytoon.presets import all_presets

router = api_router(prefix="/api/v1/presets", tags=["presets"], responses=error_responses(401, 422, 429))


@router.get("")
def list_presets(caller: Caller) -> dict:
    return {"presets": [p.model_dump(mode="json", exclude_none=True) for p in all_presets()]}
