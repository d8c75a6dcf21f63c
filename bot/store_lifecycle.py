"""SQL for lifecycle stages: the stage on `conversations`, its `stage_changes` audit, buyer look-up.

Playbooks (another module) read `conversations.stage` and `stage_changed_at` to trigger; only
`set_stage` writes them, and always together with an audit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.lifecycle import is_stage
from bot.store import Store


@dataclass(frozen=True)
class ConversationInfo:
    id: int
    contact_id: int
    stage: str
    stage_changed_at: datetime | None
    last_inbound_at: datetime | None


@dataclass(frozen=True)
class StageChangeRow:
    conversation_id: int
    from_stage: str
    to_stage: str
    by: str
    reason: str
    at: datetime


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def conversation(store: Store, conversation_id: int) -> ConversationInfo:
    row = store.db.execute(
        "SELECT id, contact_id, stage, stage_changed_at, last_inbound_at FROM conversations WHERE id = ?",
        [conversation_id],
    ).fetchone()
    if row is None:
        raise KeyError(f"no conversation {conversation_id}")
    return ConversationInfo(row["id"], row["contact_id"], row["stage"], _dt(row["stage_changed_at"]),
                            _dt(row["last_inbound_at"]))


def set_stage(store: Store, conversation_id: int, to: str, *, by: str, reason: str, now: datetime,
              expected: str | None = None) -> bool:
    """Move the conversation to `to` and audit it; False if already there (or no longer at `expected`)."""
    if not is_stage(to):
        raise ValueError(f"unknown stage {to!r}")
    with store.transaction():
        current = conversation(store, conversation_id).stage
        if current == to or (expected is not None and current != expected):
            return False
        store.db.execute(
            "UPDATE conversations SET stage = ?, stage_changed_at = ?, updated_at = ? WHERE id = ?",
            [to, now.isoformat(), now.isoformat(), conversation_id],
        )
        store.db.execute(
            "INSERT INTO stage_changes (conversation_id, from_stage, to_stage, by, reason, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [conversation_id, current, to, by, reason, now.isoformat()],
        )
    return True


def stage_changes(store: Store, conversation_id: int) -> list[StageChangeRow]:
    rows = store.db.execute(
        "SELECT * FROM stage_changes WHERE conversation_id = ? ORDER BY id", [conversation_id]
    ).fetchall()
    return [StageChangeRow(r["conversation_id"], r["from_stage"], r["to_stage"], r["by"], r["reason"],
                           datetime.fromisoformat(r["at"])) for r in rows]


def latest_draft_id(store: Store, conversation_id: int) -> int | None:
    """The newest draft of a conversation that has a card (the one to re-render after a change)."""
    row = store.db.execute(
        "SELECT id FROM drafts WHERE conversation_id = ? AND card_ref IS NOT NULL ORDER BY id DESC LIMIT 1",
        [conversation_id],
    ).fetchone()
    return int(row["id"]) if row else None


def find_conversations(store: Store, query: str) -> list[tuple[int, str]]:
    """(conversation id, "name (+phone)") of conversations matching `query` as every command reads a
    buyer (`Store.find_conversation_ids`)."""
    out = []
    for conversation_id in store.find_conversation_ids(query):
        r = store.db.execute("SELECT c.name, c.phone FROM conversations v JOIN contacts c ON c.id = v.contact_id "
                             "WHERE v.id = ?", [conversation_id]).fetchone()
        out.append((conversation_id, f"{r['name'] or r['phone']} ({r['phone']})"))
    return out
