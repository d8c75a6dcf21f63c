"""The 24-hour window maths: UTC instants, the exact edge, SMS without a window, the card's words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from bot.window import describe, format_remaining, window_state

LAST = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)


def test_open_until_just_before_24_hours() -> None:
    state = window_state("whatsapp", LAST, LAST + timedelta(hours=23, minutes=59, seconds=59))
    assert state.open and state.remaining == timedelta(seconds=1)
    assert describe(state) == "window closes in less than a minute"


def test_closed_at_exactly_24_hours_and_after() -> None:
    for later in (timedelta(hours=24), timedelta(hours=24, microseconds=1), timedelta(days=9)):
        state = window_state("whatsapp", LAST, LAST + later)
        assert not state.open and state.template_only
        assert describe(state) == "window closed: template only"


def test_remaining_is_rounded_down() -> None:
    state = window_state("whatsapp", LAST, LAST + timedelta(hours=20, minutes=39, seconds=30))
    assert describe(state) == "window closes in 3 h 20 min"
    assert format_remaining(timedelta(minutes=45, seconds=59)) == "45 min"
    assert format_remaining(timedelta(hours=24)) == "24 h"


def test_time_zones_do_not_matter() -> None:
    # The same instants written in other zones (and across a DST change night) give the same answer.
    madrid_summer = timezone(timedelta(hours=2))
    kolkata = timezone(timedelta(hours=5, minutes=30))
    now = (LAST + timedelta(hours=3)).astimezone(kolkata)
    a = window_state("whatsapp", LAST.astimezone(madrid_summer), now)
    b = window_state("whatsapp", LAST, LAST + timedelta(hours=3))
    assert a == b and a.remaining == timedelta(hours=21)
    naive_utc = LAST.replace(tzinfo=None)  # stored without a zone: read as UTC
    assert window_state("whatsapp", naive_utc, LAST + timedelta(hours=3)) == b


def test_sms_has_no_window_and_a_buyer_who_never_wrote_gets_templates_only() -> None:
    sms = window_state("sms", LAST, LAST + timedelta(days=30))
    assert sms.open and not sms.applies and describe(sms) is None
    never = window_state("whatsapp", None, LAST)
    assert not never.open and describe(never) == "window closed: template only"
