"""Lead scores: hot / warm / cold from what a buyer did, with the reasons a rep can check.

Pure: `score_lead` takes `LeadFacts` (gathered by `bot.leads` from the store) and returns a
`LeadScore`. Points add up from recency of the last buyer message, the conversation stage, the
strongest buying intent among recent buyer messages, the order size asked against the catalog
MOQ, and company signals from a background check when one is cached. Each rule that moves the
score leaves one reason, so the card shows why a lead is hot rather than a bare label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

HOT_AT = 5  # points from which a lead is hot: e.g. wrote today + asked for prices + a real quantity
WARM_AT = 2  # e.g. wrote this week and asked for prices

# Stages are free text in conversations.stage; unknown ones score 0 and are named in the reasons.
STAGE_POINTS: dict[str, int] = {
    "new": 0, "contacted": 0, "qualified": 1, "quoted": 1, "quote_sent": 1, "sample": 1, "sampling": 1,
    "negotiating": 2, "negotiation": 2, "ordered": 2, "won": 2, "customer": 2,
}
DEAD_STAGES = frozenset({"lost", "closed_lost", "opted_out", "dead", "spam"})

INTENT_POINTS: dict[str, int] = {
    "order": 3, "sample_request": 2, "price_inquiry": 2, "moq": 2, "lead_time": 1, "catalog_request": 1,
}
INTENT_WORDS: dict[str, str] = {
    "order": "wants to order", "sample_request": "asked for samples", "price_inquiry": "asked for prices",
    "moq": "asked about the MOQ", "lead_time": "asked about lead time", "catalog_request": "asked for the catalog",
}

# A quantity is a number followed by a unit word: "1000 pcs", "5.000 unidades", "2k units", "3000个".
_UNITS = (r"(?:pcs|pc|pieces?|units?|unidades|uds|piezas|pzas|unités|pièces|stück|stk|peças|unidade|pezzi|"
          r"sets?|шт|штук|adet)(?!\w)|[个件只套]")
_QTY = re.compile(rf"(?<![\d.,])(\d{{1,3}}(?:[.,\u00a0 ]\d{{3}})+|\d+(?:[.,]\d+)?)\s*(k)?\s*(?:{_UNITS})",
                  re.I | re.U)


def quantities(text: str) -> list[int]:
    """Order quantities a buyer wrote ("1,000 pcs", "5.000 unidades", "2k units", "3000个")."""
    found = []
    for m in _QTY.finditer(text):
        number, thousands = m.group(1), m.group(2)
        if thousands:
            found.append(int(float(number.replace(",", ".")) * 1000))
        elif re.fullmatch(r"\d{1,3}(?:[.,\u00a0 ]\d{3})+", number):
            found.append(int(re.sub(r"\D", "", number)))
        else:
            found.append(int(float(number.replace(",", "."))))
    return found


@dataclass(frozen=True)
class QuantityAsk:
    qty: int
    item: str | None  # SKU it was asked for, when the message names one
    moq: int | None  # that item's MOQ, or the smallest catalog MOQ when no item is named


@dataclass(frozen=True)
class LeadFacts:
    now: datetime
    stage: str
    last_buyer_at: datetime | None
    intents: Sequence[str] = ()  # of recent buyer messages, oldest first
    asks: Sequence[QuantityAsk] = ()
    company_flags: Sequence[str] | None = None  # risk flags from a cached background check; None = no check
    company_ok: Sequence[str] = ()  # positive findings of that check


@dataclass(frozen=True)
class LeadScore:
    label: str  # "hot" | "warm" | "cold"
    points: int
    reasons: tuple[str, ...]

    @property
    def rank(self) -> int:
        return {"hot": 0, "warm": 1, "cold": 2}[self.label]


def _days(facts: LeadFacts) -> float | None:
    if facts.last_buyer_at is None:
        return None
    return (facts.now - facts.last_buyer_at).total_seconds() / 86400


def score_lead(facts: LeadFacts) -> LeadScore:
    points = 0
    reasons: list[str] = []

    days = _days(facts)
    if days is None:
        reasons.append("no buyer message yet")
        points -= 1
    elif days <= 2:
        points += 2
        reasons.append("wrote in the last 2 days" if days >= 1 else "wrote today")
    elif days <= 7:
        points += 1
        reasons.append(f"last wrote {int(days)} days ago")
    elif days > 30:
        points -= 2
        reasons.append(f"silent for {int(days)} days")
    elif days > 14:
        points -= 1
        reasons.append(f"silent for {int(days)} days")

    stage = facts.stage.strip().lower()
    if stage in DEAD_STAGES:
        return LeadScore("cold", min(points, 0) - 5, (f"stage: {stage}", *reasons))
    stage_points = STAGE_POINTS.get(stage, 0)
    points += stage_points
    if stage_points:
        reasons.append(f"stage: {stage}")

    recent = [i for i in facts.intents[-5:] if i in INTENT_POINTS]
    if recent:
        best = max(recent, key=lambda i: INTENT_POINTS[i])
        points += INTENT_POINTS[best]
        reasons.append(INTENT_WORDS[best])

    if facts.asks:
        ask = max(facts.asks, key=lambda a: a.qty)
        what = f" of {ask.item}" if ask.item else ""
        if ask.moq is None:
            points += 1
            reasons.append(f"asks {ask.qty:,} units{what}")
        elif ask.qty >= 5 * ask.moq:
            points += 2
            reasons.append(f"asks {ask.qty:,} units{what}, {ask.qty // ask.moq}× the MOQ of {ask.moq:,}")
        elif ask.qty >= ask.moq:
            points += 1
            reasons.append(f"asks {ask.qty:,} units{what}, at or above the MOQ of {ask.moq:,}")
        else:
            points -= 1
            reasons.append(f"asks {ask.qty:,} units{what}, under the MOQ of {ask.moq:,}")

    if facts.company_flags is not None:
        if facts.company_flags:
            points -= min(2, len(facts.company_flags))
            reasons.append("background check: " + ", ".join(facts.company_flags[:3]))
        elif facts.company_ok:
            points += 1
            reasons.append("background check: " + ", ".join(facts.company_ok[:2]))

    label = "hot" if points >= HOT_AT else "warm" if points >= WARM_AT else "cold"
    return LeadScore(label, points, tuple(reasons))
