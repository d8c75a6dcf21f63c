"""Lead facts from the store, the score of one conversation, and the `/pipeline` listing.

Gathers what `bot.scoring` needs (recent buyer messages and their intents, quantities asked
against the catalog MOQ, a cached background check when that feature's table exists) and
renders a rep's buyers grouped by stage, hottest first.
"""

from __future__ import annotations

import json
from datetime import datetime

from bot import store_intel
from bot.analysis_context import inert
from bot.drafting import classify_intent
from bot.scoring import LeadFacts, LeadScore, QuantityAsk, quantities, score_lead
from bot.services import Services
from bot.store_intel import ConversationRow

RECENT_MESSAGES = 20
BGCHECK_TABLE = "bgcheck_cache"  # written by /bgcheck (issue 5, branch bg); read only when present
PIPELINE_PER_STAGE = 15
STAGE_ORDER = ("negotiating", "negotiation", "quoted", "quote_sent", "sample", "sampling", "qualified",
               "contacted", "new", "ordered", "won", "customer")
LABEL_MARK = {"hot": ":fire: hot", "warm": ":sunny: warm", "cold": ":snowflake: cold"}


def company_signals(svc: Services, conv: ConversationRow) -> tuple[list[str], list[str]] | None:
    """(risk flags, positive findings) of the newest cached background check of this buyer (by phone,
    conversation id or name); None when /bgcheck is not installed or never checked this buyer.

    Reads the report shape /bgcheck stores (`Report.as_json`): target key "<kind>:<value>|...",
    `flags` as [{"key", "text", "evidence"}], `level` "low" | "medium" | "high".
    """
    store = svc.store
    if not store_intel.has_table(store, BGCHECK_TABLE):
        return None
    name = (conv.contact.name or "").lower()
    digits = "".join(c for c in conv.contact.phone if c.isdigit())
    # The rep may have typed the number with spaces or dashes: compare digits.
    compact = "replace(replace(replace(replace(target, ' ', ''), '-', ''), '(', ''), ')', '')"
    where = f"(target LIKE 'phone:%' AND {compact} LIKE ?) OR target LIKE ? OR target LIKE ?"
    params = [f"%{digits}|%", f"conversation:{conv.id}|%", f"name:{name}|%" if name else "\x00"]
    for row in store._all(f"SELECT report FROM {BGCHECK_TABLE} WHERE {where} ORDER BY checked_at DESC", params):
        try:
            report = json.loads(row["report"])
        except (TypeError, ValueError):
            continue
        if not isinstance(report, dict) or not isinstance(report.get("flags"), list):
            continue
        flags = [str(f.get("text") or f.get("key")) if isinstance(f, dict) else str(f) for f in report["flags"]]
        level = str(report.get("level", ""))
        return flags, ([f"{level} risk"] if level == "low" and not flags else [])
    return None


def lead_facts(svc: Services, conv: ConversationRow, now: datetime) -> LeadFacts:
    store, catalog = svc.store, svc.catalog
    messages = store_intel.buyer_messages(store, conv.id, RECENT_MESSAGES)
    intents = [classify_intent(m.body) for m in messages]
    intents += store_intel.draft_intents(store, conv.id, 5)  # the model's reading, when a model drafted
    smallest_moq = min((i.moq for i in catalog.items), default=None)
    asks: list[QuantityAsk] = []
    last_item = None
    for m in messages:
        found = catalog.find(m.body)
        if found:
            last_item = found[0]
        for qty in quantities(m.body):
            item = found[0] if found else last_item
            asks.append(QuantityAsk(qty, item.sku if item else None, item.moq if item else smallest_moq))
    signals = company_signals(svc, conv)
    return LeadFacts(
        now=now, stage=conv.stage, last_buyer_at=messages[-1].at if messages else conv.last_inbound_at,
        intents=tuple(intents), asks=tuple(asks[-5:]),
        company_flags=tuple(signals[0]) if signals else None, company_ok=tuple(signals[1]) if signals else (),
    )


def score_conversation(svc: Services, conversation_id: int) -> LeadScore | None:
    conv = store_intel.conversation(svc.store, conversation_id)
    if conv is None:
        return None
    return score_lead(lead_facts(svc, conv, svc.clock.now()))


def _stage_key(stage: str) -> tuple[int, str]:
    return (STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER), stage)


def pipeline_text(svc: Services, owner: str | None, title: str) -> str:
    """The buyers of `owner` (everyone's when None) by stage, hottest first, with the reasons."""
    now = svc.clock.now()
    scored = []
    for conv in store_intel.conversations_for(svc.store, owner):
        score = score_lead(lead_facts(svc, conv, now))
        scored.append((conv, score, conv.last_inbound_at.timestamp() if conv.last_inbound_at else 0.0))
    if not scored:
        return f"*{title}*\nNo buyers yet."
    lines = [f"*{title}* ({len(scored)} buyers)"]
    stages = sorted({c.stage for c, _, _ in scored}, key=_stage_key)
    for stage in stages:
        rows = [r for r in scored if r[0].stage == stage]
        rows.sort(key=lambda r: (r[1].rank, -r[1].points, -r[2]))
        lines.append(f"\n*{stage.replace('_', ' ').capitalize()}* ({len(rows)})")
        for conv, score, _ in rows[:PIPELINE_PER_STAGE]:
            who = conv.contact.name or conv.contact.phone
            owner_note = f" · {conv.owner}" if owner is None and conv.owner else ""
            why = "; ".join(score.reasons[:3]) or "no signals yet"
            lines.append(f"• #{conv.id} *{inert(who)}* ({conv.contact.phone}) · {LABEL_MARK[score.label]}"
                         f"{inert(owner_note)} · {inert(why)}")
        if len(rows) > PIPELINE_PER_STAGE:
            lines.append(f"  …and {len(rows) - PIPELINE_PER_STAGE} more")
    return "\n".join(lines)
