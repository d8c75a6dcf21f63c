"""The digest's SQL: the lists a rep acts on, the numbers a manager watches, the sent-digest ledger.

Every function takes a `Store` and an `owner` (a rep's name, or None for the whole team) and reads
through the indexes added by `m_digest`. Tables that other features add (follow_ups, lead_scores)
are read only when they exist and have the columns named here; otherwise the function returns
None and the digest says "—" rather than guessing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.store import Store

# Lifecycle stages at or beyond a step of the funnel (new → quoted → ordered).
QUOTED_OR_LATER = ("quoted", "sample", "negotiating", "ordered", "won")
ORDERED_OR_LATER = ("ordered", "won")
FAILED_STATES = ("failed", "undelivered", "refused")
_DONE_FOLLOW_UP = ("presented", "sent", "done", "skipped", "cancelled", "canceled", "stopped", "paused")


@dataclass(frozen=True)
class BuyerRow:
    """One buyer line in a digest list; `at` is the time that matters for the list it is in."""

    conversation_id: int
    name: str | None
    phone: str
    channel: str
    at: datetime
    card_ref: str | None = None
    draft_id: int | None = None
    note: str = ""  # list-specific: an error code or message, a score's reasons
    owner: str | None = None


@dataclass(frozen=True)
class Listing:
    total: int
    rows: tuple[BuyerRow, ...]


@dataclass(frozen=True)
class Numbers:
    """The period's results for one scope."""

    days: int
    messages_in: int
    replies_sent: int
    reply_seconds: tuple[float, ...]  # buyer message -> approved reply, one per sent draft
    actions: dict[str, Counter[str]]  # actor -> {"send"|"edit"|"regenerate"|"discard"|"auto": n}
    playbooks: dict[str, Counter[str]] | None  # None: drafts carry no playbook on this install
    funnel: tuple[int, int, int]  # new, entered quoted (or later), entered ordered (or won)
    reply_by_day: dict[str, list[float]] = field(default_factory=dict)  # ISO date (UTC) -> seconds


def _ts(value: datetime) -> str:
    # Stored times are UTC isoformat strings: compare like with like.
    return value.astimezone(UTC).isoformat()


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _owner(owner: str | None, alias: str = "c") -> tuple[str, list[Any]]:
    return (f" AND {alias}.owner = ?", [owner]) if owner is not None else ("", [])


def _columns(store: Store, table: str) -> set[str]:
    t = store.db.table(table)
    return set(t.columns_dict) if t.exists() else set()


def _listing(store: Store, select: str, source: str, order: str, params: list[Any], limit: int,
             row: Any) -> Listing:
    """Count `source` (FROM ... WHERE ...) lean, then read the first `limit` rows with their columns:
    the per-row subqueries in `select` (card links) run for the rows shown only."""
    total = store.db.execute(f"SELECT COUNT(*) {source}", params).fetchone()[0]
    rows = store.db.execute(f"SELECT {select} {source} ORDER BY {order} LIMIT ?", [*params, limit]).fetchall()
    return Listing(int(total), tuple(row(r) for r in rows))


_BUYER = "k.name, k.phone, k.channel, c.id AS conversation_id, c.owner"
_LAST_CARD = ("(SELECT card_ref FROM drafts d2 WHERE d2.conversation_id = c.id AND d2.card_ref IS NOT NULL "
              "ORDER BY d2.id DESC LIMIT 1) AS card_ref, "
              "(SELECT d3.id FROM drafts d3 WHERE d3.conversation_id = c.id ORDER BY d3.id DESC LIMIT 1) AS draft_id")


def _buyer(r: Any, *, at: str = "at", note: str = "") -> BuyerRow:
    keys = r.keys()
    return BuyerRow(conversation_id=r["conversation_id"], name=r["name"], phone=r["phone"], channel=r["channel"],
                    at=_dt(r[at]), card_ref=r["card_ref"] if "card_ref" in keys else None,
                    draft_id=r["draft_id"] if "draft_id" in keys else None,
                    note=note or (str(r["note"]) if "note" in keys and r["note"] is not None else ""),
                    owner=r["owner"])


# -- what to act on ---------------------------------------------------------------------------------


def new_inquiries(store: Store, owner: str | None, since: datetime, until: datetime, limit: int = 8) -> Listing:
    """Buyers whose first message arrived in [since, until], newest first."""
    where, params = _owner(owner)
    source = (f"FROM conversations c JOIN contacts k ON k.id = c.contact_id "
              f"WHERE c.created_at >= ? AND c.created_at <= ?{where}")
    return _listing(store, f"{_BUYER}, c.created_at AS at, {_LAST_CARD}", source, "c.created_at DESC",
                    [_ts(since), _ts(until), *params], limit, _buyer)


def waiting_cards(store: Store, owner: str | None, limit: int = 8) -> Listing:
    """Drafts still waiting for the rep's tap, oldest first."""
    where, params = _owner(owner)
    source = ("FROM drafts d JOIN conversations c ON c.id = d.conversation_id JOIN contacts k ON k.id = c.contact_id "
              f"WHERE d.state = 'pending'{where}")
    return _listing(store, f"{_BUYER}, d.created_at AS at, d.card_ref, d.id AS draft_id", source, "d.created_at",
                    params, limit, _buyer)


def windows_closing(store: Store, owner: str | None, now: datetime, hours: float, limit: int = 8) -> Listing:
    """WhatsApp buyers whose 24-hour free-form window closes within `hours`; `at` is when it closes."""
    where, params = _owner(owner)
    lo, hi = now - timedelta(hours=24), now - timedelta(hours=24) + timedelta(hours=hours)
    select = (f"{_BUYER}, c.last_inbound_at AS at, {_LAST_CARD}, "
              "CASE WHEN EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.at > c.last_inbound_at "
              "AND +m.direction = 'out') THEN 'answered' ELSE 'unanswered' END AS note")  # + : seek by conversation
    source = ("FROM conversations c JOIN contacts k ON k.id = c.contact_id "
              f"WHERE c.last_inbound_at > ? AND c.last_inbound_at <= ? AND k.channel = 'whatsapp'{where}")

    def row(r: Any) -> BuyerRow:
        b = _buyer(r)
        return BuyerRow(**{**b.__dict__, "at": b.at + timedelta(hours=24)})

    return _listing(store, select, source, "c.last_inbound_at", [_ts(lo), _ts(hi), *params], limit, row)


def failed_deliveries(store: Store, owner: str | None, since: datetime, limit: int = 8) -> Listing:
    """Replies the provider refused or could not deliver since `since`, newest first."""
    where, params = _owner(owner)
    marks = ", ".join("?" for _ in FAILED_STATES)
    select = (f"{_BUYER}, o.updated_at AS at, d.card_ref, d.id AS draft_id, "
              "COALESCE(o.error_code, '') AS error_code, COALESCE(o.error_message, '') AS error_message")
    source = ("FROM outbox o JOIN drafts d ON d.id = o.draft_id JOIN conversations c ON c.id = d.conversation_id "
              f"JOIN contacts k ON k.id = c.contact_id WHERE o.state IN ({marks}) AND o.updated_at >= ?{where}")

    def row(r: Any) -> BuyerRow:
        note = r["error_code"] or r["error_message"] or "failed"
        return _buyer(r, note=note)

    return _listing(store, select, source, "o.updated_at DESC", [*FAILED_STATES, _ts(since), *params], limit, row)


def silent_after_quote(store: Store, owner: str | None, now: datetime, days: int, limit: int = 8) -> Listing:
    """Buyers quoted more than `days` ago who have not written since the quote; `at` is the quote."""
    where, params = _owner(owner)
    source = ("FROM conversations c JOIN contacts k ON k.id = c.contact_id WHERE c.stage = 'quoted' "
              "AND c.stage_changed_at < ? "
              f"AND (c.last_inbound_at IS NULL OR c.last_inbound_at < c.stage_changed_at){where}")
    return _listing(store, f"{_BUYER}, c.stage_changed_at AS at, {_LAST_CARD}", source, "c.stage_changed_at",
                    [_ts(now - timedelta(days=days)), *params], limit, _buyer)


def follow_ups_due(store: Store, owner: str | None, start: datetime, end: datetime,
                   limit: int = 8) -> Listing | None:
    """Follow-ups due in [start, end); None when this install has no follow_ups table (yet)."""
    cols = _columns(store, "follow_ups")
    if not {"due_at", "conversation_id"} <= cols:
        return None
    where, params = _owner(owner)
    state = next((c for c in ("state", "status") if c in cols), None)
    open_only = ""
    if state:
        open_only = f" AND f.{state} NOT IN ({', '.join('?' for _ in _DONE_FOLLOW_UP)})"
        params = [*_DONE_FOLLOW_UP, *params]
    source = ("FROM follow_ups f JOIN conversations c ON c.id = f.conversation_id "
              f"JOIN contacts k ON k.id = c.contact_id WHERE f.due_at >= ? AND f.due_at < ?{open_only}{where}")
    return _listing(store, f"{_BUYER}, f.due_at AS at, {_LAST_CARD}", source, "f.due_at",
                    [_ts(start), _ts(end), *params], limit, _buyer)


def hot_buyers(store: Store, owner: str | None, limit: int = 8, since: datetime | None = None) -> Listing | None:
    """Buyers scored hot; None when this install has no lead_scores table (yet).

    Reads `lead_scores(conversation_id | contact_id, label, reasons?, updated_at | at?)`.
    """
    cols = _columns(store, "lead_scores")
    key = next((k for k in ("conversation_id", "contact_id") if k in cols), None)
    if key is None or "label" not in cols:
        return None
    on = "s.conversation_id = c.id" if key == "conversation_id" else "s.contact_id = c.contact_id"
    reasons = "s.reasons" if "reasons" in cols else "''"
    at = next((f"s.{a}" for a in ("updated_at", "at", "scored_at") if a in cols), "c.updated_at")
    where, params = _owner(owner)
    if since is not None and at != "c.updated_at":  # a score is as fresh as the card it was computed for
        where += f" AND {at} >= ?"
        params = [*params, _ts(since)]
    source = (f"FROM lead_scores s JOIN conversations c ON {on} JOIN contacts k ON k.id = c.contact_id "
              f"WHERE s.label = 'hot'{where}")
    return _listing(store, f"{_BUYER}, {at} AS at, {reasons} AS note, {_LAST_CARD}", source, f"{at} DESC",
                    params, limit, _buyer)


# -- the numbers ------------------------------------------------------------------------------------


def numbers(store: Store, owner: str | None, now: datetime, days: int) -> Numbers:
    return periods(store, owner, now, (days,))[0]


def periods(store: Store, owner: str | None, now: datetime, lengths: tuple[int, ...]) -> tuple[Numbers, ...]:
    """The numbers for each period ending `now` (e.g. 7 and 30 days), read in one pass per table."""
    starts = [_ts(now - timedelta(days=d)) for d in lengths]
    since, until = min(starts), _ts(now)
    where, params = _owner(owner)
    # Sums of "is inside period n" per row: one scan of the longest period answers every period.
    inside = ", ".join(f"SUM(%s >= '{start}')" for start in starts)

    # A rep's view walks their conversations first (CROSS JOIN fixes that order) and seeks each one's
    # rows in the period; the team's view reads the period's range of a time index with no join.
    if owner is not None:
        messages = "FROM conversations c CROSS JOIN messages m ON m.conversation_id = c.id"
        drafts = "FROM conversations c CROSS JOIN drafts d ON d.conversation_id = c.id"
    else:
        messages, drafts = "FROM messages m", "FROM drafts d"
    counts = {row[0]: row[1:] for row in store.db.execute(
        f"SELECT m.direction, {inside % tuple('m.at' for _ in starts)} {messages} "
        f"WHERE m.direction IN ('in', 'out') AND m.at >= ? AND m.at <= ?{where} GROUP BY m.direction",
        [since, until, *params]).fetchall()}

    replies = store.db.execute(
        f"SELECT d.decided_at, (julianday(d.decided_at) - julianday(d.message_at)) * 86400.0 {drafts} "
        f"WHERE +d.state = 'sent' AND d.decided_at >= ? AND d.decided_at <= ?{where}",  # + : by time
        [since, until, *params]).fetchall()

    # Each draft carries a copy of its one decision (m_digest_outcomes), read from the same index.
    playbook = "playbook" in _columns(store, "drafts")
    kind = ("CASE WHEN d.decision_action = 'send' AND COALESCE(d.decision_policy, 'manual') != 'manual' "
            "THEN 'auto' ELSE d.decision_action END")
    decided = store.db.execute(
        f"SELECT d.decided_by, {kind}, {'d.playbook' if playbook else 'NULL'}, "
        f"{inside % tuple('d.decided_at' for _ in starts)} {drafts} "
        "WHERE d.decided_at >= ? AND d.decided_at <= ? AND d.decision_action IS NOT NULL "
        f"AND NOT (d.decided_by LIKE 'system:%' AND d.decision_action = 'discard'){where} GROUP BY 1, 2, 3",
        [since, until, *params]).fetchall()

    funnels = _funnel(store, owner, starts, until)
    out = []
    for n, (length, start) in enumerate(zip(lengths, starts, strict=True)):
        by_day: dict[str, list[float]] = {}
        for at, seconds in replies:
            if at >= start:
                by_day.setdefault(at[:10], []).append(max(0.0, float(seconds)))
        actions: dict[str, Counter[str]] = {}
        playbooks: dict[str, Counter[str]] | None = {} if playbook else None
        for actor, what, book, *counts_in in decided:
            if counts_in[n]:
                actions.setdefault(actor, Counter())[what] += counts_in[n]
                if playbooks is not None:
                    playbooks.setdefault(book or "(none)", Counter())[what] += counts_in[n]
        out.append(Numbers(
            days=length, messages_in=int(counts.get("in", [0] * len(starts))[n] or 0),
            replies_sent=int(counts.get("out", [0] * len(starts))[n] or 0),
            reply_seconds=tuple(x for day in by_day.values() for x in day), actions=actions, playbooks=playbooks,
            funnel=funnels[n], reply_by_day=by_day))
    return tuple(out)


def _funnel(store: Store, owner: str | None, starts: list[str], until: str) -> list[tuple[int, int, int]]:
    """For each period: buyers who first wrote in it, and buyers who entered quoted (or later) and
    ordered (or won) in it, from the lifecycle's stage_changes audit."""
    where, params = _owner(owner)
    since = min(starts)
    news = ", ".join(f"SUM(c.created_at >= '{s}')" for s in starts)
    row = store.db.execute(f"SELECT {news} FROM conversations c WHERE c.created_at >= ? AND c.created_at <= ?"
                           f"{where}", [since, until, *params]).fetchone()
    new = [int(row[n] or 0) for n in range(len(starts))]
    quoted = ", ".join(f"'{s}'" for s in QUOTED_OR_LATER)
    ordered = ", ".join(f"'{s}'" for s in ORDERED_OR_LATER)
    entered = ", ".join(f"COUNT(DISTINCT CASE WHEN s.at >= '{st}' AND s.to_stage IN ({stages}) "
                        "THEN s.conversation_id END)" for st in starts for stages in (quoted, ordered))
    row = store.db.execute(
        f"SELECT {entered} FROM stage_changes s JOIN conversations c ON c.id = s.conversation_id "
        f"WHERE s.at >= ? AND s.at <= ?{where}", [since, until, *params]).fetchone()
    return [(new[n], int(row[2 * n]), int(row[2 * n + 1])) for n in range(len(starts))]


def database_file(store: Store) -> str:
    """The store's file, or "" for an in-memory database."""
    row = store.db.execute("PRAGMA database_list").fetchone()
    return str(row[2] or "")


# -- the ledger of sent digests ---------------------------------------------------------------------


def claim_digest(store: Store, rep: str, local_date: str, now: datetime) -> bool:
    """True for the first claim of (rep, local date); a second scheduled run the same day gets False."""
    cur = store.db.execute("INSERT OR IGNORE INTO digest_sent (rep, local_date, at) VALUES (?, ?, ?)",
                           [rep, local_date, _ts(now)])
    return cur.rowcount == 1


def release_digest(store: Store, rep: str, local_date: str) -> None:
    """Undo a claim whose delivery failed, so a later run that day may try again."""
    store.db.execute("DELETE FROM digest_sent WHERE rep = ? AND local_date = ?", [rep, local_date])
