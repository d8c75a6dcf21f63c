"""Our own records: have we talked to this buyer before, how far did it get, who else writes from
the same email domain."""

from __future__ import annotations

from bot import store_background as sb
from bot.checks import CheckResult, Status
from bot.store import Store


def check_history(store: Store, contact_ids: list[int], email_domain: str | None = None) -> CheckResult:
    same_domain: list[int] = []
    if email_domain:
        same_domain = [c for c in sb.contacts_mentioning_domain(store, email_domain) if c not in contact_ids]
    if not contact_ids:
        evidence: dict[str, object] = {"history.known": False}
        line = "no earlier conversation with this buyer"
        if same_domain:
            evidence["history.same_domain_contacts"] = len(same_domain)
            line += f"; {len(same_domain)} other contact(s) wrote from @{email_domain}"
        return CheckResult("history", Status.OK, line, evidence)
    rows = [h for h in (sb.history(store, c) for c in contact_ids) if h is not None]
    first = rows[0]
    evidence = {
        "history.known": True, "history.contacts": len(rows), "history.name": first.name,
        "history.phone": first.phone, "history.conversation": first.conversation_id, "history.stage": first.stage,
        "history.messages_in": first.messages_in, "history.messages_out": first.messages_out,
        "history.first_contact": first.first_at[:10] if first.first_at else None,
        "history.last_contact": first.last_at[:10] if first.last_at else None,
    }
    parts = [f"{first.name or first.phone}: conversation #{first.conversation_id}, stage {first.stage}, "
             f"{first.messages_in} message(s) in / {first.messages_out} out"]
    if first.first_at and first.last_at:
        parts.append(f"first {first.first_at[:10]}, last {first.last_at[:10]}")
    notes: list[str] = []
    if first.opted_out is not None:
        evidence["history.opted_out"] = first.opted_out
        if first.opted_out:
            notes.append("opted out of our messages")
    if first.orders is not None:
        evidence["history.orders"] = first.orders
        parts.append(f"{first.orders} order(s)")
    if len(rows) > 1:
        others = ", ".join(h.name or h.phone for h in rows[1:4])
        parts.append(f"{len(rows) - 1} more match(es): {others}")
    if same_domain:
        evidence["history.same_domain_contacts"] = len(same_domain)
        parts.append(f"{len(same_domain)} other contact(s) wrote from @{email_domain}")
    return CheckResult("history", Status.WARNING if notes else Status.OK, "; ".join(parts), evidence, tuple(notes))
