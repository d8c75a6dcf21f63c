"""The lifecycle, window, template and autonomy parts of a card, read from the store.

Kept apart from `bot.cards` so the card assembly there stays one small function; also decides
which template, if any, a draft is offered (shared with the handler that sends it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot import store_autonomy, store_lifecycle
from bot.models import Contact, Draft, DraftState, Message, Outbound, OutboxState
from bot.services import Services
from bot.templates import Template, render_preview, variables_for
from bot.window import WindowState, describe, window_state

REFUSED_OUTSIDE_WINDOW = "63016"
_FAILED = frozenset({OutboxState.REFUSED, OutboxState.FAILED, OutboxState.UNDELIVERED})


def window_for(svc: Services, contact: Contact, conversation_id: int) -> WindowState:
    info = store_lifecycle.conversation(svc.store, conversation_id)
    return window_state(contact.channel, info.last_inbound_at, svc.clock.now())


def template_for(svc: Services, draft: Draft) -> Template | None:
    """The playbook step's choice for this draft, else the first template that fits its intent."""
    chosen = store_autonomy.chosen_template(svc.store, draft.id)
    return (svc.templates.by_name(chosen) if chosen else None) or svc.templates.for_intent(draft.intent)


def needs_template(draft: Draft, window: WindowState, outbound: Outbound | None) -> bool:
    """Free text cannot reach this buyer: the window is closed, or Twilio refused with 63016."""
    if outbound is not None:
        # 63016 comes back either at once (REST refusal) or later in a failed/undelivered status callback.
        return (outbound.state in _FAILED and outbound.error_code == REFUSED_OUTSIDE_WINDOW
                and not outbound.idem_key.startswith("template:"))
    return draft.state is DraftState.PENDING and window.template_only


def template_variables(svc: Services, template: Template, draft: Draft, message: Message,
                       contact: Contact) -> dict[str, str]:
    history = svc.store.history(draft.conversation_id, message.id, svc.history_size)
    text = "\n".join([m.body for m in history] + [message.body])
    return variables_for(template, contact, svc.catalog, text)


def _when(at: datetime) -> str:
    return f"{at.astimezone(UTC):%H:%M} UTC"


def card_fields(svc: Services, draft: Draft, message: Message, contact: Contact,
                outbound: Outbound | None) -> dict[str, Any]:
    """Keyword arguments for `Card`: stage, window, template offer, automatic send."""
    window = window_for(svc, contact, draft.conversation_id)
    fields: dict[str, Any] = {
        "stage": store_lifecycle.conversation(svc.store, draft.conversation_id).stage,
        "window": describe(window) if draft.state is DraftState.PENDING else None,
    }
    if contact.channel == "whatsapp" and needs_template(draft, window, outbound):
        template = template_for(svc, draft)
        if template is not None:
            fields["template_offer"] = template.name
            fields["template_preview"] = render_preview(
                template, template_variables(svc, template, draft, message, contact))
    auto = store_autonomy.auto_send_for(svc.store, draft.id)
    if auto is not None:
        if auto.state == "pending" and draft.state is DraftState.PENDING:
            fields["auto_send_at"] = auto.due_at
            fields["auto_note"] = (f"Sends by itself at {_when(auto.due_at)} (autonomy {auto.policy}) "
                                   "unless someone taps Cancel")
        elif auto.state == "cancelled":
            fields["auto_note"] = f"Automatic send cancelled by {auto.closed_by}; waiting for a tap"
        elif auto.state == "dropped" and draft.state is DraftState.PENDING:
            fields["auto_note"] = "Not sent automatically after all (see the log for why); waiting for a tap"
        elif auto.state == "fired":
            fields["auto_note"] = f"Sent automatically (autonomy {auto.policy})"
    return fields
