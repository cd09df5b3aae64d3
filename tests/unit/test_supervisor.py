"""The supervisor chat: sessions stored per tenant in moto's DynamoDB (bounded history, expiry, tenants apart)."""

from __future__ import annotations

import time
from datetime import datetime

import boto3
import pytest

from pytoon.aws.chat_sessions import MAX_TURNS, SESSION_TTL_SECONDS, ChatSessionRepository
from tests.conftest import REGION


@pytest.fixture
def sessions(moto_table: str) -> ChatSessionRepository:
    return ChatSessionRepository(moto_table, REGION)


def _stored(table_name: str, tenant_id: str, session_id: str) -> dict | None:
    table = boto3.resource("dynamodb", region_name=REGION).Table(table_name)
    return table.get_item(Key={"PK": f"CHAT#{tenant_id}#{session_id}", "SK": "META"}).get("Item")


# --- sessions ---


def test_a_session_keeps_its_last_turns_and_memory_and_expires_after_its_last_message(
    sessions: ChatSessionRepository, moto_table: str
) -> None:
    session = sessions.open("t1", None)
    for n in range(MAX_TURNS + 5):
        session = sessions.record_turn(session, f"message {n}", f"reply {n}", last_run_id=f"run{n}", pending_brief=None)

    reread = sessions.open("t1", session.session_id)
    assert reread.session_id == session.session_id
    assert [turn.user for turn in reread.turns] == [f"message {n}" for n in range(5, MAX_TURNS + 5)]
    assert reread.turns[-1].assistant == f"reply {MAX_TURNS + 4}" and reread.last_run_id == f"run{MAX_TURNS + 4}"
    item = _stored(moto_table, "t1", session.session_id)
    assert item is not None and len(item["turns"]) == MAX_TURNS
    updated = item["updated_at"].replace("Z", "+00:00")
    assert int(item["expires_at"]) - int(datetime.fromisoformat(updated).timestamp()) == SESSION_TTL_SECONDS


def test_another_tenants_or_an_unknown_session_id_opens_a_fresh_session_under_a_new_id(
    sessions: ChatSessionRepository,
) -> None:
    theirs = sessions.record_turn(sessions.open("t1", None), "secret brief", "ok", last_run_id="r1", pending_brief=None)

    for session_id in (theirs.session_id, "no-such-session", "not a session id!", "x" * 500):
        mine = sessions.open("t2", session_id)
        assert mine.session_id != theirs.session_id and mine.turns == [] and mine.last_run_id is None
    assert sessions.get("t2", theirs.session_id) is None
    assert sessions.open("t1", theirs.session_id).turns[0].user == "secret brief"


def test_two_messages_saved_from_the_same_read_both_keep_their_turn(sessions: ChatSessionRepository) -> None:
    session = sessions.record_turn(sessions.open("t1", None), "first", "one", last_run_id=None, pending_brief=None)
    read_by_both = sessions.open("t1", session.session_id)

    sessions.record_turn(read_by_both, "second", "two", last_run_id=None, pending_brief=None)
    sessions.record_turn(read_by_both, "third", "three", last_run_id="r3", pending_brief=None)

    stored = sessions.open("t1", session.session_id)
    assert [turn.user for turn in stored.turns] == ["first", "second", "third"] and stored.last_run_id == "r3"


def test_an_expired_session_reads_as_unknown_and_its_id_is_taken_afresh(moto_table: str) -> None:
    written_at = time.time()
    session = ChatSessionRepository(moto_table, REGION, clock=lambda: written_at).record_turn(
        ChatSessionRepository(moto_table, REGION).open("t1", None), "hello", "hi", last_run_id="r1", pending_brief=None
    )
    later = ChatSessionRepository(moto_table, REGION, clock=lambda: written_at + SESSION_TTL_SECONDS + 1)

    assert later.get("t1", session.session_id) is None
    fresh = later.open("t1", session.session_id)
    assert fresh.session_id != session.session_id and fresh.turns == []
    # Until TTL deletes it, the expired item is overwritten by a new session that happens to take its key.
    reused = later.record_turn(
        session.model_copy(update={"turns": [], "version": 0}), "again", "hi", last_run_id=None, pending_brief=None
    )
    assert [turn.user for turn in later.open("t1", reused.session_id).turns] == ["again"]
