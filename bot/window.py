"""WhatsApp's 24-hour customer-service window (pure).

A business may send free-form WhatsApp messages only until 24 hours after the buyer's last
inbound message; after that only an approved template goes through (Twilio refuses with
63016). SMS has no window. All times are compared as aware UTC instants, so the buyer's and
the rep's time zones play no part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class WindowState:
    applies: bool  # False for SMS and the console: no window at all
    open: bool  # free-form text may be sent now
    closes_at: datetime | None = None
    remaining: timedelta | None = None

    @property
    def template_only(self) -> bool:
        return self.applies and not self.open


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def window_state(channel: str, last_inbound_at: datetime | None, now: datetime) -> WindowState:
    """The window for a contact on `channel` whose last message arrived at `last_inbound_at`.

    Open while now < last inbound + 24 h: at exactly 24 h it is closed.
    """
    if channel != "whatsapp":
        return WindowState(applies=False, open=True)
    if last_inbound_at is None:
        return WindowState(applies=True, open=False)  # the buyer never wrote: templates only
    closes = _utc(last_inbound_at) + WINDOW
    left = closes - _utc(now)
    if left <= timedelta(0):
        return WindowState(applies=True, open=False, closes_at=closes, remaining=timedelta(0))
    return WindowState(applies=True, open=True, closes_at=closes, remaining=left)


def format_remaining(left: timedelta) -> str:
    """"3 h 20 min", "45 min", "less than a minute" (rounded down: never promise time that is not there)."""
    minutes = int(left.total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def describe(state: WindowState) -> str | None:
    """The card's line about the window; None where there is no window (SMS)."""
    if not state.applies:
        return None
    if not state.open:
        return "window closed: template only"
    assert state.remaining is not None
    return f"window closes in {format_remaining(state.remaining)}"
