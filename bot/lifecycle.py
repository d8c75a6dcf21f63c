"""Lifecycle stages of a deal and the rules that move a conversation between them (pure).

Stages run new → qualified → quoted → sample → negotiating → ordered → won, with lost and
dormant on the side. Automatic signals only ever move a conversation forward:

- weak signals, the intent of a buyer message as the drafter read it, move it at most to the
  stage that intent implies (a price question means "qualified", never "quoted");
- clear signals move it further: the rep actually sent a quote or proforma invoice (prices
  with a currency, "proforma", "PI" in the text that went out) → quoted; the buyer confirms a
  payment → ordered.

won and lost are never changed automatically (only the rep's correction does that); a buyer
writing to a dormant conversation reopens it as qualified. The rep's correction may set any stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STAGES: tuple[str, ...] = (
    "new", "qualified", "quoted", "sample", "negotiating", "ordered", "won", "lost", "dormant",
)
_RANK: dict[str, int] = {stage: n for n, stage in enumerate(STAGES[:7])}  # the forward path
FINAL: frozenset[str] = frozenset({"won", "lost"})

# What a buyer message's intent says about the deal (weak: forward only, never past this).
INTENT_STAGE: dict[str, str] = {
    "price_inquiry": "qualified",
    "moq": "qualified",
    "lead_time": "qualified",
    "catalog_request": "qualified",
    "sample_request": "sample",
    "order": "negotiating",
}

_CURRENCY = r"(?:[$€£¥₹]|\b(?:usd|us\$|eur|gbp|cny|rmb|inr|aed|sar|jpy|chf|cad|aud)\b)"
_AMOUNT = r"\d[\d.,]*"
_PRICE = re.compile(rf"{_CURRENCY}\s?{_AMOUNT}|{_AMOUNT}\s?{_CURRENCY}", re.IGNORECASE)
_QUOTE_WORDS = re.compile(
    r"pro[\s-]?forma|(?-i:\bPI\b)|\bquotation\b|\bour quote\b|\bcotizaci[oó]n\b|\bdevis\b|\bangebot\b|"
    r"\bpreventivo\b|\bor[cç]amento\b|\bкоммерческое предложение\b|报价单|形式发票|عرض سعر",
    re.IGNORECASE,
)
_PAYMENT_CONFIRMED = re.compile(
    r"\b(?:we|i) (?:have )?(?:paid|transferred|wired|sent (?:the|your) payment)\b|\bpayment (?:is )?(?:done|"
    r"made|sent|completed)\b|\b(?:swift|tt|t/t|bank) (?:copy|slip|receipt)\b|\bdeposit (?:is )?(?:paid|sent)\b|"
    r"\bhemos pagado\b|\bya pagamos\b|\bpago (?:realizado|hecho|enviado)\b|\btransferencia (?:realizada|hecha)\b|"
    r"\bnous avons pay[ée]\b|\bpaiement effectu[ée]\b|\bvirement effectu[ée]\b|\bwir haben (?:bezahlt|"
    r"überwiesen)\b|\bzahlung (?:ist )?(?:erfolgt|veranlasst)\b|\bpagamento (?:feito|efetuado|effettuato)\b|"
    r"已付款|已汇款|已付定金|款已付|تم الدفع|تم التحويل|\bоплатили\b|\bоплата произведена\b|\bödeme yapıldı\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class StageChange:
    to: str
    reason: str


def is_stage(value: str) -> bool:
    return value in STAGES


def advance(current: str, target: str) -> str | None:
    """The stage an automatic signal pointing at `target` leads to from `current`, or None."""
    if target == current or current in FINAL or target not in _RANK:
        return None
    if current == "dormant":
        return target  # the deal woke up; any sign of life reopens it
    if current not in _RANK or _RANK[target] > _RANK[current]:
        return target
    return None


def from_buyer(current: str, intent: str, text: str) -> StageChange | None:
    """What one buyer message (its text and the intent the drafter read) does to the stage."""
    if _PAYMENT_CONFIRMED.search(text):
        to = advance(current, "ordered")
        if to:
            return StageChange(to, "buyer confirmed a payment")
    target = INTENT_STAGE.get(intent)
    if target is None and current == "dormant":
        target = "qualified"
    if target is None:
        return None
    to = advance(current, target)
    return StageChange(to, f"buyer intent {intent}") if to else None


def is_quote(text: str) -> bool:
    """A message that quotes: an amount with a currency, or names a proforma invoice / quotation."""
    return bool(_PRICE.search(text) or _QUOTE_WORDS.search(text))


def from_rep(current: str, sent_text: str) -> StageChange | None:
    """What a reply that actually went out does to the stage: only a quote moves it."""
    if not is_quote(sent_text):
        return None
    to = advance(current, "quoted")
    return StageChange(to, "rep sent a quote") if to else None
