"""How often a five-field cron expression fires in an average month: the quantity of a schedule's usage
lines (pipeline runs, batch prediction jobs), counted over four years so leap days and weekday rules average
out.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools

_NAMES = {
    **{
        m: i
        for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)
    },
    **{d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))},
}
_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _cron_values(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            first, last = low, high
        else:
            start, dash, end = base.partition("-")
            first = int(_NAMES.get(start.upper(), start))
            last = int(_NAMES.get(end.upper(), end)) if dash else (high if step else first)
        values.update(range(first, last + 1, int(step) if step else 1))
    return values


@functools.lru_cache(maxsize=1024)  # pure, and a fleet's plans repeat a few schedules thousands of times
def runs_per_month(cron: str) -> float:
    """How often a five-field cron expression fires in an average month (cron's day-of-month OR
    day-of-week rule when both are restricted), counted over the four years 2024-2027."""
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"'{cron}' is not a five-field cron expression")
    minutes, hours, days, months, weekdays = (
        _cron_values(text, low, high) for text, (low, high) in zip(fields, _FIELDS, strict=True)
    )
    weekdays = {d % 7 for d in weekdays}  # 7 is Sunday too
    dom_any, dow_any = fields[2].startswith("*"), fields[4].startswith("*")
    firing_days = 0
    for year in range(2024, 2028):
        for month in months:
            for day in range(1, calendar.monthrange(year, month)[1] + 1):
                weekday = (dt.date(year, month, day).weekday() + 1) % 7  # cron: 0 = Sunday
                in_dom, in_dow = day in days, weekday in weekdays
                if dom_any and dow_any:
                    hit = True
                elif dom_any:
                    hit = in_dow
                elif dow_any:
                    hit = in_dom
                else:
                    hit = in_dom or in_dow
                firing_days += hit
    return firing_days * len(hours) * len(minutes) / 48
