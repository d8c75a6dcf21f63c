"""When follow-ups stop: the buyer replies, opts out, the stage moves on, or the rep answers.

`on_buyer_message` runs first thing for every new buyer message (from `handlers.inbound`):
an opt-out is recorded and the rep told; any reply stops the conversation's enrollments
(HubSpot-style auto-unenroll) and may start an "inquiry unanswered" one. `stop_reason` is asked
again just before a follow-up fires, so a rule holds even if the hook ran late.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot import store_followups as sf
from bot.models import Enrollment, Message
from bot.optout import opt_out_phrase
from bot.playbooks import InquiryUnanswered, Playbook
from bot.services import Services

log = logging.getLogger(__name__)


def zone_for(svc: Services, playbook: Playbook, conv: sf.ConversationView) -> tuple[str | None, str | None]:
    """(time zone, country) whose clock and working week the playbook's waits use."""
    if playbook.spec.timezone == "rep":
        rep = (svc.team.by_name(conv.owner) if conv.owner else None) or svc.team.sellers[0]
        return rep.timezone, None
    return conv.timezone, conv.country


def enroll(svc: Services, playbook: Playbook, conv: sf.ConversationView, trigger_key: str, anchor: datetime,
           *, stage: str | None = None, actor: str | None = None, manual: bool = False) -> int | None:
    """Enroll once per trigger instance; None if it already was, or the buyer opted out.

    A manual enrollment (/enroll) is stopped by a reply or an opt-out, not by the stage."""
    if sf.is_opted_out(svc.store, conv.contact_id):
        return None
    timezone, country = zone_for(svc, playbook, conv)
    trigger_type = "manual" if manual else playbook.trigger.type
    return sf.enroll(svc.store, conv.id, playbook.name, trigger_key, trigger_type, stage, anchor,
                     playbook.due_times(anchor, timezone, country), svc.clock.now(), actor=actor)


async def on_buyer_message(svc: Services, message: Message) -> bool:
    """Apply the stop rules a buyer message triggers; True if the message was an opt-out."""
    store, now = svc.store, svc.clock.now()
    conv = sf.conversation(store, message.conversation_id)
    phrase = opt_out_phrase(message.body)
    if phrase is not None:
        stopped = sf.active_enrollments(store, conv.id)
        for enrollment in stopped:
            sf.stop_enrollment(store, enrollment.id, "the buyer opted out", now)
        if sf.record_opt_out(store, message.contact_id, message.id, phrase, now):
            try:
                await svc.surface.post(
                    f":no_entry: {conv.buyer} opted out (“{message.body.strip()[:60]}”). Trademate will not message "
                    f"them again; {len(stopped)} follow-up playbook(s) stopped and any reply to them will be refused."
                )
            except Exception:  # the opt-out is recorded and enforced; a surface hiccup must not block the card
                log.exception("could not tell the rep that %s opted out", conv.buyer)
        return True
    for enrollment in sf.active_enrollments(store, conv.id):
        if enrollment.trigger_type != "inquiry_unanswered":
            sf.stop_enrollment(store, enrollment.id, "the buyer replied", now)
    for playbook in svc.playbooks.by_trigger("inquiry_unanswered"):
        trigger = playbook.trigger
        assert isinstance(trigger, InquiryUnanswered)
        waiting = sf.first_unanswered(store, conv.id)
        if conv.stage in trigger.stages and waiting is not None:
            enroll(svc, playbook, conv, f"inquiry:{waiting[0]}", waiting[1])
    return False


def stop_reason(svc: Services, enrollment: Enrollment, conv: sf.ConversationView) -> str | None:
    """Why this enrollment must not fire now, in words for the rep; None if it may."""
    store = svc.store
    if sf.is_opted_out(store, conv.contact_id):
        return "the buyer opted out"
    if enrollment.trigger_type == "stage_entered" and conv.stage != enrollment.stage:
        return f"the stage changed to {conv.stage}"
    if enrollment.trigger_type == "inquiry_unanswered":
        answered = sf.last_at(store, conv.id, "out")
        return "the rep answered" if answered is not None and answered >= enrollment.anchor_at else None
    replied = sf.last_at(store, conv.id, "in")
    if replied is not None and replied > enrollment.anchor_at:
        return "the buyer replied"
    if enrollment.trigger_type == "silence":
        written = sf.last_at(store, conv.id, "out")
        if written is not None and written > enrollment.anchor_at:
            return "the conversation picked up again"
    return None
