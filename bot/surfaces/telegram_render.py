"""Telegram cards and command replies as HTML parse-mode text: pure functions, no I/O.

Everything a buyer, a model or a command handler wrote is HTML-escaped *after* it is cut into
pieces, so a split can never land inside `&amp;` or a tag, and a buyer's `<b>`, `&`, `_` or `*`
shows up literally (HTML parse mode gives `_` and `*` no meaning at all). Telegram counts the
4096-character limit in UTF-16 code units; we measure the raw HTML that way, which is stricter
than Telegram's own count (tags do not count there), so a part we accept is never refused.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.cards import decision_line
from bot.models import Action, Card, CommandReply, Decision, OutboxState

MESSAGE_LIMIT = 4096
CALLBACK_LIMIT = 64  # bytes of callback_data

CARD_PREFIX = "tm:"
BUTTON_PREFIX = "tmb:"
STORED_BUTTON = "~"  # "tmb:~:<key>": action and value too long for 64 bytes live in SQLite
COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")  # what setMyCommands accepts

ACTION_CODES: dict[Action, str] = {Action.SEND: "s", Action.EDIT: "e", Action.REGENERATE: "r",
                                   Action.DISCARD: "d"}
_CODE_ACTIONS = {code: action for action, code in ACTION_CODES.items()}
KEYBOARD_LABELS: tuple[tuple[Action, str], ...] = (
    (Action.SEND, "✅ Send"), (Action.EDIT, "✏️ Edit"), (Action.REGENERATE, "🔄 Regenerate"),
    (Action.DISCARD, "🗑 Discard"),
)

_DELIVERY: dict[OutboxState, str] = {
    OutboxState.PENDING: "⏳ sending",
    OutboxState.SENDING: "⏳ sending",
    OutboxState.QUEUED: "✓ sent",
    OutboxState.SENT: "✓ sent",
    OutboxState.DELIVERED: "✓✓ delivered",
    OutboxState.READ: "✓✓ read",
}


def esc(text: str) -> str:
    """The three characters Telegram's HTML mode gives meaning to; nothing else needs escaping."""
    return html.escape(text, quote=False)


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji flag is four)."""
    return len(text.encode("utf-16-le")) // 2


# --- callback data ---------------------------------------------------------------------------------


def card_callback(action: Action, draft_id: int) -> str:
    return f"{CARD_PREFIX}{ACTION_CODES[action]}:{draft_id}"


def parse_card_callback(data: str) -> tuple[Action, int] | None:
    """"tm:s:42" -> (Action.SEND, 42); None for anything else (old, forged or foreign buttons)."""
    if not data.startswith(CARD_PREFIX):
        return None
    code, _, draft = data[len(CARD_PREFIX):].partition(":")
    action = _CODE_ACTIONS.get(code)
    if action is None or not draft.isdigit():
        return None
    return action, int(draft)


def button_callback(action: str, value: str) -> str | None:
    """"tmb:<action>:<value>" when it fits Telegram's 64 bytes, else None (store it, use a key)."""
    data = f"{BUTTON_PREFIX}{action}:{value}"
    return data if len(data.encode()) <= CALLBACK_LIMIT and action != STORED_BUTTON else None


def stored_button_callback(key: str) -> str:
    return f"{BUTTON_PREFIX}{STORED_BUTTON}:{key}"


def parse_button_callback(data: str) -> tuple[str, str] | None:
    """(action, value) of a reply button; action is STORED_BUTTON when value is a store key."""
    if not data.startswith(BUTTON_PREFIX):
        return None
    action, sep, value = data[len(BUTTON_PREFIX):].partition(":")
    return (action, value) if sep and action else None


# --- splitting -------------------------------------------------------------------------------------

_TOKENS = re.compile(r"\s+|\S+")


def split_plain(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Cut plain text into chunks that each satisfy `fits`, breaking only at whitespace.

    Each chunk is the longest run of words that fits, found by binary search (`fits` grows with the
    text), so a long card costs O(n log n) rather than one render per word. A single word too long
    for one chunk (a 5000-character URL) is the only thing cut mid-word; it is cut between
    characters of the plain text, so escaping afterwards stays whole.
    """
    tokens = _TOKENS.findall(text)
    chunks: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i].isspace():
            i += 1
            continue
        if not fits(tokens[i]):  # one over-long word: emit the largest prefixes that fit
            word = tokens[i]
            lo, hi = 1, len(word)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if fits(word[:mid]) else (lo, mid - 1)
            chunks.append(word[:lo])
            tokens[i] = word[lo:]
            continue
        lo, hi = i + 1, len(tokens)  # tokens[i:lo] fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits("".join(tokens[i:mid]).rstrip()) else (lo, mid - 1)
        chunks.append("".join(tokens[i:lo]).rstrip())
        i = lo
    return chunks or [""]


@dataclass(frozen=True)
class Block:
    """One paragraph of a card: `head` and the wrapping tags are HTML, `body` is plain text."""

    head: str = ""
    body: str = ""
    open: str = ""
    close: str = ""

    def html(self, body: str | None = None, *, head: bool = True) -> str:
        return (self.head if head else "") + self.open + esc(self.body if body is None else body) + self.close


def pack(blocks: list[Block], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Blocks joined by blank lines into as few messages as fit `limit`; a block too long for one
    message is split at word boundaries, each piece wrapped in the block's own tags."""
    parts: list[str] = []
    current = ""
    for block in blocks:
        whole = block.html()
        if units(whole) > limit:
            rendered = _split_block(block, limit, limit - units(current) - 2 if current else limit)
        else:
            rendered = [whole]
        for piece in rendered:
            joined = f"{current}\n\n{piece}" if current else piece
            if units(joined) <= limit:
                current = joined
            else:
                parts.append(current)
                current = piece
    if current or not parts:
        parts.append(current)
    return parts


def _split_block(block: Block, limit: int, room: int) -> list[str]:
    """A block too long for one message, as pieces; the first fills the `room` left in the current
    message when that is worth it, so a long draft starts right under its heading."""
    rendered: list[str] = []
    body = block.body
    if room >= 500:
        first = split_plain(body, lambda s: units(block.html(s)) <= room)[0]
        if first and body.startswith(first) and units(block.html(first)) <= room:
            rendered.append(block.html(first))
            body = body[len(first):].lstrip()
    pieces = split_plain(body, lambda s: units(block.html(s, head=not rendered)) <= limit) if body else []
    rendered += [block.html(p, head=not rendered and n == 0) for n, p in enumerate(pieces)]
    return rendered


# --- cards -----------------------------------------------------------------------------------------


def flag(country: str | None) -> str:
    if not country or len(country) != 2 or not country.isascii() or not country.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in country.upper())


def _quote(head: str, text: str) -> Block:
    if not text.strip():
        return Block(head=head, body="(no text)", open="<i>", close="</i>")
    return Block(head=head, body=text, open="<blockquote>", close="</blockquote>")


def _when(at: datetime) -> str:
    return f"{(at.astimezone(UTC) if at.tzinfo else at):%H:%M} UTC"


def _who(decision: Decision) -> str:
    if decision.surface == "telegram" and decision.actor.isdigit():
        return f'<a href="tg://user?id={decision.actor}">{esc(decision.actor)}</a>'
    return esc(decision.actor)


def _decision_line(card: Card) -> str:
    return decision_line(card, _who, _when, ("🗑 Discarded", "✏️ Edited and sent", "📤 Sent"))


def _delivery(card: Card) -> str | None:
    if card.outbound is None:
        return None
    state = card.outbound.state
    return _DELIVERY.get(state) or f"❌ {esc(card.problem or 'not delivered')}"


def _media(urls: tuple[str, ...]) -> list[Block]:
    blocks = []
    for n, url in enumerate(urls, 1):
        if url.startswith(("https://", "http://")):
            blocks.append(Block(head=f'📎 <a href="{html.escape(url, quote=True)}">attachment {n}</a>'))
        else:
            blocks.append(Block(head="📎 ", body=url))
    return blocks


def card_blocks(card: Card) -> list[Block]:
    contact, message, draft = card.contact, card.message, card.draft
    name = contact.name or contact.phone
    where = " ".join(p for p in (flag(contact.country), contact.country or "") if p)
    about = " · ".join(p for p in (esc(contact.phone), esc(where), f"🕒 {esc(card.local_time)}",
                                   esc(contact.channel)) if p)
    blocks = [Block(head=f"<b>{esc(name)}</b> · card #{draft.id}\n{about}")]
    if card.problem:
        blocks.append(Block(head="🚨 ", body=card.problem, open="<b>", close="</b>"))
    blocks.append(_quote("<b>Buyer wrote</b>\n", message.body))
    if draft.translation.strip() and draft.translation.strip() != message.body.strip():
        blocks.append(_quote("<b>Translation</b>\n", draft.translation))
    blocks += _media(message.media)
    version = f" · v{draft.version}" if draft.version > 1 else ""
    blocks.append(_quote(f"<b>Draft reply</b> ({esc(draft.language)}{version})\n", draft.text))
    if draft.back_translation.strip() and draft.back_translation.strip() != draft.text.strip():
        blocks.append(_quote("<b>Back-translation</b>\n", draft.back_translation))
    if draft.unknown_numbers:
        numbers = ", ".join(draft.unknown_numbers)
        blocks.append(Block(head="⚠️ <b>Review numbers:</b> ", body=numbers,
                            close=" <i>(not in the catalog or this conversation)</i>"))
    if draft.flags:
        blocks.append(Block(head="🏷 ", body=", ".join(f.replace("_", " ") for f in draft.flags)))
    if draft.notice:
        blocks.append(Block(head="ℹ️ ", body=draft.notice, open="<i>", close="</i>"))
    if card.decided:
        if card.outbound and card.outbound.body.strip() != draft.text.strip():
            blocks.append(_quote("<b>Text sent</b>\n", card.outbound.body))
        status = [_decision_line(card)]
        delivery = _delivery(card)
        if delivery:
            status.append(delivery)
        blocks.append(Block(head=" · ".join(status)))
    return blocks


def render_card(card: Card, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The card as one or more HTML messages, in reading order; the keyboard goes under the last."""
    return pack(card_blocks(card), limit)


def edit_prompt(card: Card) -> str:
    """The ForceReply prompt behind Edit; the current draft is quoted (when it fits) to copy from."""
    head = f"Reply to this message with the text to send for card #{card.draft.id}"
    who = card.contact.name or card.contact.phone
    text = f"{esc(head)} (to {esc(who)})."
    quoted = f"{text}\n\nCurrent draft:\n<code>{esc(card.draft.text)}</code>"
    return quoted if units(quoted) <= MESSAGE_LIMIT else text


# --- command replies -------------------------------------------------------------------------------

_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*([^*\n]+)\*")
_ITALIC = re.compile(r"(?<![\w])_([^_\n]+)_(?![\w])")


def markdown_html(text: str) -> str:
    """The light markdown of a CommandReply (`*bold*`, `_italic_`, `` `code` ``) as escaped HTML.
    Markers without a partner on the same line stay literal."""
    out: list[str] = []
    last = 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_inline(text[last:match.start()]))
        out.append(f"<code>{esc(match.group(1))}</code>")
        last = match.end()
    out.append(_inline(text[last:]))
    return "".join(out)


def _inline(text: str) -> str:
    escaped = esc(text)
    escaped = _BOLD.sub(lambda m: f"<b>{m.group(1)}</b>", escaped)
    return _ITALIC.sub(lambda m: f"<i>{m.group(1)}</i>", escaped)


def render_reply(reply: CommandReply, limit: int = MESSAGE_LIMIT) -> list[str]:
    """A command reply as HTML messages, split between words; buttons go under the last one."""
    pieces = split_plain(reply.text.strip() or "Done.", lambda s: units(markdown_html(s)) <= limit)
    return [markdown_html(p) for p in pieces]
