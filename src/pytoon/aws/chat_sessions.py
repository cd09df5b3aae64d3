"""Supervisor chat sessions in the single table: `CHAT#{tenant}#{session}`/META holds the last turns of a
conversation and what the supervisor remembers between messages (the run last talked about, a brief waiting
for its project).

The tenant is part of the key, so a session id only ever names a session of the tenant asking: another
tenant's id reads exactly as an unknown one, and its history is never read. A session expires (DynamoDB TTL on
`expires_at`) SESSION_TTL_SECONDS after its last message; one past that time reads as unknown before TTL's lazy
deletion removes it. Each write is conditional on the version read, so two messages sent to one session at once
both keep their turn.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from pytoon.aws import TableRepository, condition_failed, plain_numbers
from pytoon.errors import PytoonError

# The turns a session keeps (older ones are dropped) and the characters kept of each side of a turn: a session
# stays far below DynamoDB's 400 KB item limit and an LLM's context.
MAX_TURNS = 20
MAX_TURN_TEXT_CHARS = 4000
SESSION_TTL_SECONDS = 7 * 24 * 3600
SAVE_ATTEMPTS = 3
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SessionContendedError(PytoonError):
    """Other messages to the same session kept winning the write; the caller may send the message again."""


class ChatTurn(BaseModel):
    user: str
    assistant: str
    at: str


class ChatSession(BaseModel):
    tenant_id: str
    session_id: str
    turns: list[ChatTurn] = Field(default_factory=list)
    # The run the conversation last acted on or looked at ("approve it"), and a brief whose project was asked for.
    last_run_id: str | None = None
    pending_brief: str | None = None
    # How many writes the session has had; 0 for one not stored yet.
    version: int = 0


def _key(tenant_id: str, session_id: str) -> dict[str, str]:
    return {"PK": f"CHAT#{tenant_id}#{session_id}", "SK": "META"}


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clipped(text: str) -> str:
    return text if len(text) <= MAX_TURN_TEXT_CHARS else text[: MAX_TURN_TEXT_CHARS - 1] + "…"


@dataclass(frozen=True)
class ChatSessionRepository(TableRepository):
    # Seconds since the epoch: when turns are stamped and sessions expire.
    clock: Callable[[], float] = time.time

    def get(self, tenant_id: str, session_id: str) -> ChatSession | None:
        """The tenant's session, or None: unknown, expired, another tenant's, or not a session id at all."""
        if not SESSION_ID.fullmatch(session_id):
            return None
        item = self._table.get_item(Key=_key(tenant_id, session_id), ConsistentRead=True).get("Item")
        if item is None or int(item.get("expires_at", 0)) <= self.clock():
            return None
        return ChatSession.model_validate(plain_numbers(item))

    def open(self, tenant_id: str, session_id: str | None) -> ChatSession:
        """The session `session_id` names for this tenant, else a fresh one under a new id (not stored until its
        first turn): a caller whose session was unknown sees the id change in the reply."""
        found = self.get(tenant_id, session_id) if session_id else None
        return found or ChatSession(tenant_id=tenant_id, session_id=uuid.uuid4().hex)

    def record_turn(
        self, session: ChatSession, user: str, assistant: str, *, last_run_id: str | None, pending_brief: str | None
    ) -> ChatSession:
        """Append a turn (keeping the last MAX_TURNS) and the supervisor's memory, refreshing the expiry. When
        another message was saved since `session` was read, the turn is appended to that one instead."""
        current = session
        for _ in range(SAVE_ATTEMPTS):
            now = self.clock()
            turn = ChatTurn(user=_clipped(user), assistant=_clipped(assistant), at=_iso(now))
            saved = current.model_copy(
                update={
                    "turns": [*current.turns, turn][-MAX_TURNS:],
                    "last_run_id": last_run_id,
                    "pending_brief": pending_brief,
                    "version": current.version + 1,
                }
            )
            item = {**_key(saved.tenant_id, saved.session_id), **saved.model_dump(mode="json", exclude_none=True)}
            item.update(updated_at=turn.at, expires_at=int(now) + SESSION_TTL_SECONDS)
            try:
                if current.version == 0:
                    # An expired session not yet deleted by TTL is free to take.
                    self._table.put_item(
                        Item=item,
                        ConditionExpression="attribute_not_exists(PK) OR expires_at <= :now",
                        ExpressionAttributeValues={":now": int(now)},
                    )
                else:
                    self._table.put_item(
                        Item=item,
                        ConditionExpression="version = :read",
                        ExpressionAttributeValues={":read": current.version},
                    )
                return saved
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
            current = self.get(session.tenant_id, session.session_id) or session.model_copy(
                update={"turns": [], "version": 0}
            )
        raise SessionContendedError(f"chat session {session.session_id} is busy with other messages; send it again")
