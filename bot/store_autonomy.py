"""SQL for automatic sends and template sends.

`auto_sends` holds one row per draft that policy allowed to go out without a tap: it is due
after the undo delay, and leaves `pending` exactly once, either fired (decision + outbox row in
the same transaction) or cancelled. Template sends are outbox rows with a `content_sid`, keyed
`template:<draft id>` so a double tap cannot send two.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.models import Action, DraftState, Outbound
from bot.store import Store


@dataclass(frozen=True)
class AutoSend:
    id: int
    draft_id: int
    policy: str
    due_at: datetime
    state: str  # pending | fired | cancelled | dropped
    closed_by: str | None = None


def _row(r: object) -> AutoSend:
    return AutoSend(r["id"], r["draft_id"], r["policy"], datetime.fromisoformat(r["due_at"]),  # type: ignore[index]
                    r["state"], r["closed_by"])  # type: ignore[index]


def schedule_auto_send(store: Store, draft_id: int, policy: str, due_at: datetime, now: datetime) -> None:
    store.db.execute(
        "INSERT OR IGNORE INTO auto_sends (draft_id, policy, due_at, created_at) VALUES (?, ?, ?, ?)",
        [draft_id, policy, due_at.isoformat(), now.isoformat()],
    )


def auto_send_for(store: Store, draft_id: int) -> AutoSend | None:
    r = store.db.execute("SELECT * FROM auto_sends WHERE draft_id = ?", [draft_id]).fetchone()
    return _row(r) if r else None


def due_auto_sends(store: Store, now: datetime) -> list[AutoSend]:
    rows = store.db.execute(
        "SELECT * FROM auto_sends WHERE state = 'pending' AND due_at <= ? ORDER BY due_at", [now.isoformat()]
    ).fetchall()
    return [_row(r) for r in rows]


def close_auto_send(store: Store, draft_id: int, state: str, by: str, now: datetime) -> bool:
    """pending -> cancelled/dropped, once; False if it already fired or was closed."""
    cur = store.db.execute(
        "UPDATE auto_sends SET state = ?, closed_by = ?, closed_at = ? WHERE draft_id = ? AND state = 'pending'",
        [state, by, now.isoformat(), draft_id],
    )
    return cur.rowcount == 1


def fire_auto_send(store: Store, auto_id: int, to: str, body: str, now: datetime,
                   template: tuple[str, Mapping[str, str]] | None = None) -> Outbound | None:
    """Claim a due auto-send and approve its draft in one transaction: decision by "trademate"
    with the policy that allowed it, and the outbox row (a template send when `template` gives
    its content_sid and variables). None if cancelled, fired or the draft was decided meanwhile
    (the row is then dropped)."""
    with store.transaction():
        r = store.db.execute("SELECT * FROM auto_sends WHERE id = ? AND state = 'pending'", [auto_id]).fetchone()
        if r is None:
            return None
        auto = _row(r)
        if not store.transition_draft(auto.draft_id, DraftState.SENT, now, sent_text=body):
            store.db.execute("UPDATE auto_sends SET state = 'dropped', closed_by = 'trademate', closed_at = ? "
                             "WHERE id = ?", [now.isoformat(), auto_id])
            return None
        store.db.execute("UPDATE auto_sends SET state = 'fired', closed_by = 'trademate', closed_at = ? WHERE id = ?",
                         [now.isoformat(), auto_id])
        _decision(store, auto.draft_id, "trademate", "auto", auto.policy, body, now)
        if template is None:
            _outbox(store, auto.draft_id, f"draft:{auto.draft_id}", to, body, now)
        else:
            _outbox(store, auto.draft_id, f"template:{auto.draft_id}", to, body, now, template[0], template[1])
    return store.outbound_for_draft(auto.draft_id)


def _decision(store: Store, draft_id: int, actor: str, surface: str, policy: str, text: str, now: datetime) -> None:
    store.db.execute(
        "INSERT INTO decisions (draft_id, action, actor, surface, policy, text, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [draft_id, Action.SEND.value, actor, surface, policy, text, now.isoformat()],
    )


def _outbox(store: Store, draft_id: int, idem_key: str, to: str, body: str, now: datetime,
            content_sid: str | None = None, variables: Mapping[str, str] | None = None) -> bool:
    cur = store.db.execute(
        "INSERT OR IGNORE INTO outbox (draft_id, idem_key, to_address, body, state, content_sid, content_variables, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
        [draft_id, idem_key, to, body, content_sid, json.dumps(dict(variables)) if variables is not None else None,
         now.isoformat(), now.isoformat()],
    )
    return cur.rowcount == 1


# -- templates ---------------------------------------------------------------------------------


def remember_template(store: Store, draft_id: int, template: str) -> None:
    """The template a caller (a playbook step) chose for this draft, for when the window is closed."""
    store.db.execute("INSERT OR REPLACE INTO draft_templates (draft_id, template) VALUES (?, ?)", [draft_id, template])


def chosen_template(store: Store, draft_id: int) -> str | None:
    r = store.db.execute("SELECT template FROM draft_templates WHERE draft_id = ?", [draft_id]).fetchone()
    return str(r["template"]) if r else None


def approve_template(store: Store, draft_id: int, actor: str, surface: str, to: str, preview: str,
                     content_sid: str, variables: Mapping[str, str], now: datetime) -> Outbound | None:
    """Record the rep's "send template instead" and its outbox row, once per draft.

    Works on a pending draft (window closed before anyone sent) and on a sent draft whose
    free-form reply Twilio refused; None if a template for this draft was already queued.
    """
    key = f"template:{draft_id}"
    with store.transaction():  # BEGIN IMMEDIATE: the check and the insert cannot interleave with another tap
        if store.db.execute("SELECT 1 FROM outbox WHERE idem_key = ?", [key]).fetchone():
            return None
        draft = store.draft(draft_id)
        if draft.state is DraftState.PENDING:
            store.transition_draft(draft_id, DraftState.SENT, now, sent_text=preview)
        elif draft.state is not DraftState.SENT:
            return None
        _outbox(store, draft_id, key, to, preview, now, content_sid, variables)
        _decision(store, draft_id, actor, surface, "manual", preview, now)
    return store.outbound_for_draft(draft_id)


def outbox_template(store: Store, outbox_id: int) -> tuple[str, dict[str, str]] | None:
    """(content_sid, variables) when this outbox row is a template send."""
    r = store.db.execute("SELECT content_sid, content_variables FROM outbox WHERE id = ?", [outbox_id]).fetchone()
    if r is None or not r["content_sid"]:
        return None
    return str(r["content_sid"]), json.loads(r["content_variables"] or "{}")


def buyer_blocked(store: Store, contact_id: int) -> bool:
    """A buyer Trademate must not message on its own: they opted out (STOP, in any language), Twilio
    reported them unsubscribed (21610), or the deal is marked lost."""
    if store.db.execute("SELECT 1 FROM opt_outs WHERE contact_id = ?", [contact_id]).fetchone() is not None:
        return True
    r = store.db.execute(
        "SELECT 1 FROM outbox o JOIN drafts d ON d.id = o.draft_id JOIN conversations v ON v.id = d.conversation_id "
        "WHERE v.contact_id = ? AND o.error_code = '21610' LIMIT 1", [contact_id],
    ).fetchone()
    if r is not None:
        return True
    stage = store.db.execute("SELECT stage FROM conversations WHERE contact_id = ?", [contact_id]).fetchone()
    return bool(stage and stage["stage"] == "lost")
