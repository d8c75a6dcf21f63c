"""A rep tapped Send, Edit, Regenerate or Discard on a card."""

from __future__ import annotations

from bot import ownership
from bot.cards import refresh_card
from bot.models import Action, DecisionRequest, DraftState
from bot.outbox import deliver
from bot.services import Services
from handlers.autosend import window_refusal
from handlers.followups import followup_origin
from handlers.inbound import write_draft

_DONE_WORDS = {
    DraftState.SENT: "sent",
    DraftState.DISCARDED: "discarded",
    DraftState.SUPERSEDED: "replaced by a newer draft",
}


def _already(svc: Services, draft_id: int) -> str:
    draft = svc.store.draft(draft_id)
    decision = svc.store.last_decision(draft_id)
    who = f" by {decision.actor}" if decision else ""
    return f"This draft was already {_DONE_WORDS.get(draft.state, draft.state.value)}{who}; nothing more was done."


async def on_decision(svc: Services, req: DecisionRequest) -> str | None:
    """Apply one decision. Returns None when it took effect, or a sentence for the rep saying why not."""
    store, now = svc.store, svc.clock.now()
    try:
        draft = store.draft(req.draft_id)
    except KeyError:
        return "This card refers to a draft Trademate no longer has."
    refused = ownership.refusal(svc, req, draft.conversation_id)  # owner or manager only, on every surface
    if refused:
        return refused
    if draft.state is not DraftState.PENDING:
        return _already(svc, draft.id)

    if req.action in (Action.SEND, Action.EDIT):
        body = draft.text if req.action is Action.SEND else (req.text or "").strip()
        if not body:
            return "The edited reply is empty; nothing was sent."
        refusal = await window_refusal(svc, draft.id)
        if refusal:
            return refusal
        message = store.message(draft.message_id)
        contact = store.contact(message.contact_id)
        outbound = store.approve(draft.id, req.action, req.actor, req.surface, contact.address, body, now)
        if outbound is None:
            return _already(svc, draft.id)
        await refresh_card(svc, draft.id)
        await deliver(svc, outbound.id)
        return None

    if req.action is Action.DISCARD:
        if not store.close_draft(draft.id, DraftState.DISCARDED, Action.DISCARD, req.actor, req.surface, now):
            return _already(svc, draft.id)
        await refresh_card(svc, draft.id)
        return None

    # Regenerate: the old draft is superseded and the new one takes over the same card.
    if not store.close_draft(draft.id, DraftState.SUPERSEDED, Action.REGENERATE, req.actor, req.surface, now):
        return _already(svc, draft.id)
    origin = followup_origin(svc, draft.id)
    new = await write_draft(svc, store.message(draft.message_id), attempt=draft.version + 1,
                            card_ref=draft.card_ref, hint=origin.hint if origin else None,
                            follow_up=origin is not None)
    if origin is not None:  # a regenerated follow-up stays that follow-up (card note, playbook, link)
        origin.adopt(svc, new.id)
    await refresh_card(svc, new.id)
    return None
