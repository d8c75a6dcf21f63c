"""The only module that touches SQL: contacts, conversations, messages, drafts, outbox, decisions.

One connection, used from the event loop thread only (the single writer). State changes
that must happen once are single conditional UPDATEs or INSERTs on a UNIQUE key, so
duplicates and double taps are settled by SQLite, not by timing.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlite_utils

from bot import migrations, store_team
from bot.models import (
    STATUS_RANK,
    Action,
    Contact,
    Decision,
    Draft,
    DraftResult,
    DraftState,
    IncomingMessage,
    Message,
    Outbound,
    OutboxState,
)
from bot.phones import PhoneInfo


def _ts(value: datetime) -> str:
    return value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Store:
    def __init__(self, path: str = ":memory:") -> None:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        conn.row_factory = sqlite3.Row
        self.db = sqlite_utils.Database(conn)
        if path != ":memory:":
            self.db.enable_wal()
        self.db.execute("PRAGMA foreign_keys = ON")
        migrations.apply(self.db)

    def close(self) -> None:
        self.db.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(sql, list(params)).fetchone()
        return row

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(self.db.execute(sql, list(params)).fetchall())

    def _insert(self, sql: str, params: Sequence[Any]) -> int:
        cur = self.db.execute(sql, list(params))
        return int(cur.lastrowid or 0)

    # -- contacts and conversations -------------------------------------------------

    def upsert_contact(self, address: str, channel: str, info: PhoneInfo, name: str | None, now: datetime) -> Contact:
        self.db.execute(
            "INSERT INTO contacts (address, phone, channel, name, country, timezone, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(address) DO UPDATE SET "
            "name = COALESCE(excluded.name, contacts.name)",
            [address, info.e164, channel, name, info.country, info.timezone, _ts(now)],
        )
        row = self._one("SELECT * FROM contacts WHERE address = ?", [address])
        assert row is not None
        return _contact(row)

    def contact(self, contact_id: int) -> Contact:
        row = self._one("SELECT * FROM contacts WHERE id = ?", [contact_id])
        if row is None:
            raise KeyError(f"no contact {contact_id}")
        return _contact(row)

    def conversation_for(self, contact_id: int, now: datetime) -> int:
        self.db.execute(
            "INSERT OR IGNORE INTO conversations (contact_id, created_at, updated_at) VALUES (?, ?, ?)",
            [contact_id, _ts(now), _ts(now)],
        )
        row = self._one("SELECT id FROM conversations WHERE contact_id = ?", [contact_id])
        assert row is not None
        return int(row["id"])

    def find_conversation_ids(self, query: str, limit: int = 10) -> list[int]:
        """The one reading of "<buyer>" in every command, so /assign, /analyze, /pause and /stage agree:
        a conversation id (`12`, `#12`), else a phone number (its digits, with or without +, spaces or
        dashes), else a buyer name (exact, then contained; any case)."""
        text = query.strip().removeprefix("whatsapp:")
        if not text:
            return []
        base = "SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id WHERE "
        digits = re.sub(r"[\s().+-]", "", text)
        if re.fullmatch(r"#?\d{1,6}", text):
            rows = self._all(base + "c.id = ?", [int(text.lstrip("#"))])
        elif re.fullmatch(r"\d{7,15}", digits):
            rows = self._all(base + "k.phone LIKE ? ORDER BY c.id LIMIT ?", [f"%{digits}", limit])
        else:
            rows = (self._all(base + "k.name = ? COLLATE NOCASE ORDER BY c.id LIMIT ?", [text, limit])
                    or self._all(base + "k.name LIKE ? ORDER BY c.id LIMIT ?", [f"%{text}%", limit]))
        return [int(r[0]) for r in rows]

    # -- messages ---------------------------------------------------------------------

    def add_inbound(
        self, incoming: IncomingMessage, info: PhoneInfo, now: datetime
    ) -> tuple[Message, bool]:
        """Store a buyer message once per provider id; return it and whether it is new."""
        existing = self._one("SELECT * FROM messages WHERE provider_id = ?", [incoming.provider_id])
        if existing is not None:
            return _message(existing), False
        with self.transaction():
            contact = self.upsert_contact(incoming.address, incoming.channel, info, incoming.profile_name, now)
            conv = self.conversation_for(contact.id, now)
            cur = self.db.execute(
                "INSERT OR IGNORE INTO messages (conversation_id, contact_id, direction, body, media, "
                "provider_id, needs_draft, at) VALUES (?, ?, 'in', ?, ?, ?, 1, ?)",
                [conv, contact.id, incoming.body, json.dumps(list(incoming.media)), incoming.provider_id,
                 _ts(now)],
            )
            created = cur.rowcount == 1
            self.db.execute(
                "UPDATE conversations SET last_inbound_at = ?, updated_at = ? WHERE id = ?",
                [_ts(now), _ts(now), conv],
            )
        row = self._one("SELECT * FROM messages WHERE provider_id = ?", [incoming.provider_id])
        assert row is not None
        return _message(row), created

    def add_outbound_message(self, conversation_id: int, contact_id: int, body: str, provider_id: str,
                             now: datetime) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO messages (conversation_id, contact_id, direction, body, provider_id, at) "
            "VALUES (?, ?, 'out', ?, ?, ?)",
            [conversation_id, contact_id, body, provider_id, _ts(now)],
        )

    def message(self, message_id: int) -> Message:
        row = self._one("SELECT * FROM messages WHERE id = ?", [message_id])
        if row is None:
            raise KeyError(f"no message {message_id}")
        return _message(row)

    def history(self, conversation_id: int, before_id: int, limit: int) -> list[Message]:
        """The last `limit` messages before `before_id`, oldest first."""
        rows = self._all(
            "SELECT * FROM messages WHERE conversation_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
            [conversation_id, before_id, limit],
        )
        return [_message(r) for r in reversed(rows)]

    def needs_draft(self, message_id: int) -> bool:
        row = self._one("SELECT needs_draft FROM messages WHERE id = ?", [message_id])
        return bool(row and row["needs_draft"])

    def messages_needing_draft(self) -> list[Message]:
        return [_message(r) for r in self._all("SELECT * FROM messages WHERE needs_draft = 1 ORDER BY id")]

    # -- drafts -----------------------------------------------------------------------

    def add_draft(self, message: Message, result: DraftResult, unknown_numbers: Sequence[str],
                  now: datetime, version: int = 1, card_ref: str | None = None) -> Draft:
        with self.transaction():
            draft_id = self._insert(
                "INSERT INTO drafts (message_id, conversation_id, version, text, language, translation, "
                "back_translation, intent, flags, unknown_numbers, source, notice, state, card_ref, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                [message.id, message.conversation_id, version, result.reply, result.buyer_language,
                 result.translation, result.back_translation, result.intent, json.dumps(list(result.flags)),
                 json.dumps(list(unknown_numbers)), result.source, result.notice, card_ref, _ts(now)],
            )
            self.db.execute("UPDATE messages SET needs_draft = 0 WHERE id = ?", [message.id])
        return self.draft(draft_id)

    def draft(self, draft_id: int) -> Draft:
        row = self._one("SELECT * FROM drafts WHERE id = ?", [draft_id])
        if row is None:
            raise KeyError(f"no draft {draft_id}")
        return _draft(row)

    def set_card_ref(self, draft_id: int, card_ref: str) -> None:
        self.db.execute("UPDATE drafts SET card_ref = ? WHERE id = ?", [card_ref, draft_id])

    def pending_drafts(self, conversation_id: int | None = None) -> list[Draft]:
        if conversation_id is None:
            rows = self._all("SELECT * FROM drafts WHERE state = 'pending' ORDER BY created_at")
        else:
            rows = self._all("SELECT * FROM drafts WHERE state = 'pending' AND conversation_id = ? ORDER BY id",
                             [conversation_id])
        return [_draft(r) for r in rows]

    def transition_draft(self, draft_id: int, to: DraftState, now: datetime, sent_text: str | None = None) -> bool:
        """Move a pending draft to `to`; False when someone else already decided it."""
        cur = self.db.execute(
            "UPDATE drafts SET state = ?, decided_at = ?, sent_text = ? WHERE id = ? AND state = 'pending'",
            [to.value, _ts(now), sent_text, draft_id],
        )
        return cur.rowcount == 1

    def approve(self, draft_id: int, action: Action, actor: str, surface: str, to: str, body: str,
                now: datetime, policy: str = "manual") -> Outbound | None:
        """Record the decision and its outbox row in one transaction; None if already decided."""
        with self.transaction():
            if not self.transition_draft(draft_id, DraftState.SENT, now, sent_text=body):
                return None
            self._add_decision(draft_id, action, actor, surface, now, body, policy)
            store_team.record_edit(self, draft_id, body)  # audit: what changed from the draft
            self.db.execute(
                "INSERT INTO outbox (draft_id, idem_key, to_address, body, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                [draft_id, f"draft:{draft_id}", to, body, _ts(now), _ts(now)],
            )
        return self.outbound_for_draft(draft_id)

    def close_draft(self, draft_id: int, state: DraftState, action: Action, actor: str, surface: str,
                    now: datetime) -> bool:
        with self.transaction():
            if not self.transition_draft(draft_id, state, now):
                return False
            self._add_decision(draft_id, action, actor, surface, now, None, "manual")
        return True

    # -- decisions --------------------------------------------------------------------

    def _add_decision(self, draft_id: int, action: Action, actor: str, surface: str, now: datetime,
                      text: str | None, policy: str) -> None:
        self.db.execute(
            "INSERT INTO decisions (draft_id, action, actor, surface, policy, text, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [draft_id, action.value, actor, surface, policy, text, _ts(now)],
        )

    def last_decision(self, draft_id: int) -> Decision | None:
        row = self._one("SELECT * FROM decisions WHERE draft_id = ? ORDER BY id DESC LIMIT 1", [draft_id])
        return _decision(row) if row else None

    def decisions(self, since: datetime) -> list[Decision]:
        return [_decision(r) for r in self._all("SELECT * FROM decisions WHERE at >= ? ORDER BY id", [_ts(since)])]

    # -- outbox -----------------------------------------------------------------------

    def outbound_for_draft(self, draft_id: int) -> Outbound | None:
        row = self._one("SELECT * FROM outbox WHERE draft_id = ? ORDER BY id DESC LIMIT 1", [draft_id])  # latest try
        return _outbound(row) if row else None

    def outbound(self, outbox_id: int) -> Outbound:
        row = self._one("SELECT * FROM outbox WHERE id = ?", [outbox_id])
        if row is None:
            raise KeyError(f"no outbox row {outbox_id}")
        return _outbound(row)

    def outbound_by_provider_id(self, provider_id: str) -> Outbound | None:
        row = self._one("SELECT * FROM outbox WHERE provider_id = ?", [provider_id])
        return _outbound(row) if row else None

    def claim_outbound(self, outbox_id: int, now: datetime) -> bool:
        """pending -> sending, once; the winner is the only caller that talks to the provider."""
        cur = self.db.execute(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ? "
            "WHERE id = ? AND state = 'pending'",
            [_ts(now), outbox_id],
        )
        return cur.rowcount == 1

    def unfinished_outbound(self) -> list[Outbound]:
        rows = self._all("SELECT * FROM outbox WHERE state IN ('pending', 'sending') ORDER BY id")
        return [_outbound(r) for r in rows]

    def mark_outbound(self, outbox_id: int, state: OutboxState, now: datetime, provider_id: str | None = None,
                      error_code: str | None = None, error_message: str | None = None) -> None:
        self.db.execute(
            "UPDATE outbox SET state = ?, provider_id = COALESCE(?, provider_id), error_code = ?, "
            "error_message = ?, updated_at = ? WHERE id = ?",
            [state.value, provider_id, error_code, error_message, _ts(now), outbox_id],
        )

    def advance_status(self, provider_id: str, state: OutboxState, now: datetime,
                       error_code: str | None = None, error_message: str | None = None) -> Outbound | None:
        """Apply a provider status if it moves the message forward; return the row if it changed."""
        row = self.outbound_by_provider_id(provider_id)
        if row is None or STATUS_RANK[state] <= STATUS_RANK[row.state]:
            return None
        self.mark_outbound(row.id, state, now, error_code=error_code, error_message=error_message)
        return self.outbound(row.id)


def _json_tuple(value: str | None) -> tuple[str, ...]:
    return tuple(json.loads(value)) if value else ()


def _contact(r: sqlite3.Row) -> Contact:
    return Contact(id=r["id"], address=r["address"], phone=r["phone"], channel=r["channel"], name=r["name"],
                   country=r["country"], timezone=r["timezone"])


def _message(r: sqlite3.Row) -> Message:
    at = _dt(r["at"])
    assert at is not None
    return Message(id=r["id"], conversation_id=r["conversation_id"], contact_id=r["contact_id"],
                   direction=r["direction"], body=r["body"], at=at, provider_id=r["provider_id"],
                   media=_json_tuple(r["media"]))


def _draft(r: sqlite3.Row) -> Draft:
    created = _dt(r["created_at"])
    assert created is not None
    return Draft(id=r["id"], message_id=r["message_id"], conversation_id=r["conversation_id"], text=r["text"],
                 language=r["language"], translation=r["translation"], back_translation=r["back_translation"],
                 intent=r["intent"], flags=_json_tuple(r["flags"]), unknown_numbers=_json_tuple(r["unknown_numbers"]),
                 source=r["source"], notice=r["notice"], state=DraftState(r["state"]), created_at=created,
                 card_ref=r["card_ref"], version=r["version"])


def _decision(r: sqlite3.Row) -> Decision:
    at = _dt(r["at"])
    assert at is not None
    return Decision(id=r["id"], draft_id=r["draft_id"], action=Action(r["action"]), actor=r["actor"],
                    surface=r["surface"], at=at, text=r["text"])


def _outbound(r: sqlite3.Row) -> Outbound:
    return Outbound(id=r["id"], draft_id=r["draft_id"], idem_key=r["idem_key"], to=r["to_address"], body=r["body"],
                    state=OutboxState(r["state"]), attempts=r["attempts"], provider_id=r["provider_id"],
                    error_code=r["error_code"], error_message=r["error_message"], updated_at=_dt(r["updated_at"]))


def counts(store: Store) -> dict[str, dict[str, int]]:
    """Row counts by state, for /metrics and /healthz."""
    out: dict[str, dict[str, int]] = {}
    for table, column in (("messages", "direction"), ("drafts", "state"), ("outbox", "state")):
        rows = store.db.execute(f"SELECT {column}, COUNT(*) FROM {table} GROUP BY {column}").fetchall()
        out[table] = {str(r[0]): int(r[1]) for r in rows}
    return out
