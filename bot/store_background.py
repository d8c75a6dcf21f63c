"""SQL for background checks: what our own records say about a buyer, and the report cache.

Functions take a `Store`. Columns that other features add later (opt-outs, orders) are looked
up by name at query time, so this reads whatever the schema holds today.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.store import Store

OPT_OUT_COLUMNS = ("opted_out_at", "opted_out", "opt_out", "opt_out_at", "unsubscribed_at")


@dataclass(frozen=True)
class BuyerHistory:
    contact_id: int
    name: str | None
    phone: str
    country: str | None
    conversation_id: int | None
    stage: str | None
    messages_in: int
    messages_out: int
    first_at: str | None
    last_at: str | None
    opted_out: bool | None  # None = no opt-out column in this database
    orders: int | None  # None = no orders table in this database


def _columns(store: Store, table: str) -> set[str]:
    return {str(r[1]) for r in store.db.execute(f"PRAGMA table_info({table})").fetchall()}


def find_contacts(store: Store, *, phone: str | None = None, name: str | None = None,
                  conversation_id: int | None = None, email_domain: str | None = None) -> list[int]:
    """Contact ids matching any given key; names match case-insensitively, whole or in part."""
    ids: list[int] = []
    if phone:
        ids += [int(r[0]) for r in store.db.execute("SELECT id FROM contacts WHERE phone = ?", [phone])]
    if conversation_id is not None:
        ids += [int(r[0]) for r in store.db.execute("SELECT contact_id FROM conversations WHERE id = ?",
                                                    [conversation_id])]
    if name:
        ids += [int(r[0]) for r in store.db.execute(
            "SELECT id FROM contacts WHERE name LIKE ? ESCAPE '\\' ORDER BY id", [f"%{_like(name)}%"])]
    if email_domain:
        ids += contacts_mentioning_domain(store, email_domain)
    return list(dict.fromkeys(ids))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contacts_mentioning_domain(store: Store, domain: str) -> list[int]:
    """Contacts who wrote an address at `domain` in any message."""
    return contacts_mentioning(store, f"@{domain}")


def contacts_mentioning(store: Store, text: str) -> list[int]:
    """Contacts who wrote `text` (an address, '@domain') in any message, case-insensitively."""
    rows = store.db.execute(
        "SELECT DISTINCT contact_id FROM messages WHERE direction = 'in' AND body LIKE ? ESCAPE '\\' "
        "ORDER BY contact_id", [f"%{_like(text)}%"])
    return [int(r[0]) for r in rows]


def buyer_messages(store: Store, contact_id: int, limit: int = 200) -> list[str]:
    """The latest inbound message bodies of one contact, oldest first (the caller reads addresses and claims)."""
    rows = store.db.execute("SELECT body FROM messages WHERE contact_id = ? AND direction = 'in' "
                            "ORDER BY id DESC LIMIT ?", [contact_id, limit])
    return [str(r[0]) for r in reversed(list(rows))]


def history(store: Store, contact_id: int) -> BuyerHistory | None:
    contact = store.db.execute("SELECT * FROM contacts WHERE id = ?", [contact_id]).fetchone()
    if contact is None:
        return None
    conv = store.db.execute("SELECT * FROM conversations WHERE contact_id = ?", [contact_id]).fetchone()
    counts = store.db.execute(
        "SELECT SUM(direction = 'in'), SUM(direction = 'out'), MIN(at), MAX(at) FROM messages WHERE contact_id = ?",
        [contact_id]).fetchone()
    opted_out: bool | None = None
    for table, row in (("contacts", contact), ("conversations", conv)):
        if row is None:
            continue
        found = [c for c in OPT_OUT_COLUMNS if c in _columns(store, table)]
        if found:
            opted_out = bool(opted_out) or any(bool(row[c]) for c in found)
    orders: int | None = None
    if "orders" in store.db.table_names():
        key, value = (("contact_id", contact_id) if "contact_id" in _columns(store, "orders")
                      else ("conversation_id", conv["id"] if conv else -1))
        orders = int(store.db.execute(f"SELECT COUNT(*) FROM orders WHERE {key} = ?", [value]).fetchone()[0])
    return BuyerHistory(
        contact_id=contact_id, name=contact["name"], phone=contact["phone"], country=contact["country"],
        conversation_id=conv["id"] if conv else None, stage=conv["stage"] if conv else None,
        messages_in=int(counts[0] or 0), messages_out=int(counts[1] or 0), first_at=counts[2], last_at=counts[3],
        opted_out=opted_out, orders=orders)


# -- cache -----------------------------------------------------------------------------------

def cached_report(store: Store, key: str, not_before: datetime) -> tuple[dict[str, Any], datetime] | None:
    row = store.db.execute("SELECT report, checked_at FROM bgcheck_cache WHERE target = ? AND checked_at >= ?",
                           [key, not_before.isoformat()]).fetchone()
    if row is None:
        return None
    return json.loads(row[0]), datetime.fromisoformat(row[1])


def save_report(store: Store, key: str, report: dict[str, Any], checked_at: datetime) -> None:
    store.db.execute(
        "INSERT INTO bgcheck_cache (target, report, checked_at) VALUES (?, ?, ?) "
        "ON CONFLICT(target) DO UPDATE SET report = excluded.report, checked_at = excluded.checked_at",
        [key, json.dumps(report, ensure_ascii=False), checked_at.isoformat()])
