"""The playbook engine's clock: send windows, business days and hours across zones, weekends and DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.business_time import MON_FRI, SUN_THU, Window, workdays_for, zone
from bot.playbooks import load_playbooks

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"


def window(tz: str, days: frozenset[int] = MON_FRI, start: int = 9, end: int = 18) -> Window:
    return Window(time(start), time(end), days, zone(tz))


def local(moment: datetime, tz: str) -> datetime:
    return moment.astimezone(zone(tz)).replace(tzinfo=None)


def test_business_days_skip_the_buyers_weekend() -> None:
    madrid = window("Europe/Madrid")
    friday_10 = datetime(2026, 3, 6, 10, 0, tzinfo=zone("Europe/Madrid"))
    assert local(madrid.after_business_days(friday_10, 3), "Europe/Madrid") == datetime(2026, 3, 11, 10, 0)
    # Riyadh works Sunday to Thursday: Thursday + 1 business day is Sunday, not Friday.
    riyadh = window("Asia/Riyadh", workdays_for("SA"))
    thursday_11 = datetime(2026, 3, 5, 11, 0, tzinfo=zone("Asia/Riyadh"))
    assert local(riyadh.after_business_days(thursday_11, 1), "Asia/Riyadh") == datetime(2026, 3, 8, 11, 0)
    assert workdays_for("SA") == SUN_THU and workdays_for("ES") == MON_FRI and workdays_for(None) == MON_FRI


def test_a_time_outside_the_window_moves_to_the_next_opening() -> None:
    shanghai = window("Asia/Shanghai")
    evening = datetime(2026, 3, 4, 20, 30, tzinfo=zone("Asia/Shanghai"))  # Wednesday 20:30
    assert local(shanghai.next_open(evening), "Asia/Shanghai") == datetime(2026, 3, 5, 9, 0)
    saturday = datetime(2026, 3, 7, 11, 0, tzinfo=zone("Asia/Shanghai"))
    assert local(shanghai.next_open(saturday), "Asia/Shanghai") == datetime(2026, 3, 9, 9, 0)
    early = datetime(2026, 3, 4, 7, 0, tzinfo=zone("Asia/Shanghai"))
    assert local(shanghai.next_open(early), "Asia/Shanghai") == datetime(2026, 3, 4, 9, 0)
    inside = datetime(2026, 3, 4, 12, 0, tzinfo=zone("Asia/Shanghai"))
    assert shanghai.next_open(inside) == inside and shanghai.contains(inside)
    assert not shanghai.contains(evening) and not shanghai.contains(saturday)


def test_business_hours_carry_over_night_and_weekend() -> None:
    ny = window("America/New_York")
    friday_1700 = datetime(2026, 3, 6, 17, 0, tzinfo=zone("America/New_York"))
    # one hour left on Friday, one more on Monday morning
    assert local(ny.after_business_hours(friday_1700, 2), "America/New_York") == datetime(2026, 3, 9, 10, 0)


def test_dst_spring_forward_keeps_wall_clock_send_times_and_real_working_hours() -> None:
    ny = window("America/New_York")
    # US clocks go forward on Sunday 8 March 2026 02:00. Friday 10:00 EST + 1 business day = Monday 10:00 EDT.
    friday = datetime(2026, 3, 6, 10, 0, tzinfo=zone("America/New_York"))
    monday = ny.after_business_days(friday, 1)
    assert local(monday, "America/New_York") == datetime(2026, 3, 9, 10, 0)
    assert monday - friday == timedelta(days=3, hours=-1)  # the weekend was one hour shorter
    assert monday.utcoffset() == timedelta(0) and monday.hour == 14  # stored in UTC; EDT is UTC-4

    # A 01:00-04:00 window holds only two real hours on the night the clocks jump from 02:00 to 03:00.
    night = Window(time(1), time(4), frozenset(range(7)), zone("America/New_York"))
    sunday_01 = datetime(2026, 3, 8, 1, 0, tzinfo=zone("America/New_York"))
    assert local(night.after_business_hours(sunday_01, 2), "America/New_York") == datetime(2026, 3, 8, 4, 0)
    assert local(night.after_business_hours(sunday_01, 2.5), "America/New_York") == datetime(2026, 3, 9, 1, 30)


def test_dst_fall_back_in_europe() -> None:
    berlin = window("Europe/Berlin")
    # Europe goes back on Sunday 25 October 2026 03:00 -> 02:00.
    friday = datetime(2026, 10, 23, 9, 30, tzinfo=zone("Europe/Berlin"))
    monday = berlin.after_business_days(friday, 1)
    assert local(monday, "Europe/Berlin") == datetime(2026, 10, 26, 9, 30)
    assert monday.astimezone(UTC).hour == 8  # CET is UTC+1 after the change (07:30 UTC before it)
    assert friday.astimezone(UTC).hour == 7


def test_southern_hemisphere_dst_and_unknown_zone_falls_back_to_utc() -> None:
    sydney = window("Australia/Sydney")
    # Sydney leaves DST on Sunday 5 April 2026.
    friday = datetime(2026, 4, 3, 16, 0, tzinfo=zone("Australia/Sydney"))
    assert local(sydney.after_business_days(friday, 1), "Australia/Sydney") == datetime(2026, 4, 6, 16, 0)
    assert zone("Mars/Olympus_Mons").key == "UTC" and zone(None).key == "UTC"


@pytest.mark.parametrize(("tz", "country", "expected_local"), [
    # After hours on Wednesday: 3 business days end Monday 19:00 (Madrid: Thu, Fri, Mon), also after hours
    ("Europe/Madrid", "ES", [datetime(2026, 3, 10, 9, 0), datetime(2026, 3, 16, 9, 0), datetime(2026, 3, 25, 9, 0)]),
    # Riyadh's week is Sunday-Thursday: Thu, Sun, Mon -> Tuesday 09:00 as well, skipping Friday and Saturday
    ("Asia/Riyadh", "SA", [datetime(2026, 3, 10, 9, 0), datetime(2026, 3, 16, 9, 0), datetime(2026, 3, 25, 9, 0)]),
])
def test_quote_playbook_due_times_in_the_buyers_zone(tz: str, country: str, expected_local: list[datetime]) -> None:
    playbook = load_playbooks(PLAYBOOKS).get("quote_no_reply")
    assert playbook is not None
    quoted = datetime(2026, 3, 4, 19, 0, tzinfo=zone(tz))  # Wednesday evening, the buyer's time
    due = playbook.due_times(quoted, tz, country)
    assert [local(d, tz) for d in due] == expected_local
