"""A bounded view of a whole conversation for `/analyze`: a verbatim window of the latest
messages plus a running summary of everything older, stored in SQLite and refreshed incrementally.

Each analysis takes the messages after the summary's high-water mark, keeps the newest that fit
the window budget verbatim and folds the rest into the summary: one short note per message that
carries a question, a number, a buying intent or a promise (the rest are only counted), oldest
notes dropped past the notes budget. A conversation of any length therefore costs the same few
thousand tokens, and a 500-message history is folded once, not on every analysis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bot import store_intel
from bot.catalog import Catalog, Item
from bot.drafting import classify_intent
from bot.guardrail import iter_numbers
from bot.models import Message
from bot.store import Store
from bot.store_intel import SummaryState

TOKEN_BUDGET = 3000  # the whole prompt, system and user messages together
WINDOW_TOKENS = 1100  # newest messages kept verbatim
WINDOW_MAX_MESSAGES = 30
NOTES_TOKENS = 450  # notes folded from older messages
CATALOG_TOKENS = 450
SUMMARY_CHARS = 800  # the model's summary from the previous analysis
MESSAGE_CHARS = 500  # one verbatim message is clipped to this
NOTE_CHARS = 150

_PROMISE = re.compile(
    r"\b(?:i|we)(?:'ll| will| can| shall)\b|\bwill (?:send|ship|confirm|check)|\bpromise|\bguarantee|"
    r"\benviar[ée]?|\bte env[ií]o|\ble env[ií]o|\bvamos a\b|\bconfirmar[ée]\b|\bnous allons\b|\bje vais\b|"
    r"\bwir werden\b|\bich werde\b|\bvou\b|\bvamos\b|\bwe'd\b",
    re.I,
)


def estimate_tokens(text: str) -> int:
    """A conservative token count without a tokenizer: ASCII at 4 characters a token, anything
    else (accents, CJK, Cyrillic, Arabic) at one token each, as BPE vocabularies often split them."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return (ascii_chars + 3) // 4 + (len(text) - ascii_chars)


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def inert(text: str) -> str:
    """Buyer- or model-written text for a command reply: angle brackets become look-alikes, so no
    surface reads `<!channel>` or `<url|label>` in it as markup (replies are light markdown)."""
    return text.replace("<", "‹").replace(">", "›")


def role(m: Message) -> str:
    return "buyer" if m.direction == "in" else "rep"


def turn_line(m: Message) -> str:
    return f"[{m.at:%Y-%m-%d %H:%M}] {role(m)}: {clip(m.body, MESSAGE_CHARS) or '(no text)'}"


def note_for(m: Message) -> str | None:
    """One line worth keeping from an older message, or None when it only needs counting."""
    text = m.body.strip()
    if not text:
        return None
    numbers = any(True for _ in iter_numbers(text))
    if m.direction == "in":
        intent = classify_intent(text)
        question = any(q in text for q in "?¿？")
        if not (question or numbers or intent not in ("other", "greeting")):
            return None
        tag = f" ({intent})" if intent not in ("other", "greeting") else ""
        return f"{m.at:%Y-%m-%d} buyer{tag}: {clip(text, NOTE_CHARS)}"
    if numbers or _PROMISE.search(text):
        return f"{m.at:%Y-%m-%d} rep: {clip(text, NOTE_CHARS)}"
    return None


def fold(state: SummaryState, messages: list[Message]) -> SummaryState:
    """The summary with `messages` (all newer than its mark, oldest first) folded in (pure)."""
    notes = list(state.notes)
    for m in messages:
        note = note_for(m)
        if note:
            notes.append(note)
    # Keep the newest notes that fit the budget (one pass from the newest: linear in the notes).
    kept, used = 0, 0
    for note in reversed(notes):
        cost = estimate_tokens(note) + 1
        if used + cost > NOTES_TOKENS:
            break
        kept, used = kept + 1, used + cost
    dropped = state.dropped + len(notes) - kept
    notes = notes[len(notes) - kept:]
    upto = messages[-1].id if messages else state.upto_message_id
    return SummaryState(upto_message_id=upto, notes=notes, folded=state.folded + len(messages), dropped=dropped,
                        model_summary=state.model_summary)


@dataclass(frozen=True)
class ConversationView:
    summary: SummaryState
    window: tuple[Message, ...]  # verbatim, oldest first

    @property
    def total(self) -> int:
        return self.summary.folded + len(self.window)


def conversation_view(store: Store, conversation_id: int, now: datetime,
                      window_tokens: int = WINDOW_TOKENS) -> ConversationView:
    """Fold what no longer fits the window into the stored summary; return summary and window."""
    state = store_intel.load_summary(store, conversation_id)
    newer = store_intel.messages_after(store, conversation_id, state.upto_message_id)
    window: list[Message] = []
    used = 0
    for m in reversed(newer):
        cost = estimate_tokens(turn_line(m)) + 1
        if window and (used + cost > window_tokens or len(window) >= WINDOW_MAX_MESSAGES):
            break
        window.insert(0, m)
        used += cost
    overflow = newer[: len(newer) - len(window)]
    if overflow:
        state = fold(state, overflow)
        store_intel.save_summary(store, conversation_id, state, now)
    return ConversationView(state, tuple(window))


def catalog_context(catalog: Catalog, texts: list[str], budget_tokens: int = CATALOG_TOKENS) -> str:
    """Company terms and the items the conversation is about first, then others, within budget."""
    c = catalog.company
    lines = [f"Company: {c.name or '[not in catalog]'}; payment: {c.payment_terms or '[ask the rep]'}; "
             f"incoterms: {c.terms or '[ask the rep]'}"]
    if c.sample_policy:
        lines.append(f"Samples: {clip(c.sample_policy, 300)}")
    mentioned: list[Item] = []
    for text in texts:
        for item in catalog.find(text):
            if item not in mentioned:
                mentioned.append(item)
    ordered = mentioned + [i for i in catalog.items if i not in mentioned]
    left = 0
    for n, item in enumerate(ordered):
        line = (f"- {item.sku} | {item.name}. MOQ {item.moq} {item.unit}. Prices: {item.tiers_text()}. "
                f"Lead time {item.lead_time_days} days.")
        if estimate_tokens("\n".join([*lines, line])) > budget_tokens:
            left = len(ordered) - n
            break
        lines.append(line)
    if left:
        lines.append(f"(+{left} more catalog items not shown)")
    return "\n".join(lines)
