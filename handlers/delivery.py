"""The provider reported what happened to a reply (queued, sent, delivered, read, failed)."""

from __future__ import annotations

from bot.models import Outbound, OutboxState
from bot.services import Services


def on_delivery_status(svc: Services, provider_id: str, status: str, error_code: str | None = None,
                       error_message: str | None = None) -> Outbound | None:
    """Move the outbound message forward; the changed row, or None if unknown, untracked or stale.

    Synchronous on purpose: the webhook acknowledges once this is on disk, and the card
    refresh (a network call) happens after the ack.
    """
    try:
        state = OutboxState(status)
    except ValueError:
        return None  # statuses we do not track (e.g. 'accepted', 'scheduled')
    return svc.store.advance_status(provider_id, state, svc.clock.now(), error_code, error_message)
