"""A buyer message arrived and is on disk: draft a reply and put a card in front of the rep."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from bot import ownership, stages, store_autonomy
from bot.cards import build_card, refresh_card
from bot.drafting import DraftRequest
from bot.guardrail import find_unknown_numbers
from bot.models import Action, Draft, DraftState, Message, Turn
from bot.services import Services
from handlers import autosend

log = logging.getLogger(__name__)


async def on_buyer_message(svc: Services, message_id: int) -> Draft:
    """Draft, store and show; older pending drafts of the conversation are superseded."""
    store = svc.store
    message = store.message(message_id)
    draft = await write_draft(svc, message)
    for old in store.pending_drafts(message.conversation_id):
        if old.id != draft.id and old.message_id < message.id and store.close_draft(
            old.id, DraftState.SUPERSEDED, Action.DISCARD, "trademate", "system", svc.clock.now()
        ):
            await refresh_card(svc, old.id)
    stages.after_buyer_message(svc, message, draft)
    # Buyer messages go out at the team's default level (set by the manager in the team file).
    return await present_draft(svc, draft.id, autonomy=svc.team.autonomy_default)


async def present_draft(svc: Services, draft_id: int, *, autonomy: str = "approve",
                        template: str | None = None) -> Draft:
    """Put a stored draft in front of the rep. The one path every draft takes (buyer messages,
    follow-ups, /analyze), so the autonomy policy applies to all of them.

    `autonomy` is the level the caller's policy allows ("approve", "auto_if_safe", "auto");
    `template` names a templates.yaml entry to use outside WhatsApp's 24-hour window.
    """
    store = svc.store
    if template is not None:
        if svc.templates.by_name(template) is None:
            log.warning("draft %s asks for template %r, which is not in templates.yaml", draft_id, template)
        else:
            store_autonomy.remember_template(store, draft_id, template)
    autosend.plan(svc, draft_id, autonomy)  # before the card, so the card shows Cancel when it will go by itself
    try:
        card_ref = await svc.surface.request_approval(build_card(svc, draft_id))
    except BaseException:
        autosend.unplan(svc, draft_id)  # nothing goes out by itself unless the rep could see Cancel
        raise
    store.set_card_ref(draft_id, card_ref)
    return store.draft(draft_id)


async def write_draft(svc: Services, message: Message, *, attempt: int = 1, card_ref: str | None = None,
                      hint: str | None = None) -> Draft:
    """One drafting call for `message`, checked by the number guardrail, stored as pending."""
    store = svc.store
    contact = store.contact(message.contact_id)
    owner = ownership.ensure_owner(svc, message.conversation_id)  # a new buyer gets a rep here, once
    history = store.history(message.conversation_id, message.id, svc.history_size)
    request = DraftRequest(
        message=message.body,
        history=tuple(Turn("buyer" if m.direction == "in" else "rep", m.body, m.at) for m in history),
        rep_language=ownership.rep_language(svc, owner),
        buyer_name=contact.name,
        buyer_country=contact.country,
        hint=hint,
        attempt=attempt,
    )
    result = await svc.drafter.draft(request)
    unknown = find_unknown_numbers(result.reply, svc.catalog, [m.body for m in history] + [message.body])
    return store.add_draft(message, result, unknown, svc.clock.now(), version=attempt, card_ref=card_ref)


async def show_unshown(svc: Services, *, older_than: datetime | None = None) -> int:
    """Show drafts whose card never got out (a crash, or the surface being down). `older_than`
    skips drafts so recent that their card may still be on its way."""
    count = 0
    for draft in svc.store.pending_drafts():
        if draft.card_ref is None and (older_than is None or draft.created_at < older_than):
            count += await _retry(svc, f"show draft {draft.id}", present_draft(svc, draft.id))
    return count


async def _retry(svc: Services, what: str, work: Coroutine[Any, Any, object]) -> int:
    """Run one piece of recovery work; a failure is logged and left for the next sweep."""
    try:
        await work
    except Exception:
        log.exception("could not %s; it is retried on the next sweep", what)
        return 0
    return 1
