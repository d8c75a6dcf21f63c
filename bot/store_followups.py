"""SQL for follow-ups: enrollments, follow-up rows, rep pauses and buyer opt-outs.

Functions take the one `Store` (its connection, its single writer). Exactly-once rests on SQLite:
an enrollment is UNIQUE per (conversation, playbook, trigger instance), and a due row is taken
by one conditional UPDATE (pending -> claimed), so two ticks or a restart cannot fire it twice.
Times are stored as UTC ISO strings, which sort in time order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.models import Enrollment, FollowUp
from bot.store import Store


def ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _enrollment(r: sqlite3.Row) -> Enrollment:
    anchor = _dt(r["anchor_at"])
    assert anchor is not None
    return Enrollment(id=r["id"], conversation_id=r["conversation_id"], playbook=r["playbook"],
                      trigger_key=r["trigger_key"], trigger_type=r["trigger_type"], stage=r["stage"],
                      anchor_at=anchor, state=r["state"], stop_reason=r["stop_reason"])


def _follow_up(r: sqlite3.Row) -> FollowUp:
    due = _dt(r["due_at"])
    assert due is not None
    return FollowUp(id=r["id"], enrollment_id=r["enrollment_id"], conversation_id=r["conversation_id"],
                    step=r["step"], due_at=due, state=r["state"], claimed_at=_dt(r["claimed_at"]),
                    draft_id=r["draft_id"], note=r["note"])


# -- enrollments ------------------------------------------------------------------------

def enroll(store: Store, conversation_id: int, playbook: str, trigger_key: str, trigger_type: str,
           stage: str | None, anchor: datetime, due_times: Sequence[datetime], now: datetime,
           actor: str | None = None) -> int | None:
    """Create the enrollment and one follow-up row per step; None if this trigger instance is enrolled."""
    with store.transaction():
        cur = store.db.execute(
            "INSERT OR IGNORE INTO enrollments (conversation_id, playbook, trigger_key, trigger_type, stage, "
            "anchor_at, actor, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [conversation_id, playbook, trigger_key, trigger_type, stage, ts(anchor), actor, ts(now), ts(now)],
        )
        if cur.rowcount != 1:
            return None
        enrollment_id = int(cur.lastrowid or 0)
        store.db.conn.executemany(
            "INSERT INTO follow_ups (enrollment_id, conversation_id, step, due_at) VALUES (?, ?, ?, ?)",
            [(enrollment_id, conversation_id, n, ts(due)) for n, due in enumerate(due_times)],
        )
    return enrollment_id


def enrollment(store: Store, enrollment_id: int) -> Enrollment:
    row = store.db.execute("SELECT * FROM enrollments WHERE id = ?", [enrollment_id]).fetchone()
    if row is None:
        raise KeyError(f"no enrollment {enrollment_id}")
    return _enrollment(row)


def active_enrollments(store: Store, conversation_id: int) -> list[Enrollment]:
    rows = store.db.execute("SELECT * FROM enrollments WHERE conversation_id = ? AND state = 'active' ORDER BY id",
                            [conversation_id]).fetchall()
    return [_enrollment(r) for r in rows]


def stop_enrollment(store: Store, enrollment_id: int, reason: str, now: datetime) -> int:
    """Stop an active enrollment and cancel its pending rows; return how many rows were cancelled."""
    with store.transaction():
        cur = store.db.execute(
            "UPDATE enrollments SET state = 'stopped', stop_reason = ?, updated_at = ? "
            "WHERE id = ? AND state = 'active'",
            [reason, ts(now), enrollment_id],
        )
        if cur.rowcount != 1:
            return 0
        cancelled = store.db.execute(
            "UPDATE follow_ups SET state = 'cancelled', done_at = ?, note = ? WHERE enrollment_id = ? "
            "AND state = 'pending'",
            [ts(now), reason, enrollment_id],
        )
    return cancelled.rowcount


def finish_if_done(store: Store, enrollment_id: int, now: datetime) -> None:
    store.db.execute(
        "UPDATE enrollments SET state = 'done', updated_at = ? WHERE id = ? AND state = 'active' AND NOT EXISTS "
        "(SELECT 1 FROM follow_ups WHERE enrollment_id = ? AND state IN ('pending', 'claimed'))",
        [ts(now), enrollment_id, enrollment_id],
    )


# -- follow-up rows ----------------------------------------------------------------------

def due_ids(store: Store, now: datetime, limit: int) -> list[int]:
    """Pending rows due by `now`, oldest first, skipping paused conversations."""
    rows = store.db.execute(
        "SELECT id FROM follow_ups WHERE state = 'pending' AND due_at <= ? AND conversation_id NOT IN "
        "(SELECT conversation_id FROM followup_pauses) ORDER BY due_at LIMIT ?",
        [ts(now), limit],
    ).fetchall()
    return [int(r[0]) for r in rows]


def claim(store: Store, follow_up_id: int, now: datetime) -> bool:
    """pending -> claimed, once: the winner alone drafts and presents this follow-up."""
    cur = store.db.execute(
        "UPDATE follow_ups SET state = 'claimed', claimed_at = ? WHERE id = ? AND state = 'pending'",
        [ts(now), follow_up_id],
    )
    return cur.rowcount == 1


def follow_up(store: Store, follow_up_id: int) -> FollowUp:
    row = store.db.execute("SELECT * FROM follow_ups WHERE id = ?", [follow_up_id]).fetchone()
    if row is None:
        raise KeyError(f"no follow-up {follow_up_id}")
    return _follow_up(row)


def link_draft(store: Store, follow_up_id: int, draft_id: int) -> None:
    store.db.execute("UPDATE follow_ups SET draft_id = ? WHERE id = ?", [draft_id, follow_up_id])


def finish(store: Store, follow_up_id: int, state: str, now: datetime, note: str | None = None) -> None:
    """claimed -> presented | cancelled."""
    store.db.execute(
        "UPDATE follow_ups SET state = ?, done_at = ?, note = COALESCE(?, note) WHERE id = ? AND state = 'claimed'",
        [state, ts(now), note, follow_up_id],
    )


def stale_claims(store: Store, before: datetime) -> list[int]:
    """Rows a process claimed and never finished (it stopped mid-way)."""
    rows = store.db.execute("SELECT id FROM follow_ups WHERE state = 'claimed' AND claimed_at < ? ORDER BY claimed_at",
                            [ts(before)]).fetchall()
    return [int(r[0]) for r in rows]


def unlinked_draft_since(store: Store, conversation_id: int, since: datetime) -> int | None:
    """A draft written for this conversation after `since` that no follow-up owns yet (crash recovery)."""
    rows = store.db.execute(
        "SELECT id, created_at FROM drafts d WHERE conversation_id = ? AND NOT EXISTS "
        "(SELECT 1 FROM follow_ups f WHERE f.draft_id = d.id) ORDER BY id DESC LIMIT 5",
        [conversation_id],
    ).fetchall()
    for row in rows:
        created = _dt(row["created_at"])
        if created is not None and created >= since:
            return int(row["id"])
    return None


def annotate_draft(store: Store, draft_id: int, note: str, playbook: str | None = None) -> None:
    """Put the follow-up's note (which playbook, 'was due at …') on the draft's card, and record the
    playbook so the digest can show draft outcomes per playbook."""
    store.db.execute(
        "UPDATE drafts SET notice = CASE WHEN notice IS NULL OR notice = '' THEN ? ELSE ? || ' ' || notice END, "
        "playbook = COALESCE(?, playbook) WHERE id = ?",
        [note, note, playbook, draft_id],
    )


def reschedule(store: Store, follow_up_id: int, due: datetime) -> bool:
    cur = store.db.execute("UPDATE follow_ups SET due_at = ? WHERE id = ? AND state = 'pending'",
                           [ts(due), follow_up_id])
    return cur.rowcount == 1


def skip(store: Store, follow_up_id: int, actor: str, now: datetime) -> bool:
    cur = store.db.execute(
        "UPDATE follow_ups SET state = 'skipped', done_at = ?, note = ? WHERE id = ? AND state = 'pending'",
        [ts(now), f"skipped by {actor}", follow_up_id],
    )
    return cur.rowcount == 1


def pending_count(store: Store) -> int:
    return int(store.db.execute("SELECT COUNT(*) FROM follow_ups WHERE state = 'pending'").fetchone()[0])


@dataclass(frozen=True)
class Upcoming:
    follow_up: FollowUp
    playbook: str
    buyer: str
    paused: bool


def upcoming(store: Store, until: datetime, limit: int) -> list[Upcoming]:
    rows = store.db.execute(
        "SELECT f.*, e.playbook, COALESCE(c.name, c.phone) AS buyer, "
        "EXISTS (SELECT 1 FROM followup_pauses p WHERE p.conversation_id = f.conversation_id) AS paused "
        "FROM follow_ups f JOIN enrollments e ON e.id = f.enrollment_id "
        "JOIN conversations v ON v.id = f.conversation_id JOIN contacts c ON c.id = v.contact_id "
        "WHERE f.state = 'pending' AND f.due_at <= ? ORDER BY f.due_at LIMIT ?",
        [ts(until), limit],
    ).fetchall()
    return [Upcoming(_follow_up(r), r["playbook"], r["buyer"], bool(r["paused"])) for r in rows]


# -- conversations as the follow-up engine sees them ----------------------------------------

@dataclass(frozen=True)
class ConversationView:
    id: int
    contact_id: int
    stage: str
    owner: str | None
    timezone: str | None
    country: str | None
    buyer: str  # name, else phone


def conversation(store: Store, conversation_id: int) -> ConversationView:
    row = store.db.execute(
        "SELECT v.id, v.contact_id, v.stage, v.owner, c.timezone, c.country, COALESCE(c.name, c.phone) AS buyer "
        "FROM conversations v JOIN contacts c ON c.id = v.contact_id WHERE v.id = ?",
        [conversation_id],
    ).fetchone()
    if row is None:
        raise KeyError(f"no conversation {conversation_id}")
    return ConversationView(**dict(row))


def find_conversations(store: Store, query: str) -> list[ConversationView]:
    """Conversations matching `query` as every command reads a buyer (`Store.find_conversation_ids`)."""
    out = []
    for conversation_id in store.find_conversation_ids(query, limit=6):
        row = store.db.execute(
            "SELECT v.id, v.contact_id, v.stage, v.owner, c.timezone, c.country, COALESCE(c.name, c.phone) AS buyer "
            "FROM conversations v JOIN contacts c ON c.id = v.contact_id WHERE v.id = ?", [conversation_id]).fetchone()
        out.append(ConversationView(**dict(row)))
    return out


def stage_entered(store: Store, stage: str, since: datetime, playbook: str) -> list[tuple[int, str]]:
    """(conversation id, stage_changed_at) of conversations in `stage` since `since`, not yet enrolled."""
    rows = store.db.execute(
        "SELECT v.id, v.stage_changed_at FROM conversations v WHERE v.stage = ? AND v.stage_changed_at >= ? "
        "AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.contact_id = v.contact_id) "
        "AND NOT EXISTS (SELECT 1 FROM enrollments e WHERE e.conversation_id = v.id AND e.playbook = ? "
        "AND e.trigger_key = 'stage:' || v.stage || '@' || v.stage_changed_at)",
        [stage, since.isoformat(), playbook],
    ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def silent_since(store: Store, before: datetime, stages: Sequence[str] | None, playbook: str,
                 ) -> list[tuple[int, str]]:
    """(conversation id, last message time) of conversations quiet since before `before`, not yet enrolled."""
    stage_sql = f"AND v.stage IN ({','.join('?' * len(stages))})" if stages else ""
    rows = store.db.execute(
        "SELECT v.id, (SELECT MAX(m.at) FROM messages m WHERE m.conversation_id = v.id) AS last_at "
        f"FROM conversations v WHERE NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.contact_id = v.contact_id) "
        f"{stage_sql} AND last_at IS NOT NULL AND last_at < ? AND NOT EXISTS (SELECT 1 FROM enrollments e "
        "WHERE e.conversation_id = v.id AND e.playbook = ? AND e.trigger_key = 'silence@' || last_at)",
        [*(stages or []), before.isoformat(), playbook],
    ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def last_message_id(store: Store, conversation_id: int) -> int | None:
    row = store.db.execute("SELECT id FROM messages WHERE conversation_id = ? ORDER BY id DESC LIMIT 1",
                           [conversation_id]).fetchone()
    return int(row[0]) if row else None


def last_at(store: Store, conversation_id: int, direction: str) -> datetime | None:
    row = store.db.execute(
        "SELECT at FROM messages WHERE conversation_id = ? AND direction = ? ORDER BY id DESC LIMIT 1",
        [conversation_id, direction],
    ).fetchone()
    return _dt(row[0]) if row else None


def first_unanswered(store: Store, conversation_id: int) -> tuple[int, datetime] | None:
    """The first buyer message after the rep's last reply, if the buyer is waiting."""
    row = store.db.execute(
        "SELECT id, at FROM messages WHERE conversation_id = ? AND direction = 'in' AND id > COALESCE("
        "(SELECT MAX(id) FROM messages WHERE conversation_id = ? AND direction = 'out'), 0) ORDER BY id LIMIT 1",
        [conversation_id, conversation_id],
    ).fetchone()
    if row is None:
        return None
    at = _dt(row[1])
    assert at is not None
    return int(row[0]), at


# -- pauses and opt-outs -------------------------------------------------------------------

def pause(store: Store, conversation_id: int, actor: str, now: datetime) -> bool:
    cur = store.db.execute("INSERT OR IGNORE INTO followup_pauses (conversation_id, actor, at) VALUES (?, ?, ?)",
                           [conversation_id, actor, ts(now)])
    return cur.rowcount == 1


def resume(store: Store, conversation_id: int) -> bool:
    cur = store.db.execute("DELETE FROM followup_pauses WHERE conversation_id = ?", [conversation_id])
    return cur.rowcount == 1


def is_paused(store: Store, conversation_id: int) -> bool:
    return store.db.execute("SELECT 1 FROM followup_pauses WHERE conversation_id = ?",
                            [conversation_id]).fetchone() is not None


def record_opt_out(store: Store, contact_id: int, message_id: int | None, phrase: str, now: datetime) -> bool:
    cur = store.db.execute("INSERT OR IGNORE INTO opt_outs (contact_id, message_id, phrase, at) VALUES (?, ?, ?, ?)",
                           [contact_id, message_id, phrase, ts(now)])
    return cur.rowcount == 1


def opt_out_of(store: Store, address: str) -> tuple[str, datetime] | None:
    """(phrase, when) if the buyer at this channel address opted out."""
    row = store.db.execute(
        "SELECT o.phrase, o.at FROM opt_outs o JOIN contacts c ON c.id = o.contact_id WHERE c.address = ?",
        [address],
    ).fetchone()
    if row is None:
        return None
    at = _dt(row[1])
    assert at is not None
    return str(row[0]), at


def is_opted_out(store: Store, contact_id: int) -> bool:
    return store.db.execute("SELECT 1 FROM opt_outs WHERE contact_id = ?", [contact_id]).fetchone() is not None


def reclaim(store: Store, follow_up_id: int, seen_claimed_at: datetime | None, now: datetime) -> bool:
    """Take over a stale claim, once: only if nobody re-claimed it since we looked."""
    if seen_claimed_at is None:
        return False
    cur = store.db.execute(
        "UPDATE follow_ups SET claimed_at = ? WHERE id = ? AND state = 'claimed' AND claimed_at = ?",
        [ts(now), follow_up_id, ts(seen_claimed_at)],
    )
    return cur.rowcount == 1


def mark(store: Store, name: str) -> datetime | None:
    """When the scan called `name` last completed (kept across restarts)."""
    row = store.db.execute("SELECT at FROM followup_marks WHERE name = ?", [name]).fetchone()
    return _dt(row[0]) if row else None


def set_mark(store: Store, name: str, at: datetime) -> None:
    store.db.execute("INSERT INTO followup_marks (name, at) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET at = ?",
                     [name, ts(at), ts(at)])


def follow_up_of_draft(store: Store, draft_id: int) -> tuple[int, str, int] | None:
    """(follow-up id, playbook name, step index) of the follow-up that produced `draft_id`, if any."""
    row = store.db.execute(
        "SELECT f.id, e.playbook, f.step FROM follow_ups f JOIN enrollments e ON e.id = f.enrollment_id "
        "WHERE f.draft_id = ?", [draft_id]).fetchone()
    return (int(row[0]), str(row[1]), int(row[2])) if row else None
