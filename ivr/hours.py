"""Opening hours: weekly times, dated exceptions, Swedish public holidays (the `holidays`
package), the eves everyone treats as holidays (julafton, midsommarafton, nyårsafton) and the
bridge days (klämdagar) between a holiday and a weekend. Pure: the moment is passed in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

import holidays

Range = tuple[dt.time, dt.time]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@lru_cache(maxsize=64)
def public_holidays(year: int) -> dict[dt.date, str]:
    return dict(holidays.country_holidays("SE", years=year, language="sv").items())


@lru_cache(maxsize=64)
def eves(year: int) -> dict[dt.date, str]:
    """Julafton, nyårsafton, and midsommarafton (the Friday before midsommardagen)."""
    midsommardagen = next(d for d, n in public_holidays(year).items() if "Midsommar" in n)
    return {dt.date(year, 12, 24): "Julafton", dt.date(year, 12, 31): "Nyårsafton",
            midsommardagen - dt.timedelta(days=1): "Midsommarafton"}


def bridge_day(day: dt.date) -> str | None:
    """A weekday squeezed between a holiday and a weekend (klämdag), or None."""
    if day.weekday() >= 5:
        return None

    def off(d: dt.date) -> bool:
        return d.weekday() >= 5 or d in public_holidays(d.year) or d in eves(d.year)

    before, after = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
    holiday_near = (before in public_holidays(before.year)
                    or after in public_holidays(after.year))
    if holiday_near and off(before) and off(after) and not off(day):
        return "Klämdag"
    return None


@dataclass(frozen=True)
class Schedule:
    weekly: dict[int, tuple[Range, ...]]  # weekday (0 = Monday) -> ranges; missing: closed
    exceptions: dict[dt.date, tuple[Range, ...]] = field(default_factory=dict)  # () = closed
    holidays_closed: bool = True
    eves_closed: bool = True
    bridge_days: tuple[Range, ...] | None = None  # None: as a normal weekday

    def ranges_on(self, day: dt.date) -> tuple[tuple[Range, ...], str]:
        """The day's opening ranges and why (for `vaxel check` and the logs)."""
        if day in self.exceptions:
            return self.exceptions[day], "exception"
        if self.holidays_closed and day in public_holidays(day.year):
            return (), public_holidays(day.year)[day]
        if self.eves_closed and day in eves(day.year):
            return (), eves(day.year)[day]
        if self.bridge_days is not None and (name := bridge_day(day)):
            return self.bridge_days, name
        return self.weekly.get(day.weekday(), ()), DAYS[day.weekday()]

    def is_open(self, moment: dt.datetime) -> bool:
        ranges, _ = self.ranges_on(moment.date())
        t = moment.time()
        return any(start <= t < end for start, end in ranges)

    def next_change(self, moment: dt.datetime, days: int = 14) -> dt.datetime | None:
        """The next moment after `moment` at which open turns to closed or back, or None if
        nothing changes within `days` (always closed, or open round the clock)."""
        now_open = self.is_open(moment)
        for offset in range(days + 1):
            day = moment.date() + dt.timedelta(days=offset)
            ranges, _ = self.ranges_on(day)
            edges = sorted({t for r in ranges for t in r} | {dt.time(0)})
            for t in edges:
                candidate = dt.datetime.combine(day, t, moment.tzinfo)
                if candidate > moment and self.is_open(candidate) != now_open:
                    return candidate
        return None
