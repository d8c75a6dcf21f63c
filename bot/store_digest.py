"""The digest's SQL: the lists a rep acts on, the numbers a manager watches, the sent-digest ledger.

Every function takes a `Store` and an `owner` (a rep's name, or None for the whole team) and reads
through the indexes added by `m_digest`. Tables that other features add (follow_ups, lead_scores,
stage_changes) are read only when they exist and have the columns named here; otherwise the
function returns None and the digest says "—" rather than guessing.
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
_DONE_FOLLOW_UP = ("sent", "done", "skipped", "cancelled", "canceled", "stopped", "paused")


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
    funnel: tuple[int, int, int]  # new, quoted, ordered
    funnel_basis: str  # "stage_changes" or "current_stage"
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


def _listing(store: Store, sql: str, params: list[Any], limit: int, row: Any) -> Listing:
    """Run `sql` (a SELECT whose rows `row` maps to BuyerRow) once for the count and once for the rows."""
    total = store.db.execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()[0]
    rows = store.db.execute(f"{sql} LIMIT ?", [*params, limit]).fetchall()
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
    """Buyers whose first message arrived in [since, until), newest first."""
    where, params = _owner(owner)
    sql = (f"SELECT {_BUYER}, c.created_at AS at, {_LAST_CARD} FROM conversations c "
           f"JOIN contacts k ON k.id = c.contact_id WHERE c.created_at >= ? AND c.created_at < ?{where} "
           "ORDER BY c.created_at DESC")
    return _listing(store, sql, [_ts(since), _ts(until), *params], limit, _buyer)


def waiting_cards(store: Store, owner: str | None, limit: int = 8) -> Listing:
    """Drafts still waiting for the rep's tap, oldest first."""
    where, params = _owner(owner)
    sql = (f"SELECT {_BUYER}, d.created_at AS at, d.card_ref, d.id AS draft_id FROM drafts d "
           "JOIN conversations c ON c.id = d.conversation_id JOIN contacts k ON k.id = c.contact_id "
           f"WHERE d.state = 'pending'{where} ORDER BY d.created_at")
    return _listing(store, sql, params, limit, _buyer)


def windows_closing(store: Store, owner: str | None, now: datetime, hours: float, limit: int = 8) -> Listing:
    """WhatsApp buyers whose 24-hour free-form window closes within `hours`; `at` is when it closes."""
    where, params = _owner(owner)
    lo, hi = now - timedelta(hours=24), now - timedelta(hours=24) + timedelta(hours=hours)
    sql = (f"SELECT {_BUYER}, c.last_inbound_at AS at, {_LAST_CARD}, "
           "CASE WHEN EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'out' "
           "AND m.at > c.last_inbound_at) THEN 'answered' ELSE 'unanswered' END AS note "
           "FROM conversations c JOIN contacts k ON k.id = c.contact_id "
           f"WHERE c.last_inbound_at > ? AND c.last_inbound_at <= ? AND k.channel = 'whatsapp'{where} "
           "ORDER BY c.last_inbound_at")

    def row(r: Any) -> BuyerRow:
        b = _buyer(r)
        return BuyerRow(**{**b.__dict__, "at": b.at + timedelta(hours=24)})

    return _listing(store, sql, [_ts(lo), _ts(hi), *params], limit, row)


def failed_deliveries(store: Store, owner: str | None, since: datetime, limit: int = 8) -> Listing:
    """Replies the provider refused or could not deliver since `since`, newest first."""
    where, params = _owner(owner)
    marks = ", ".join("?" for _ in FAILED_STATES)
    sql = (f"SELECT {_BUYER}, o.updated_at AS at, d.card_ref, d.id AS draft_id, "
           "COALESCE(o.error_code, '') AS error_code, COALESCE(o.error_message, '') AS error_message FROM outbox o "
           "JOIN drafts d ON d.id = o.draft_id JOIN conversations c ON c.id = d.conversation_id "
           f"JOIN contacts k ON k.id = c.contact_id WHERE o.state IN ({marks}) AND o.updated_at >= ?{where} "
           "ORDER BY o.updated_at DESC")

    def row(r: Any) -> BuyerRow:
        note = r["error_code"] or r["error_message"] or "failed"
        return _buyer(r, note=note)

    return _listing(store, sql, [*FAILED_STATES, _ts(since), *params], limit, row)


def silent_after_quote(store: Store, owner: str | None, now: datetime, days: int, limit: int = 8) -> Listing:
    """Buyers quoted more than `days` ago who have not written since the quote; `at` is the quote."""
    where, params = _owner(owner)
    sql = (f"SELECT {_BUYER}, c.stage_changed_at AS at, {_LAST_CARD} FROM conversations c "
           "JOIN contacts k ON k.id = c.contact_id WHERE c.stage = 'quoted' AND c.stage_changed_at < ? "
           f"AND (c.last_inbound_at IS NULL OR c.last_inbound_at < c.stage_changed_at){where} "
           "ORDER BY c.stage_changed_at")
    return _listing(store, sql, [_ts(now - timedelta(days=days)), *params], limit, _buyer)


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
    sql = (f"SELECT {_BUYER}, f.due_at AS at, {_LAST_CARD} FROM follow_ups f "
           "JOIN conversations c ON c.id = f.conversation_id JOIN contacts k ON k.id = c.contact_id "
           f"WHERE f.due_at >= ? AND f.due_at < ?{open_only}{where} ORDER BY f.due_at")
    return _listing(store, sql, [_ts(start), _ts(end), *params], limit, _buyer)


def hot_buyers(store: Store, owner: str | None, limit: int = 8) -> Listing | None:
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
    sql = (f"SELECT {_BUYER}, {at} AS at, {reasons} AS note, {_LAST_CARD} FROM lead_scores s "
           f"JOIN conversations c ON {on} JOIN contacts k ON k.id = c.contact_id "
           f"WHERE s.label = 'hot'{where} ORDER BY {at} DESC")
    return _listing(store, sql, params, limit, _buyer)


# -- the numbers ------------------------------------------------------------------------------------


def numbers(store: Store, owner: str | None, now: datetime, days: int) -> Numbers:
    since = _ts(now - timedelta(days=days))
    until = _ts(now)
    where, params = _owner(owner)
    counts = dict(store.db.execute(
        "SELECT m.direction, COUNT(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        f"WHERE m.direction IN ('in', 'out') AND m.at >= ? AND m.at < ?{where} GROUP BY m.direction",
        [since, until, *params]).fetchall())

    reply_rows = store.db.execute(
        "SELECT d.decided_at, (julianday(d.decided_at) - julianday(m.at)) * 86400.0 FROM drafts d "
        "JOIN messages m ON m.id = d.message_id JOIN conversations c ON c.id = d.conversation_id "
        f"WHERE d.decided_at >= ? AND d.decided_at < ? AND d.state = 'sent' AND m.direction = 'in'{where}",
        [since, until, *params]).fetchall()
    by_day: dict[str, list[float]] = {}
    for decided, seconds in reply_rows:
        by_day.setdefault(decided[:10], []).append(max(0.0, float(seconds)))

    playbook = "playbook" in _columns(store, "drafts")
    actions: dict[str, Counter[str]] = {}
    playbooks: dict[str, Counter[str]] | None = {} if playbook else None
    rows = store.db.execute(
        f"SELECT e.actor, e.surface, e.action, e.policy, {'d.playbook' if playbook else 'NULL'} FROM decisions e "
        "JOIN drafts d ON d.id = e.draft_id JOIN conversations c ON c.id = d.conversation_id "
        f"WHERE e.at >= ? AND e.at < ? AND NOT (e.surface = 'system' AND e.action = 'discard'){where}",
        [since, until, *params]).fetchall()
    for actor, surface, action, policy, book in rows:
        kind = "auto" if action == "send" and policy not in (None, "manual") else action
        actions.setdefault(f"{surface}:{actor}", Counter())[kind] += 1
        if playbooks is not None:
            playbooks.setdefault(book or "(none)", Counter())[kind] += 1

    funnel, basis = _funnel(store, owner, since, until)
    return Numbers(days=days, messages_in=int(counts.get("in", 0)), replies_sent=int(counts.get("out", 0)),
                   reply_seconds=tuple(s for day in by_day.values() for s in day), actions=actions,
                   playbooks=playbooks, funnel=funnel, funnel_basis=basis, reply_by_day=by_day)


def _funnel(store: Store, owner: str | None, since: str, until: str) -> tuple[tuple[int, int, int], str]:
    """New buyers in the period, and how many reached quoted and ordered.

    With a `stage_changes(conversation_id, to_stage | stage, at | changed_at)` table, quoted/ordered
    count buyers who entered those stages in the period; without it, the buyers who first wrote in
    the period are counted by the stage they are at now (a cohort view).
    """
    where, params = _owner(owner)
    new = store.db.execute(f"SELECT COUNT(*) FROM conversations c WHERE c.created_at >= ? AND c.created_at < ?"
                           f"{where}", [since, until, *params]).fetchone()[0]
    cols = _columns(store, "stage_changes")
    to = next((c for c in ("to_stage", "stage") if c in cols), None)
    at = next((c for c in ("at", "changed_at") if c in cols), None)
    if "conversation_id" in cols and to and at:
        def entered(stages: tuple[str, ...]) -> int:
            marks = ", ".join("?" for _ in stages)
            return int(store.db.execute(
                "SELECT COUNT(DISTINCT s.conversation_id) FROM stage_changes s JOIN conversations c "
                f"ON c.id = s.conversation_id WHERE s.{to} IN ({marks}) AND s.{at} >= ? AND s.{at} < ?{where}",
                [*stages, since, until, *params]).fetchone()[0])

        return (int(new), entered(QUOTED_OR_LATER), entered(ORDERED_OR_LATER)), "stage_changes"

    def cohort(stages: tuple[str, ...]) -> int:
        marks = ", ".join("?" for _ in stages)
        return int(store.db.execute(
            f"SELECT COUNT(*) FROM conversations c WHERE c.created_at >= ? AND c.created_at < ? "
            f"AND c.stage IN ({marks}){where}", [since, until, *stages, *params]).fetchone()[0])

    return (int(new), cohort(QUOTED_OR_LATER), cohort(ORDERED_OR_LATER)), "current_stage"


# -- the ledger of sent digests ---------------------------------------------------------------------


def claim_digest(store: Store, rep: str, local_date: str, now: datetime) -> bool:
    """True for the first claim of (rep, local date); a second scheduled run the same day gets False."""
    cur = store.db.execute("INSERT OR IGNORE INTO digest_sent (rep, local_date, at) VALUES (?, ?, ?)",
                           [rep, local_date, _ts(now)])
    return cur.rowcount == 1


def release_digest(store: Store, rep: str, local_date: str) -> None:
    """Undo a claim whose delivery failed, so a later run that day may try again."""
    store.db.execute("DELETE FROM digest_sent WHERE rep = ? AND local_date = ?", [rep, local_date])
