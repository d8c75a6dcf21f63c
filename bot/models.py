"""Domain records shared by every part of Trademate.

Frozen dataclasses only: adapters translate platform payloads into these at the
edge, the store returns them, handlers pass them around. Nothing here knows about
Slack, Telegram, Twilio or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Action(StrEnum):
    """What a rep can do with a draft card."""

    SEND = "send"
    EDIT = "edit"
    REGENERATE = "regenerate"
    DISCARD = "discard"


class DraftState(StrEnum):
    PENDING = "pending"  # waiting for the rep
    SENT = "sent"  # approved; an outbox row exists
    DISCARDED = "discarded"
    SUPERSEDED = "superseded"  # replaced by a regenerated draft


class OutboxState(StrEnum):
    PENDING = "pending"  # decided, not yet handed to the provider
    SENDING = "sending"  # handed to the provider, answer not yet recorded
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNDELIVERED = "undelivered"
    REFUSED = "refused"  # the provider said no at send time (e.g. 63016)

    @property
    def final(self) -> bool:
        return self in {OutboxState.READ, OutboxState.FAILED, OutboxState.UNDELIVERED, OutboxState.REFUSED}


# Provider statuses only move forward; a late "sent" must not undo "delivered".
STATUS_RANK: dict[OutboxState, int] = {
    OutboxState.PENDING: 0,
    OutboxState.SENDING: 1,
    OutboxState.QUEUED: 2,
    OutboxState.SENT: 3,
    OutboxState.DELIVERED: 4,
    OutboxState.READ: 5,
    OutboxState.UNDELIVERED: 5,
    OutboxState.FAILED: 5,
    OutboxState.REFUSED: 5,
}


@dataclass(frozen=True)
class Contact:
    id: int
    address: str  # channel address as the provider knows it: "whatsapp:+8613…" or "+1415…"
    phone: str  # E.164
    channel: str  # "whatsapp" | "sms" | "console"
    name: str | None = None
    country: str | None = None  # ISO 3166 alpha-2, from the phone number
    timezone: str | None = None  # IANA name, from the phone number


@dataclass(frozen=True)
class IncomingMessage:
    """A buyer message as an adapter received it, before it is stored."""

    provider_id: str  # Twilio MessageSid (or the console's own id); the dedupe key
    address: str
    body: str
    channel: str
    profile_name: str | None = None
    media: tuple[str, ...] = ()


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    contact_id: int
    direction: str  # "in" | "out"
    body: str
    at: datetime
    provider_id: str | None = None
    media: tuple[str, ...] = ()


@dataclass(frozen=True)
class Turn:
    """One line of conversation history as the drafter sees it."""

    role: str  # "buyer" | "rep"
    text: str
    at: datetime


@dataclass(frozen=True)
class DraftResult:
    """What a drafter returns for one buyer message."""

    buyer_language: str  # ISO 639-1, e.g. "es"
    translation: str  # the buyer message in the rep's language
    intent: str
    reply: str  # the proposed reply, in the buyer's language
    back_translation: str  # the reply in the rep's language
    flags: tuple[str, ...] = ()  # e.g. ("price", "delivery_date")
    source: str = "template"  # "llm" | "template"
    notice: str | None = None  # shown on the card, e.g. why the template drafter answered


@dataclass(frozen=True)
class Draft:
    id: int
    message_id: int
    conversation_id: int
    text: str
    language: str
    translation: str
    back_translation: str
    intent: str
    flags: tuple[str, ...]
    unknown_numbers: tuple[str, ...]  # numbers found nowhere in catalog or conversation
    source: str
    notice: str | None
    state: DraftState
    created_at: datetime
    card_ref: str | None = None
    version: int = 1

    @property
    def needs_number_review(self) -> bool:
        return bool(self.unknown_numbers)


@dataclass(frozen=True)
class Decision:
    id: int
    draft_id: int
    action: Action
    actor: str
    surface: str
    at: datetime
    text: str | None = None  # what was sent, when it differs from the draft


@dataclass(frozen=True)
class Outbound:
    id: int
    draft_id: int
    idem_key: str
    to: str
    body: str
    state: OutboxState
    attempts: int
    provider_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class SendReceipt:
    provider_id: str
    state: OutboxState


@dataclass(frozen=True)
class Card:
    """Everything a surface needs to render one buyer message and its draft."""

    contact: Contact
    message: Message
    draft: Draft
    local_time: str  # the buyer's local time, already formatted
    outbound: Outbound | None = None
    decision: Decision | None = None
    problem: str | None = None  # plain-words error to show the rep
    owner: str | None = None  # the owning rep's name (team routing); None = the whole channel
    destination: str | None = None  # channel/chat id on the surface; None = the surface's default
    stage: str | None = None  # the conversation's lifecycle stage (bot/lifecycle.py)
    window: str | None = None  # "window closes in 3 h 20 min" / "window closed: template only"; None: no window
    template_offer: str | None = None  # templates.yaml entry offered instead of free text (window closed, 63016)
    template_preview: str | None = None  # that template as the buyer would read it
    auto_send_at: datetime | None = None  # an automatic send is pending: the card shows Cancel until then
    auto_note: str | None = None  # what autonomy did with this draft, in plain words

    @property
    def decided(self) -> bool:
        return self.draft.state is not DraftState.PENDING


@dataclass(frozen=True)
class DecisionRequest:
    """A rep's tap as a surface translated it."""

    draft_id: int
    action: Action
    actor: str
    surface: str
    text: str | None = None  # edited text for Action.EDIT
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandRequest:
    """A slash command as a surface (or the CLI) translated it: `/bgcheck acme.com` -> ("bgcheck", "acme.com")."""

    name: str
    args: str
    actor: str  # platform user id, or "cli"
    surface: str  # "slack" | "telegram" | "console" | "cli"
    channel: str | None = None  # where the command was typed, for the reply


@dataclass(frozen=True)
class ReplyButton:
    """A button under a command reply; surfaces map `action`+`value` to their own payloads."""

    label: str
    action: str  # e.g. "followup_send"
    value: str  # opaque id the action handler understands


@dataclass(frozen=True)
class CommandReply:
    """Platform-neutral answer to a command: plain text (light markdown: *bold*, lists) and buttons."""

    text: str
    buttons: tuple[ReplyButton, ...] = ()
    ephemeral: bool = False  # only the person who typed it sees it (where the surface supports it)


@dataclass(frozen=True)
class ButtonPress:
    """A tap on a button under a command reply or digest (not a draft card)."""

    action: str
    value: str
    actor: str
    surface: str
    channel: str | None = None
