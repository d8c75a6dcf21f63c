"""Hand approved replies to the buyer channel exactly once, and finish what a crash interrupted.

An outbox row is claimed (pending -> sending) by one caller only; the provider's answer is
recorded on the row. A row found in `sending` at start-up was interrupted mid-call: the
provider is asked whether it already accepted the message before anything is resent.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot import stages, store_autonomy
from bot.cards import refresh_card
from bot.errors import ChannelCannotVerify, ChannelRefused, ChannelUnavailable, describe_provider_error
from bot.models import OutboxState
from bot.services import Services
from bot.templates import TemplateChannel

log = logging.getLogger(__name__)


async def deliver(svc: Services, outbox_id: int) -> None:
    store, now = svc.store, svc.clock.now()
    if not store.claim_outbound(outbox_id, now):
        return  # another caller owns it, or it is already done
    row = store.outbound(outbox_id)
    await _send_claimed(svc, row.id)


async def _send_claimed(svc: Services, outbox_id: int) -> None:
    store = svc.store
    row = store.outbound(outbox_id)
    template = store_autonomy.outbox_template(store, row.id)
    try:
        if template is not None:
            if not isinstance(svc.channel, TemplateChannel):
                raise ChannelRefused("templates", f"the {svc.channel.name} channel cannot send templates")
            receipt = await svc.channel.send_template(row.to, template[0], template[1], idem_key=row.idem_key)
        else:
            receipt = await svc.channel.send(row.to, row.body, idem_key=row.idem_key)
    except ChannelRefused as exc:
        store.mark_outbound(row.id, OutboxState.REFUSED, svc.clock.now(), error_code=exc.code,
                            error_message=exc.message)
        log.warning("send refused for %s: %s", row.idem_key, describe_provider_error(exc.code, exc.message))
    except ChannelUnavailable as exc:
        store.mark_outbound(row.id, OutboxState.FAILED, svc.clock.now(), error_message=str(exc))
        log.warning("send failed for %s: %s", row.idem_key, exc)
    else:
        _record_sent(svc, row.id, receipt.provider_id, receipt.state)
    await refresh_card(svc, row.draft_id)


def _record_sent(svc: Services, outbox_id: int, provider_id: str, state: OutboxState) -> None:
    store, now = svc.store, svc.clock.now()
    row = store.outbound(outbox_id)
    store.mark_outbound(row.id, state, now, provider_id=provider_id)
    draft = store.draft(row.draft_id)
    message = store.message(draft.message_id)
    store.add_outbound_message(draft.conversation_id, message.contact_id, row.body, provider_id, now)
    stages.after_rep_sent(svc, draft.conversation_id, row.body)


async def resume(svc: Services) -> int:
    """Finish every outbox row a previous process left unfinished; return how many."""
    rows = svc.store.unfinished_outbound()
    for row in rows:
        if row.state is OutboxState.PENDING:
            await deliver(svc, row.id)
            continue
        # `sending`: the provider may or may not have accepted it before the crash.
        since = (row.updated_at or svc.clock.now()) - timedelta(minutes=5)
        try:
            found = await svc.channel.find_sent(row.to, row.body, since)
        except ChannelUnavailable as exc:
            log.warning("cannot check provider for %s, leaving it for the next start: %s", row.idem_key, exc)
            continue
        except ChannelCannotVerify as exc:
            # Resending could double the reply; not resending could lose it: the rep decides.
            svc.store.mark_outbound(row.id, OutboxState.FAILED, svc.clock.now(), error_message=str(exc))
            await refresh_card(svc, row.draft_id)
            continue
        if found is not None:
            _record_sent(svc, row.id, found.provider_id, found.state)
            await refresh_card(svc, row.draft_id)
        else:
            await _send_claimed(svc, row.id)
    return len(rows)
