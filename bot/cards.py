"""Assemble the `Card` view of a draft from the store, and re-render it on its surface."""

from __future__ import annotations

import logging

from bot import ownership
from bot.card_state import card_fields
from bot.errors import describe_provider_error
from bot.leads import score_conversation
from bot.models import Card, OutboxState
from bot.phones import local_time
from bot.services import Services
from bot.store_intel import save_score

log = logging.getLogger(__name__)


def build_card(svc: Services, draft_id: int) -> Card:
    store = svc.store
    draft = store.draft(draft_id)
    message = store.message(draft.message_id)
    contact = store.contact(message.contact_id)
    outbound = store.outbound_for_draft(draft_id)
    problem = None
    if outbound and outbound.state in {OutboxState.REFUSED, OutboxState.FAILED, OutboxState.UNDELIVERED}:
        if outbound.error_code:
            problem = describe_provider_error(outbound.error_code, outbound.error_message or "")
        else:
            problem = outbound.error_message or "sending failed"
    owner = ownership.ensure_owner(svc, draft.conversation_id)
    score = score_conversation(svc, draft.conversation_id)
    if score is not None:
        save_score(svc.store, draft.conversation_id, score.label, score.reasons, svc.clock.now())
    return Card(
        contact=contact,
        message=message,
        draft=draft,
        local_time=local_time(contact.timezone, svc.clock.now()),
        outbound=outbound,
        decision=store.last_decision(draft_id),
        problem=problem,
        owner=None if svc.team.implicit else owner.name,
        destination=ownership.destination(svc.surface.name, owner),
        **card_fields(svc, draft, message, contact, outbound),
        score=score.label if score else None,
        score_reasons=score.reasons if score else (),
    )


async def refresh_card(svc: Services, draft_id: int) -> None:
    """Re-render a card in place; a surface hiccup is logged, never allowed to undo a send."""
    card = build_card(svc, draft_id)
    if card.draft.card_ref is None:
        return
    try:
        await svc.surface.update_card(card.draft.card_ref, card)
    except Exception:
        log.exception("could not update card for draft %s", draft_id)
