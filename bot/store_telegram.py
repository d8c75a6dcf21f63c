"""SQL for the Telegram surface: edit prompts, the messages of multi-part cards, long reply buttons.

Functions take the one `Store` (its single connection, the event loop's thread) and return plain
values; the tables come from the `m_telegram_*` migrations.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from bot.store import Store


def save_edit_prompt(store: Store, chat_id: str, message_id: int, draft_id: int, actor: str,
                     now: datetime) -> None:
    store.db.execute(
        "INSERT OR REPLACE INTO telegram_edit_prompts (chat_id, message_id, draft_id, actor, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [chat_id, message_id, draft_id, actor, now.isoformat()],
    )


def edit_prompt_draft(store: Store, chat_id: str, message_id: int) -> int | None:
    """The draft a ForceReply prompt was about, or None if the message is not one of our prompts."""
    row = store.db.execute(
        "SELECT draft_id FROM telegram_edit_prompts WHERE chat_id = ? AND message_id = ?", [chat_id, message_id]
    ).fetchone()
    return int(row[0]) if row else None


def save_card_parts(store: Store, card_ref: str, chat_id: str, message_ids: list[int]) -> None:
    """Replace the message ids that make up a card, in reading order."""
    with store.transaction():
        store.db.execute("DELETE FROM telegram_card_parts WHERE card_ref = ?", [card_ref])
        for seq, message_id in enumerate(message_ids):
            store.db.execute(
                "INSERT INTO telegram_card_parts (card_ref, seq, chat_id, message_id) VALUES (?, ?, ?, ?)",
                [card_ref, seq, chat_id, message_id],
            )


def card_parts(store: Store, card_ref: str) -> list[int]:
    """Message ids of a card in reading order; empty when the card was a single message."""
    rows = store.db.execute(
        "SELECT message_id FROM telegram_card_parts WHERE card_ref = ? ORDER BY seq", [card_ref]
    ).fetchall()
    return [int(r[0]) for r in rows]


def save_button(store: Store, action: str, value: str, now: datetime) -> str:
    """Keep a reply button too long for callback_data; the key is stable for the same button."""
    key = hashlib.sha256(f"{action}\x00{value}".encode()).hexdigest()[:20]
    store.db.execute(
        "INSERT OR IGNORE INTO telegram_buttons (key, action, value, created_at) VALUES (?, ?, ?, ?)",
        [key, action, value, now.isoformat()],
    )
    return key


def stored_button(store: Store, key: str) -> tuple[str, str] | None:
    row = store.db.execute("SELECT action, value FROM telegram_buttons WHERE key = ?", [key]).fetchone()
    return (str(row[0]), str(row[1])) if row else None
