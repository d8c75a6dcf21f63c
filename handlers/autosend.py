"""Autonomy and the WhatsApp window at work: plan automatic sends, fire them after the undo delay,
Cancel, and "Send template instead".

An automatic send is a row in `auto_sends` (it survives a restart); one scheduler job fires the
due rows every few seconds. Cancel and fire both leave `pending` through one conditional UPDATE,
so exactly one of them wins. The policy is checked when the draft is shown and again when the row
fires (the window may have closed, the buyer may have opted out, a newer message may have
replaced the draft).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot import policy, store_autonomy
from bot.card_state import needs_template, template_for, template_variables, window_for
from bot.cards import refresh_card
from bot.models import ButtonPress, CommandReply, Contact, Draft, DraftState
from bot.outbox import deliver
from bot.scheduler import Scheduler
from bot.services import Services
from bot.templates import Template, render_preview
from handlers.commands import button

log = logging.getLogger(__name__)
SURFACE = "auto"
ACTOR = "trademate"


def plan(svc: Services, draft_id: int, requested: str | None) -> policy.Verdict:
    """Decide whether this draft may go out by itself; if so, schedule it after the undo delay."""
    store, now = svc.store, svc.clock.now()
    draft = store.draft(draft_id)
    contact = store.contact(store.message(draft.message_id).contact_id)
    try:
        level = policy.effective_level(requested, svc.team.autonomy_default, svc.team.autonomy_ceiling)
    except ValueError:
        # A bad level must not keep the card from the rep; the safe reading is "wait for a tap".
        log.error("draft %s: unknown autonomy level %r, waiting for a tap", draft_id, requested)
        level = "approve"
    verdict = _verdict(svc, level, draft, contact)
    if verdict.auto and draft.state is DraftState.PENDING:
        store_autonomy.schedule_auto_send(store, draft_id, level, now + timedelta(seconds=svc.undo_seconds), now)
    elif level != "approve":
        log.info("draft %s waits for a tap (%s): %s", draft_id, level, verdict.explanation)
    return verdict


def unplan(svc: Services, draft_id: int) -> None:
    """Drop a planned automatic send whose card could not be shown."""
    store_autonomy.close_auto_send(svc.store, draft_id, "dropped", ACTOR, svc.clock.now())


async def fire_due(svc: Services) -> int:
    """Send every automatic send whose undo delay is over; return how many went to the channel."""
    fired = 0
    for auto in store_autonomy.due_auto_sends(svc.store, svc.clock.now()):
        try:
            fired += await _fire_one(svc, auto)
        except Exception:
            # One broken row must not hold up the others at every tick.
            log.exception("automatic send of draft %s failed", auto.draft_id)
    return fired


async def _fire_one(svc: Services, auto: store_autonomy.AutoSend) -> int:
    store, now = svc.store, svc.clock.now()
    draft = store.draft(auto.draft_id)
    contact = store.contact(store.message(draft.message_id).contact_id)
    still = _verdict(svc, auto.policy, draft, contact)
    if not still.auto:
        if store_autonomy.close_auto_send(store, draft.id, "dropped", ACTOR, now):
            log.info("automatic send of draft %s dropped: %s", draft.id, still.explanation)
            await refresh_card(svc, draft.id)
        return 0
    body, template = draft.text, None
    chosen = _chosen_outside_window(svc, draft, contact)
    if chosen is not None:
        variables = template_variables(svc, chosen, draft, store.message(draft.message_id), contact)
        body, template = render_preview(chosen, variables), (chosen.content_sid, variables)
    outbound = store_autonomy.fire_auto_send(store, auto.id, contact.address, body, now, template)
    if outbound is None:
        return 0  # cancelled, decided by a rep, or replaced in the meantime
    await refresh_card(svc, draft.id)
    await deliver(svc, outbound.id)
    return 1


def _chosen_outside_window(svc: Services, draft: Draft, contact: Contact) -> Template | None:
    """The template a playbook step chose for this draft, when only a template can reach the buyer."""
    name = store_autonomy.chosen_template(svc.store, draft.id)
    if name is None or not window_for(svc, contact, draft.conversation_id).template_only:
        return None
    return svc.templates.by_name(name)


def _verdict(svc: Services, level: str, draft: Draft, contact: Contact) -> policy.Verdict:
    blocked = store_autonomy.buyer_blocked(svc.store, contact.id)
    if _chosen_outside_window(svc, draft, contact) is not None:
        return policy.decide_template(level, buyer_blocked=blocked)
    return policy.decide(level, flags=draft.flags, unknown_numbers=draft.unknown_numbers,
                         window_open=window_for(svc, contact, draft.conversation_id).open, buyer_blocked=blocked)


def tick_seconds(undo_seconds: float) -> float:
    """How often to look for due sends: a fifth of the delay, between 50 ms and 15 s."""
    return min(15.0, max(0.05, undo_seconds / 5))


def schedule(scheduler: Scheduler, svc: Services) -> None:
    async def job() -> None:
        await fire_due(svc)

    scheduler.every("auto_sends", tick_seconds(svc.undo_seconds), job)


def _draft_id(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


@button("auto_cancel")
async def cancel_auto_send(svc: Services, press: ButtonPress) -> CommandReply | None:
    """Cancel: the draft stays on the card for a normal decision; nothing goes out by itself."""
    draft_id = _draft_id(press.value)
    if draft_id is None:
        return CommandReply("That Cancel button is not valid.", ephemeral=True)
    if store_autonomy.close_auto_send(svc.store, draft_id, "cancelled", press.actor, svc.clock.now()):
        await refresh_card(svc, draft_id)
        return None
    auto = store_autonomy.auto_send_for(svc.store, draft_id)
    if auto is not None and auto.state == "fired":
        return CommandReply("Too late: Trademate already sent it (the undo delay was over).", ephemeral=True)
    return CommandReply("There is no automatic send waiting on this draft.", ephemeral=True)


async def window_refusal(svc: Services, draft_id: int) -> str | None:
    """Before a free-form send: a sentence for the rep when the WhatsApp window is closed."""
    draft = svc.store.draft(draft_id)
    contact = svc.store.contact(svc.store.message(draft.message_id).contact_id)
    window = window_for(svc, contact, draft.conversation_id)
    if not window.template_only:
        return None
    await refresh_card(svc, draft_id)  # now showing the template offer
    offer = template_for(svc, draft)
    if offer is None:
        return ("The buyer's 24-hour WhatsApp window has closed, so WhatsApp will not deliver free text, and "
                "no approved template fits; add one to templates.yaml.")
    return (f"The buyer's 24-hour WhatsApp window has closed; free text would be refused. Tap "
            f"'Send template instead' to send the approved template '{offer.name}'.")


@button("template_send")
async def send_template_instead(svc: Services, press: ButtonPress) -> CommandReply | None:
    draft_id = _draft_id(press.value)
    if draft_id is None:
        return CommandReply("That template button is not valid.", ephemeral=True)
    store, now = svc.store, svc.clock.now()
    try:
        draft = store.draft(draft_id)
    except KeyError:
        return CommandReply("This card refers to a draft Trademate no longer has.", ephemeral=True)
    message = store.message(draft.message_id)
    contact = store.contact(message.contact_id)
    if not needs_template(draft, window_for(svc, contact, draft.conversation_id), store.outbound_for_draft(draft_id)):
        return CommandReply("No template is needed for this draft (or one was already sent).", ephemeral=True)
    template = template_for(svc, draft)
    if template is None:
        return CommandReply("No approved template fits this draft; add one to templates.yaml.", ephemeral=True)
    variables = template_variables(svc, template, draft, message, contact)
    outbound = store_autonomy.approve_template(store, draft_id, press.actor, press.surface, contact.address,
                                               render_preview(template, variables), template.content_sid,
                                               variables, now)
    if outbound is None:
        return CommandReply("The template for this draft was already sent.", ephemeral=True)
    await refresh_card(svc, draft_id)
    await deliver(svc, outbound.id)
    return None
