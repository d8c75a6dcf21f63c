"""Autonomy levels: may a draft go to the buyer without a rep's tap? (pure)

- `approve` (the default): every send waits for a tap.
- `auto_if_safe`: sends by itself only when the guardrail found nothing (no unknown numbers, no
  flags at all: price, discount, delivery_date, payment_terms, promise, a placeholder or a
  reply to translate), the WhatsApp window is open and the buyer is not opted out or flagged.
- `auto`: sends by itself even with flags, but still never outside the window, never to a
  blocked buyer, and never with a placeholder such as "[price?]" in it.

Levels are set only in the team file a manager edits (`autonomy:` with `default` and
`ceiling`); a playbook step may ask for a level, but never above the team's ceiling. No rep
command raises a level. Every automatic send goes out after the undo delay and is recorded in
`decisions` with the level that allowed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LEVELS: tuple[str, ...] = ("approve", "auto_if_safe", "auto")
_RANK = {level: n for n, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class Verdict:
    auto: bool  # True: send after the undo delay unless cancelled
    level: str  # the effective level, recorded as the decision's policy
    reasons: tuple[str, ...] = ()  # why it waits for a tap, in plain words

    @property
    def explanation(self) -> str:
        return "; ".join(self.reasons)


def check_level(level: str) -> str:
    if level not in _RANK:
        raise ValueError(f"unknown autonomy level {level!r}; use one of {', '.join(LEVELS)}")
    return level


def effective_level(requested: str | None, default: str, ceiling: str) -> str:
    """The caller's level (or the team default), never above the manager's ceiling."""
    level = check_level(requested) if requested else check_level(default)
    return level if _RANK[level] <= _RANK[check_level(ceiling)] else ceiling


def decide(level: str, *, flags: Sequence[str], unknown_numbers: Sequence[str], window_open: bool,
           buyer_blocked: bool) -> Verdict:
    """Whether a draft at `level` may go out without a tap."""
    check_level(level)
    if level == "approve":
        return Verdict(False, level, ("autonomy is approve",))
    reasons: list[str] = []
    if buyer_blocked:
        reasons.append("the buyer opted out or is flagged")
    if not window_open:
        reasons.append("the WhatsApp window is closed")
    if "needs_rep_input" in flags:
        reasons.append("the draft has a gap for the rep to fill")
    if level == "auto_if_safe":
        if unknown_numbers:
            reasons.append("numbers to review: " + ", ".join(unknown_numbers))
        touchy = [f.replace("_", " ") for f in flags if f != "needs_rep_input"]
        if touchy:
            reasons.append("flagged: " + ", ".join(touchy))
    return Verdict(not reasons, level, tuple(reasons))


def decide_template(level: str, *, buyer_blocked: bool) -> Verdict:
    """Whether an approved template chosen by a playbook step may go out without a tap.

    Its text was approved by WhatsApp and put in templates.yaml by the team, so the draft's
    guardrail flags do not apply; the level and the buyer's opt-out still do.
    """
    check_level(level)
    if level == "approve":
        return Verdict(False, level, ("autonomy is approve",))
    if buyer_blocked:
        return Verdict(False, level, ("the buyer opted out or is flagged",))
    return Verdict(True, level)
