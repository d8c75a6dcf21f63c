"""Apply lifecycle signals to a conversation: the glue between `bot.lifecycle` rules and the store."""

from __future__ import annotations

import logging

from bot import lifecycle, store_lifecycle
from bot.models import Draft, Message
from bot.services import Services

log = logging.getLogger(__name__)


def after_buyer_message(svc: Services, message: Message, draft: Draft) -> str | None:
    """Move the stage on a buyer message and the intent its draft read; the new stage or None."""
    current = store_lifecycle.conversation(svc.store, message.conversation_id).stage
    change = lifecycle.from_buyer(current, draft.intent, message.body)
    return _apply(svc, message.conversation_id, current, change)


def after_rep_sent(svc: Services, conversation_id: int, sent_text: str) -> str | None:
    """Move the stage on a reply the provider accepted (a quote or PI means "quoted")."""
    current = store_lifecycle.conversation(svc.store, conversation_id).stage
    return _apply(svc, conversation_id, current, lifecycle.from_rep(current, sent_text))


def _apply(svc: Services, conversation_id: int, current: str, change: lifecycle.StageChange | None) -> str | None:
    if change is None:
        return None
    # `expected`: a rep's correction that landed in between wins over this automatic signal.
    if store_lifecycle.set_stage(svc.store, conversation_id, change.to, by="trademate", reason=change.reason,
                                 now=svc.clock.now(), expected=current):
        log.info("conversation %s: %s -> %s (%s)", conversation_id, current, change.to, change.reason)
        return change.to
    return None
