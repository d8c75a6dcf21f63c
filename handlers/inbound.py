"""A buyer message arrived and is on disk: draft a reply and put a card in front of the rep."""

from __future__ import annotations

import logging

from bot.cards import build_card, refresh_card
from bot.drafting import DraftRequest
from bot.guardrail import find_unknown_numbers
from bot.models import Action, Draft, DraftState, Message, Turn
from bot.services import Services
from handlers import stop_rules

log = logging.getLogger(__name__)


async def on_buyer_message(svc: Services, message_id: int) -> Draft:
    """Draft, store and show; older pending drafts of the conversation are superseded."""
    store = svc.store
    message = store.message(message_id)
    await stop_rules.on_buyer_message(svc, message)  # opt-out, stop follow-ups, start the unanswered clock
    draft = await write_draft(svc, message)
    for old in store.pending_drafts(message.conversation_id):
        if old.id != draft.id and old.message_id < message.id and store.close_draft(
            old.id, DraftState.SUPERSEDED, Action.DISCARD, "trademate", "system", svc.clock.now()
        ):
            await refresh_card(svc, old.id)
    return await present_draft(svc, draft.id)


async def present_draft(svc: Services, draft_id: int, *, autonomy: str = "approve",
                        template: str | None = None) -> Draft:
    """Put a stored draft in front of the rep. The one path every draft takes (buyer messages,
    follow-ups, /analyze), so the autonomy policy applies to all of them.

    `autonomy` is the level the caller's policy allows ("approve", "auto_if_safe", "auto");
    `template` names a templates.yaml entry to use outside WhatsApp's 24-hour window.
    """
    store = svc.store
    card_ref = await svc.surface.request_approval(build_card(svc, draft_id))
    store.set_card_ref(draft_id, card_ref)
    return store.draft(draft_id)


async def write_draft(svc: Services, message: Message, *, attempt: int = 1, card_ref: str | None = None,
                      hint: str | None = None, follow_up: bool = False) -> Draft:
    """One drafting call for `message`, checked by the number guardrail, stored as pending.

    `follow_up`: the bot starts the message itself; `message` (the conversation's last) is history,
    not something to answer."""
    store = svc.store
    contact = store.contact(message.contact_id)
    before = message.id + 1 if follow_up else message.id  # a follow-up's history includes `message`
    history = store.history(message.conversation_id, before, svc.history_size)
    request = DraftRequest(
        message="" if follow_up else message.body,
        history=tuple(Turn("buyer" if m.direction == "in" else "rep", m.body, m.at) for m in history),
        rep_language=svc.rep_language,
        buyer_name=contact.name,
        buyer_country=contact.country,
        hint=hint,
        attempt=attempt,
    )
    result = await svc.drafter.draft(request)
    unknown = find_unknown_numbers(result.reply, svc.catalog, [m.body for m in history] + [message.body])
    return store.add_draft(message, result, unknown, svc.clock.now(), version=attempt, card_ref=card_ref)


async def resume(svc: Services) -> int:
    """Draft messages acknowledged before a crash, and show drafts whose card never got out."""
    count = 0
    for message in svc.store.messages_needing_draft():
        await on_buyer_message(svc, message.id)
        count += 1
    for draft in svc.store.pending_drafts():
        if draft.card_ref is None:
            card_ref = await svc.surface.request_approval(build_card(svc, draft.id))
            svc.store.set_card_ref(draft.id, card_ref)
            count += 1
    return count
