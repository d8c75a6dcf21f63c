"""A rep surface in the terminal: cards printed as text, decisions typed at a prompt."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from bot.models import Card, DraftState, OutboxState

_TICKS = {
    OutboxState.PENDING: "… sending",
    OutboxState.SENDING: "… sending",
    OutboxState.QUEUED: "✓ queued",
    OutboxState.SENT: "✓ sent",
    OutboxState.DELIVERED: "✓✓ delivered",
    OutboxState.READ: "✓✓ read",
}


def _block(label: str, text: str) -> list[str]:
    # Keep the draft's own line breaks: a rep judges a reply by how the buyer will see it.
    wrapped = [w for para in text.splitlines() for w in (textwrap.wrap(para, 72) or [""])] or [""]
    return [f"  {label:<12}{wrapped[0]}"] + [f"  {'':<12}{line}" for line in wrapped[1:]]


def status_line(card: Card) -> str:
    d = card.draft
    who_decided = f" by {card.decision.actor}" if card.decision else ""
    status = ""
    if card.outbound is not None:
        status = " · " + _TICKS.get(card.outbound.state, f"✗ {card.outbound.state.value}")
    return f"{d.state.value}{who_decided}{status}"


def render_card(card: Card) -> str:
    c, d = card.contact, card.draft
    who = c.name or c.phone
    lines = [f"┌─ card #{d.id} (v{d.version}) ─ {who} · {c.phone} · {c.country or '??'} · {card.local_time}"]
    lifecycle = [f"stage {card.stage}" if card.stage else "", card.window or ""]
    if any(lifecycle):
        lines += _block("deal:", " · ".join(p for p in lifecycle if p))
    lines += _block("buyer:", card.message.body or "(no text)")
    for url in card.message.media:
        lines += _block("media:", url)
    if d.translation and d.translation != card.message.body:
        lines += _block("means:", d.translation)
    lines += _block(f"draft [{d.language}]:", d.text)
    if d.back_translation and d.back_translation != d.text:
        lines += _block("in English:", d.back_translation)
    if d.flags:
        lines += _block("flags:", ", ".join(d.flags))
    if d.unknown_numbers:
        lines += _block("⚠ review:", "numbers not in catalog or conversation: " + ", ".join(d.unknown_numbers))
    if d.notice:
        lines += _block("note:", d.notice)
    if card.problem:
        lines += _block("✗ problem:", card.problem)
    if card.auto_note:
        lines += _block("autonomy:", card.auto_note)
    if card.template_offer:
        lines += _block("template:", f"{card.template_offer}: {card.template_preview or ''} (send template instead)")
    if d.state is DraftState.PENDING:
        lines.append("└─ [s]end  [e]dit  [r]egenerate  [d]iscard")
    else:
        lines.append(f"└─ {status_line(card)}")
    return "\n".join(lines)


class ConsoleSurface:
    name = "console"

    def __init__(self, out: Callable[[str], None] = print, show_updates: bool = True) -> None:
        self.out = out
        self.show_updates = show_updates
        self.cards: dict[str, Card] = {}
        self.shown: list[str] = []  # card refs in the order they were shown

    async def request_approval(self, card: Card) -> str:
        ref = f"card-{card.draft.id}"
        self.cards[ref] = card
        self.shown.append(ref)
        self.out("\n" + render_card(card))
        return ref

    async def update_card(self, card_ref: str, card: Card) -> None:
        previous = self.cards.get(card_ref)
        self.cards[card_ref] = card
        if not self.show_updates:
            return
        if previous is not None and previous.draft.id != card.draft.id:
            self.out("\n" + render_card(card))  # regenerated: a new draft to read
        else:
            line = f"  card #{card.draft.id}: {status_line(card)}"
            self.out(line + (f" · ✗ {card.problem}" if card.problem else ""))

    async def post(self, text: str) -> None:
        self.out(f"\n» {text}")
