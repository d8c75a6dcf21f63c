"""Business-time arithmetic in someone's own time zone: send windows, working days, working hours.

Pure functions on aware datetimes. Wall-clock questions ("is it 09:00 on a Monday in Riyadh?")
are answered in the zone with zoneinfo; durations ("two working hours") are measured between
UTC instants, so a DST change in the middle of a wait neither adds nor loses an hour of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MON_FRI = frozenset({0, 1, 2, 3, 4})
SUN_THU = frozenset({6, 0, 1, 2, 3})
# Countries whose working week is not Monday-Friday (weekday numbers: Monday = 0).
WORKDAYS_BY_COUNTRY: dict[str, frozenset[int]] = {
    **{c: SUN_THU for c in ("SA", "KW", "QA", "BH", "OM", "JO", "EG", "IQ", "YE", "DZ", "LY", "SY", "SD",
                            "IL", "BD", "MV")},
    "IR": frozenset({5, 6, 0, 1, 2, 3}),  # Friday off
    "AF": frozenset({5, 6, 0, 1, 2}),  # Thursday and Friday off
    "NP": frozenset({6, 0, 1, 2, 3, 4}),  # Saturday off
}
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def workdays_for(country: str | None) -> frozenset[int]:
    return WORKDAYS_BY_COUNTRY.get((country or "").upper(), MON_FRI)


def zone(name: str | None) -> ZoneInfo:
    """The named IANA zone; UTC when the name is missing or unknown (a phone number without a zone)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Window:
    """When messages may go out: `start`-`end` local time on `days`, in `tz`."""

    start: time
    end: time
    days: frozenset[int]
    tz: ZoneInfo

    def _at(self, day: date, moment: time) -> datetime:
        return datetime.combine(day, moment, tzinfo=self.tz).astimezone(UTC)

    def contains(self, t: datetime) -> bool:
        local = t.astimezone(self.tz)
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_open(self, t: datetime) -> datetime:
        """`t` itself if inside the window, else the next moment the window opens."""
        local = t.astimezone(self.tz)
        day = local.date()
        if day.weekday() in self.days:
            if self.start <= local.time() < self.end:
                return t.astimezone(UTC)
            if local.time() < self.start:
                return self._at(day, self.start)
        return self._at(self._next_workday(day), self.start)

    def _next_workday(self, day: date) -> date:
        day += timedelta(days=1)
        while day.weekday() not in self.days:
            day += timedelta(days=1)
        return day

    def closes(self, t: datetime) -> datetime:
        """End of the window that contains `t` (call with `t` inside the window)."""
        return self._at(t.astimezone(self.tz).date(), self.end)

    def after_business_days(self, t: datetime, n: int) -> datetime:
        """`n` working days after `t`, at the same local time of day, moved into the window."""
        local = t.astimezone(self.tz)
        day = local.date()
        for _ in range(n):
            day = self._next_workday(day)
        return self.next_open(datetime.combine(day, local.time(), tzinfo=self.tz))

    def after_calendar_days(self, t: datetime, n: int) -> datetime:
        local = t.astimezone(self.tz)
        moved = datetime.combine(local.date() + timedelta(days=n), local.time(), tzinfo=self.tz)
        return self.next_open(moved)

    def after_business_hours(self, t: datetime, hours: float) -> datetime:
        """The moment `hours` of open window have passed since `t` (counting only window time)."""
        remaining = timedelta(hours=hours)
        cursor = self.next_open(t)
        while True:
            available = self.closes(cursor) - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
            cursor = self.next_open(self.closes(cursor))


def parse_hhmm(value: str) -> time:
    hour, _, minute = value.partition(":")
    return time(int(hour), int(minute or 0))
