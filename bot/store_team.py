"""SQL for the team: conversation owners, the round-robin cursor, finding a buyer, the decision audit.

Functions take a `Store` (its one connection, its transactions). Assignment is a read and a
conditional write inside one IMMEDIATE transaction, so a conversation gets its first owner, and
the cursor moves, exactly once however many messages race in.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.audit import AuditRow, edit_diff
from bot.models import Contact

if TYPE_CHECKING:
    from bot.store import Store

CURSOR = "round_robin"


def owner(store: Store, conversation_id: int) -> str | None:
    row = store.db.execute("SELECT owner FROM conversations WHERE id = ?", [conversation_id]).fetchone()
    if row is None:
        raise KeyError(f"no conversation {conversation_id}")
    return row[0]


def buyer(store: Store, conversation_id: int) -> Contact:
    row = store.db.execute("SELECT contacts.* FROM contacts JOIN conversations ON conversations.contact_id = "
                           "contacts.id WHERE conversations.id = ?", [conversation_id]).fetchone()
    if row is None:
        raise KeyError(f"no conversation {conversation_id}")
    return _contact(row)


def cursor(store: Store) -> int:
    row = store.db.execute("SELECT value FROM team_state WHERE key = ?", [CURSOR]).fetchone()
    return int(row[0]) if row else 0


def assign_if_unowned(store: Store, conversation_id: int, routed: str | None, sellers: Sequence[str],
                      known: Sequence[str]) -> tuple[str, bool]:
    """Give the conversation an owner unless it has one in `known`: `routed` if given, else the next of
    `sellers` round-robin. Returns (owner, whether it was assigned now)."""
    names = {n.lower() for n in known}
    with store.transaction():
        current = owner(store, conversation_id)
        if current is not None and current.lower() in names:
            return current, False
        if routed is not None:
            chosen = routed
        else:
            turn = cursor(store)
            chosen = sellers[turn % len(sellers)]
            store.db.execute(
                "INSERT INTO team_state (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [CURSOR, turn + 1],
            )
        store.db.execute("UPDATE conversations SET owner = ? WHERE id = ?", [chosen, conversation_id])
    return chosen, True


def set_owner(store: Store, conversation_id: int, rep: str, now: datetime) -> None:
    store.db.execute("UPDATE conversations SET owner = ?, updated_at = ? WHERE id = ?",
                     [rep, now.isoformat(), conversation_id])


def _contact(r: sqlite3.Row) -> Contact:
    return Contact(id=r["id"], address=r["address"], phone=r["phone"], channel=r["channel"], name=r["name"],
                   country=r["country"], timezone=r["timezone"])


def find_buyers(store: Store, query: str) -> list[tuple[int, Contact]]:
    """Conversations matching `query` as every command reads a buyer (`Store.find_conversation_ids`)."""
    out = []
    for conversation_id in store.find_conversation_ids(query):
        row = store.db.execute("SELECT contacts.* FROM conversations JOIN contacts ON contacts.id = "
                               "conversations.contact_id WHERE conversations.id = ?", [conversation_id]).fetchone()
        out.append((conversation_id, _contact(row)))
    return out


def record_edit(store: Store, draft_id: int, sent: str) -> None:
    """Keep, on the decision just recorded for `draft_id`, the draft it started from and what changed."""
    row = store.db.execute("SELECT text FROM drafts WHERE id = ?", [draft_id]).fetchone()
    if row is None:
        return
    size, diff = edit_diff(row[0], sent)
    store.db.execute(
        "UPDATE decisions SET draft_text = ?, edit_size = ?, diff = ? "
        "WHERE id = (SELECT MAX(id) FROM decisions WHERE draft_id = ?)",
        [row[0], size, diff or None, draft_id],
    )


def audit_rows(store: Store, since: datetime) -> list[AuditRow]:
    rows = store.db.execute(
        "SELECT decisions.*, contacts.name AS buyer_name, contacts.phone AS buyer_phone FROM decisions "
        "JOIN drafts ON drafts.id = decisions.draft_id "
        "JOIN conversations ON conversations.id = drafts.conversation_id "
        "JOIN contacts ON contacts.id = conversations.contact_id "
        "WHERE decisions.at >= ? ORDER BY decisions.at, decisions.id",
        [since.isoformat()],
    ).fetchall()
    return [
        AuditRow(at=datetime.fromisoformat(r["at"]), action=r["action"], actor=r["actor"], surface=r["surface"],
                 policy=r["policy"], buyer=" ".join(p for p in (r["buyer_name"], r["buyer_phone"]) if p),
                 sent=r["text"], draft_text=r["draft_text"], edit_size=r["edit_size"], diff=r["diff"])
        for r in rows
    ]
