"""Block Kit for Trademate's Slack cards and edit modal: pure functions, no I/O.

Everything a buyer wrote, or a model wrote after reading the buyer, is escaped for mrkdwn so a
message cannot ping the channel or dress up a link; every text is clipped to Slack's limits
because Slack rejects the whole message (`invalid_blocks`) when one field is too long.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bot.cards import decision_line
from bot.models import Action, Card, Decision, OutboxState

# Slack's documented limits for the fields used here.
SECTION_LIMIT = 3000
CONTEXT_LIMIT = 2000  # one mrkdwn element of a context block
HEADER_LIMIT = 150
INPUT_LIMIT = 3000  # plain_text_input max_length
FALLBACK_LIMIT = 300  # notification text: short on purpose, the blocks carry the card

ACTION_IDS: dict[Action, str] = {
    Action.SEND: "tm_send",
    Action.EDIT: "tm_edit",
    Action.REGENERATE: "tm_regenerate",
    Action.DISCARD: "tm_discard",
}
ACTIONS_BLOCK = "tm_actions"
EDIT_CALLBACK = "tm_edit_submit"
EDIT_BLOCK = "tm_edit"
EDIT_INPUT = "tm_edit_text"

_DELIVERY: dict[OutboxState, str] = {
    OutboxState.PENDING: ":hourglass: sending",
    OutboxState.SENDING: ":hourglass: sending",
    OutboxState.QUEUED: "✓ sent",
    OutboxState.SENT: "✓ sent",
    OutboxState.DELIVERED: "✓✓ delivered",
    OutboxState.READ: "✓✓ read",
}
_SCORE_MARK = {"hot": ":fire: Hot", "warm": ":sunny: Warm", "cold": ":snowflake: Cold"}
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")

Block = dict[str, Any]


def escape(text: str) -> str:
    """Slack's three control characters; with them escaped `<!channel>` and `<url|label>` stay inert."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Cut to `limit` characters with "…", never leaving half an entity such as `&am`."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 4))  # the longest entity we emit is "&amp;"
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def flag(country: str | None) -> str:
    """Flag emoji from an ISO 3166 alpha-2 code ("ES" -> 🇪🇸); empty when the code is unusable."""
    if not country or len(country) != 2 or not country.isascii() or not country.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in country.upper())


def _quote(text: str) -> str:
    if not text.strip():
        return "_(no text)_"
    return "\n".join(">" + line for line in escape(text).splitlines())


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}


def _context(*texts: str) -> Block:
    # A context block takes at most 10 elements.
    elements = [{"type": "mrkdwn", "text": clip(t, CONTEXT_LIMIT)} for t in texts[:10]]
    return {"type": "context", "elements": elements}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def _media(urls: tuple[str, ...]) -> Block | None:
    """One link per attachment, added whole or not at all so a link is never cut in half."""
    if not urls:
        return None
    text = "*Attachments*"
    for n, url in enumerate(urls, 1):
        if url.startswith(("https://", "http://")):
            line = f"\n:paperclip: <{escape(url).replace('|', '%7C')}|attachment {n}>"
        else:
            line = f"\n:paperclip: {escape(url)}"
        if len(text) + len(line) > SECTION_LIMIT - 40:
            text += f"\n…and {len(urls) - n + 1} more"
            break
        text += line
    return _section(text)


def _who(decision: Decision) -> str:
    if decision.surface == "slack" and _SLACK_USER.fullmatch(decision.actor):
        return f"<@{decision.actor}>"
    return escape(decision.actor)


def _when(at: datetime) -> str:
    return f"{(at.astimezone(UTC) if at.tzinfo else at):%H:%M} UTC"


def _decision_line(card: Card) -> str:
    return decision_line(card, _who, _when)


def _delivery(card: Card) -> str | None:
    if card.outbound is None:
        return None
    state = card.outbound.state
    if state in _DELIVERY:
        return _DELIVERY[state]
    return f":x: {escape(card.problem or 'not delivered')}"


def _button(label: str, action: Action, draft_id: int, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": ACTION_IDS[action],
        "text": _plain(label, 75),
        "value": str(draft_id),
    }
    if style:
        button["style"] = style
    return button


def _actions(draft_id: int) -> Block:
    discard = _button("Discard", Action.DISCARD, draft_id, "danger")
    discard["confirm"] = {
        "title": _plain("Discard this draft?", 100),
        "text": {"type": "mrkdwn", "text": "The buyer gets no reply from this draft."},
        "confirm": _plain("Discard", 30),
        "deny": _plain("Keep it", 30),
        "style": "danger",
    }
    return {
        "type": "actions",
        "block_id": ACTIONS_BLOCK,
        "elements": [
            _button("Send", Action.SEND, draft_id, "primary"),
            _button("Edit", Action.EDIT, draft_id),
            _button("Regenerate", Action.REGENERATE, draft_id),
            discard,
        ],
    }


def render_card(card: Card) -> tuple[str, list[Block]]:
    """Fallback (notification) text and the blocks of one card, pending or decided."""
    contact, message, draft = card.contact, card.message, card.draft
    name = contact.name or contact.phone
    emoji = flag(contact.country)
    fallback = clip(f"{escape(name)}: {escape(message.body)}", FALLBACK_LIMIT)

    where = " ".join(part for part in (emoji, contact.country or "") if part)
    about = [escape(contact.phone), where, f":clock3: {escape(card.local_time)}", escape(contact.channel),
             f":bust_in_silhouette: {escape(card.owner)}" if card.owner else ""]
    about += _lifecycle(card)
    blocks: list[Block] = [
        {"type": "header", "text": _plain(f"{emoji} {name}".strip(), HEADER_LIMIT)},
        _context(" · ".join(part for part in about if part)),
    ]
    if card.score:
        mark = _SCORE_MARK.get(card.score, card.score)
        blocks.append(_context(f"*{mark} lead*" + (" · " + escape("; ".join(card.score_reasons))
                                                    if card.score_reasons else "")))
    if card.problem:
        # First thing the rep sees: the reply did not (or cannot) reach the buyer.
        blocks.append(_section(f":rotating_light: *{escape(card.problem)}*"))

    blocks.append(_section(f"*Buyer wrote*\n{_quote(message.body)}"))
    if draft.translation.strip() and draft.translation.strip() != message.body.strip():
        blocks.append(_section(f"*Translation*\n{_quote(draft.translation)}"))
    media = _media(message.media)
    if media:
        blocks.append(media)

    blocks.append({"type": "divider"})
    version = f" · v{draft.version}" if draft.version > 1 else ""
    blocks.append(_section(f"*Draft reply* ({escape(draft.language)}{version})\n{_quote(draft.text)}"))
    if draft.back_translation.strip() and draft.back_translation.strip() != draft.text.strip():
        blocks.append(_section(f"*Back-translation*\n{_quote(draft.back_translation)}"))
    if draft.unknown_numbers:
        numbers = ", ".join(escape(n) for n in draft.unknown_numbers)
        why = "_(not in the catalog or this conversation)_"
        blocks.append(_section(f":warning: Review numbers: {numbers} {why}"))
    notes = []
    if draft.flags:
        notes.append(":label: " + ", ".join(escape(f.replace("_", " ")) for f in draft.flags))
    if draft.notice:
        notes.append(f":information_source: {escape(draft.notice)}")
    if notes:
        blocks.append(_context(*notes))

    blocks += _autonomy_and_template(card)
    if not card.decided:
        blocks.append(_actions(draft.id))
        blocks += _more_actions(card)
        return fallback, blocks

    if card.outbound and card.outbound.body.strip() != draft.text.strip():
        blocks.append(_section(f"*Text sent*\n{_quote(card.outbound.body)}"))
    status = [_decision_line(card)]
    delivery = _delivery(card)
    if delivery:
        status.append(delivery)
    blocks.append(_context(" · ".join(status)))
    blocks += _more_actions(card)
    return fallback, blocks


# -- lifecycle stage, WhatsApp window, automatic sends, templates ------------------------------------
# These buttons use the generic command-button route (`tmb:<action>:<n>`, see slack.translate_button).
BUTTON_PREFIX = "tmb:"


def _lifecycle(card: Card) -> list[str]:
    parts = [f":compass: stage: *{escape(card.stage)}*"] if card.stage else []
    if card.window:
        icon = ":no_entry:" if "closed" in card.window else ":hourglass_flowing_sand:"
        parts.append(f"{icon} {escape(card.window)}")
    return parts


def _autonomy_and_template(card: Card) -> list[Block]:
    out: list[Block] = []
    if card.auto_note:
        out.append(_context(f":robot_face: {escape(card.auto_note)}"))
    if card.template_offer:
        preview = _quote(card.template_preview or "") if card.template_preview else ""
        out.append(_section(f"*Approved template* `{escape(card.template_offer)}` can reach the buyer instead"
                            + (f"\n{preview}" if preview else "")))
    return out


def _tmb(label: str, action: str, n: int, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "action_id": f"{BUTTON_PREFIX}{action}:{n}",
                     "text": _plain(label, 75), "value": value}
    if style:
        button["style"] = style
    return button


def _more_actions(card: Card) -> list[Block]:
    elements: list[Block] = []
    if card.auto_send_at is not None and not card.decided:
        elements.append(_tmb("Cancel automatic send", "auto_cancel", len(elements), str(card.draft.id), "danger"))
    if card.template_offer:
        elements.append(_tmb("Send template instead", "template_send", len(elements), str(card.draft.id), "primary"))
    if card.stage:
        elements.append(_tmb("Change stage", "stage_menu", len(elements), str(card.draft.conversation_id)))
    return [{"type": "actions", "block_id": "tm_more", "elements": elements}] if elements else []


def edit_modal(card: Card) -> dict[str, Any]:
    """The modal behind Edit: the draft in a multiline input; the draft id rides in private_metadata."""
    contact = card.contact
    name = contact.name or contact.phone
    return {
        "type": "modal",
        "callback_id": EDIT_CALLBACK,
        "private_metadata": str(card.draft.id),
        "title": _plain("Edit reply", 24),
        "submit": _plain("Send", 24),
        "close": _plain("Cancel", 24),
        "blocks": [
            _context(f"To {escape(name)} ({escape(contact.phone)}) · :clock3: {escape(card.local_time)}"),
            _context(f"*Buyer wrote:* {escape(card.message.body) or '_(no text)_'}"),
            {
                "type": "input",
                "block_id": EDIT_BLOCK,
                "label": _plain("Reply to send", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": EDIT_INPUT,
                    "multiline": True,
                    "max_length": INPUT_LIMIT,
                    # No "…" here: it would be sent to the buyer if the rep submitted unchanged.
                    "initial_value": card.draft.text[:INPUT_LIMIT],
                },
            },
        ],
    }
