"""The supervisor chat: start, follow and decide production runs in plain sentences."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pytoon.api.dependencies import Caller
from pytoon.api.errors import error_responses
from pytoon.api.routing import api_router
from pytoon.runs.service import CallerOperations

PREFIX = "/v1/chat"
# Far above what the supervisor reads (it answers a longer message by saying so), far below the body limit.
MAX_MESSAGE_BODY_CHARS = 20_000
router = api_router(prefix=PREFIX, tags=["supervisor chat"], responses=error_responses(401, 422, 429))


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(max_length=MAX_MESSAGE_BODY_CHARS)
    session_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Continue a session (a new one when omitted)"
    )


# The reply's model lives with the interpreter, which (with its LLM tools) only chat requests load: the API's
# cold start does not pay for it, so the route documents the reply in words.
REPLY_DOC = {
    200: {
        "description": "`{session_id, reply, actions: [{operation, arguments, outcome, detail}], runs: [...], "
        "interpreter: rules|llm, llm_fallback_reason}`"
    }
}


@router.post("/supervisor", responses={**REPLY_DOC, **error_responses(409)})
def supervisor(request: ChatRequest, caller: Caller) -> dict[str, Any]:
    """One message to the supervisor: it can start a run from a sentence, say what is running or waiting for
    approval, report a run, approve or reject a gate, and explain what it can do."""
    from pytoon.runs.supervisor import chat

    reply = chat(caller.tenant_id, request.message, request.session_id, CallerOperations(caller.key_id))
    return reply.model_dump(mode="json")
