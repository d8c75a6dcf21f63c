"""SQL for buyer intelligence: approved-reply retrieval, the draft cache, running summaries,
lead facts, the pipeline listing and draft outcomes.

Functions take the one `Store` (single writer) and return plain records; the schema is in
`bot.migrations.m_intel_learning`.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from bot.models import Contact, Message
from bot.store import Store, _message

# --- approved replies (few-shot retrieval) -----------------------------------------------------

_WORD = re.compile(r"\w{2,}", re.UNICODE)
MAX_QUERY_TERMS = 24
MIN_OVERLAP = 0.3  # share of the new message's content words an earlier buyer message must contain


def _fts_query(text: str) -> str | None:
    """An OR query of the message's words, each quoted so buyer text can never be FTS syntax."""
    words = list(dict.fromkeys(sorted(_content_words(text), key=text.lower().find)))[:MAX_QUERY_TERMS]
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def similar_approved(store: Store, text: str, *, owner: str | None, language: str, limit: int = 3,
                     exclude_message_text: str | None = None) -> list[tuple[str, str]]:
    """(buyer message, approved reply) pairs closest to `text`, best first.

    A rep's conversation draws on that rep's own replies first, then the shared pool (conversations
    without an owner); an unowned conversation draws on the shared pool only. Another rep's replies
    are never returned.
    """
    query = _fts_query(text)
    if query is None:
        return []
    if owner is None:
        where, params = "owner IS NULL", []
    else:
        where, params = "(owner = ? OR owner IS NULL)", [owner]
    rows = store._all(
        f"SELECT buyer_text, reply FROM approved_replies WHERE approved_replies MATCH ? AND language = ? "
        f"AND {where} ORDER BY (owner IS NULL), bm25(approved_replies), draft_id DESC LIMIT ?",
        [query, language, *params, limit * 3],
    )
    wanted = _content_words(text)
    out: list[tuple[str, str]] = []
    for r in rows:
        pair = (str(r["buyer_text"]), str(r["reply"]))
        if pair in out or pair[0] == exclude_message_text:
            continue
        # bm25 ranks any shared word; an example must share a real part of the question to help
        if wanted and len(wanted & _content_words(pair[0])) / len(wanted) < MIN_OVERLAP:
            continue
        out.append(pair)
    return out[:limit]


def _content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if len(w) >= 3 or not w.isascii()}


# --- draft cache -------------------------------------------------------------------------------


def save_score(store: Store, conversation_id: int, label: str, reasons: tuple[str, ...], now: datetime) -> None:
    """Keep the latest lead score of a conversation, for lists such as the digest's hot buyers."""
    store.db.execute(
        "INSERT INTO lead_scores (conversation_id, label, reasons, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(conversation_id) DO UPDATE SET label = excluded.label, reasons = excluded.reasons, "
        "updated_at = excluded.updated_at",
        [conversation_id, label, "; ".join(reasons), now.isoformat()],
    )


def cache_get(store: Store, key: str) -> str | None:
    row = store._one("SELECT result FROM draft_cache WHERE key = ?", [key])
    return str(row["result"]) if row else None


def cache_put(store: Store, key: str, result: str, now: datetime) -> None:
    store.db.execute("INSERT OR IGNORE INTO draft_cache (key, result, created_at) VALUES (?, ?, ?)",
                     [key, result, now.isoformat()])


# --- conversations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationRow:
    id: int
    contact: Contact
    stage: str
    owner: str | None
    last_inbound_at: datetime | None


def _conversation(r: sqlite3.Row) -> ConversationRow:
    contact = Contact(id=r["contact_id"], address=r["address"], phone=r["phone"], channel=r["channel"],
                      name=r["name"], country=r["country"], timezone=r["timezone"])
    last = r["last_inbound_at"]
    return ConversationRow(id=r["conv_id"], contact=contact, stage=r["stage"], owner=r["owner"],
                           last_inbound_at=datetime.fromisoformat(last) if last else None)


_CONV_SELECT = (
    "SELECT c.id AS conv_id, c.contact_id, c.stage, c.owner, c.last_inbound_at, k.address, k.phone, k.channel, "
    "k.name, k.country, k.timezone FROM conversations c JOIN contacts k ON k.id = c.contact_id"
)


def conversation(store: Store, conversation_id: int) -> ConversationRow | None:
    row = store._one(f"{_CONV_SELECT} WHERE c.id = ?", [conversation_id])
    return _conversation(row) if row else None


def find_conversations(store: Store, needle: str) -> list[ConversationRow]:
    """Conversations matching `needle` as every command reads a buyer (`Store.find_conversation_ids`)."""
    found = (conversation(store, i) for i in store.find_conversation_ids(needle))
    return [c for c in found if c is not None]


def conversations_for(store: Store, owner: str | None) -> list[ConversationRow]:
    """Every conversation, or those owned by `owner`."""
    if owner is None:
        rows = store._all(f"{_CONV_SELECT} ORDER BY c.id")
    else:
        rows = store._all(f"{_CONV_SELECT} WHERE lower(c.owner) = lower(?) ORDER BY c.id", [owner])
    return [_conversation(r) for r in rows]


def buyer_messages(store: Store, conversation_id: int, limit: int = 20) -> list[Message]:
    """The latest `limit` buyer messages of a conversation, oldest first."""
    rows = store._all("SELECT * FROM messages WHERE conversation_id = ? AND direction = 'in' "
                      "ORDER BY id DESC LIMIT ?", [conversation_id, limit])
    return [_message(r) for r in reversed(rows)]


def messages_after(store: Store, conversation_id: int, after_id: int) -> list[Message]:
    rows = store._all("SELECT * FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id",
                      [conversation_id, after_id])
    return [_message(r) for r in rows]


def last_buyer_message(store: Store, conversation_id: int) -> Message | None:
    row = store._one("SELECT * FROM messages WHERE conversation_id = ? AND direction = 'in' ORDER BY id DESC "
                     "LIMIT 1", [conversation_id])
    return _message(row) if row else None


def draft_intents(store: Store, conversation_id: int, limit: int) -> list[str]:
    """Intents the drafter gave the latest drafts of a conversation, oldest first."""
    rows = store._all("SELECT intent FROM drafts WHERE conversation_id = ? ORDER BY id DESC LIMIT ?",
                      [conversation_id, limit])
    return [str(r["intent"]) for r in reversed(rows)]


def next_draft_version(store: Store, message_id: int) -> int:
    row = store._one("SELECT COALESCE(MAX(version), 0) + 1 AS v FROM drafts WHERE message_id = ?", [message_id])
    return int(row["v"]) if row else 1


# --- running summaries -------------------------------------------------------------------------


@dataclass
class SummaryState:
    """Notes folded from messages older than the analysis window, up to `upto_message_id`."""

    upto_message_id: int = 0
    notes: list[str] = field(default_factory=list)
    folded: int = 0  # messages folded into the notes so far
    dropped: int = 0  # oldest notes dropped to keep the summary bounded
    model_summary: str | None = None


def load_summary(store: Store, conversation_id: int) -> SummaryState:
    row = store._one("SELECT * FROM conversation_summaries WHERE conversation_id = ?", [conversation_id])
    if row is None:
        return SummaryState()
    return SummaryState(upto_message_id=row["upto_message_id"], notes=list(json.loads(row["notes"])),
                        folded=row["folded"], dropped=row["dropped"], model_summary=row["model_summary"])


def save_summary(store: Store, conversation_id: int, state: SummaryState, now: datetime) -> None:
    store.db.execute(
        "INSERT INTO conversation_summaries (conversation_id, upto_message_id, notes, folded, dropped, "
        "model_summary, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(conversation_id) DO UPDATE SET "
        "upto_message_id = excluded.upto_message_id, notes = excluded.notes, folded = excluded.folded, "
        "dropped = excluded.dropped, model_summary = excluded.model_summary, updated_at = excluded.updated_at",
        [conversation_id, state.upto_message_id, json.dumps(state.notes, ensure_ascii=False), state.folded,
         state.dropped, state.model_summary, now.isoformat()],
    )


# --- company signals ---------------------------------------------------------------------------


def has_table(store: Store, name: str) -> bool:
    return store._one("SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", [name]) is not None


# --- draft outcomes ----------------------------------------------------------------------------

OUTCOMES: tuple[str, ...] = ("sent_unedited", "edited", "regenerated", "discarded", "superseded", "pending")


@dataclass(frozen=True)
class OutcomeCounts:
    """What happened to drafts decided since a moment (pending ones: created since)."""

    counts: dict[str, int]
    edit_distances: tuple[int, ...]  # characters changed, one per edited draft
    edit_ratios: tuple[float, ...]  # difflib similarity of sent text to draft, one per edited draft

    @property
    def decided(self) -> int:
        return sum(n for k, n in self.counts.items() if k not in ("pending", "superseded"))

    @property
    def sent(self) -> int:
        return self.counts["sent_unedited"] + self.counts["edited"]

    @property
    def unedited_rate(self) -> float | None:
        """Share of sent drafts that went out exactly as drafted; None when nothing was sent."""
        return self.counts["sent_unedited"] / self.sent if self.sent else None

    @property
    def mean_edit_distance(self) -> float | None:
        return sum(self.edit_distances) / len(self.edit_distances) if self.edit_distances else None


def edit_size(draft: str, sent: str) -> tuple[int, float]:
    """(characters inserted, deleted or replaced, difflib similarity ratio) between draft and sent text."""
    matcher = difflib.SequenceMatcher(None, draft, sent, autojunk=False)
    distance = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")
    return distance, round(matcher.ratio(), 4)


def outcome_counts(store: Store, since: datetime, rep: str | None = None) -> OutcomeCounts:
    """Draft outcomes since `since`, for one rep's conversations (by owner) or everyone's."""
    sql = ("SELECT outcome, text, sent_text FROM draft_outcomes "
           "WHERE COALESCE(decided_at, created_at) >= ?")
    params: list[object] = [since.isoformat()]
    if rep is not None:
        sql += " AND lower(owner) = lower(?)"
        params.append(rep)
    counts = dict.fromkeys(OUTCOMES, 0)
    distances: list[int] = []
    ratios: list[float] = []
    for row in store._all(sql, params):
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
        if row["outcome"] == "edited":
            distance, ratio = edit_size(row["text"], row["sent_text"])
            distances.append(distance)
            ratios.append(ratio)
    return OutcomeCounts(counts, tuple(distances), tuple(ratios))
