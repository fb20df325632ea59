"""Monthly partitions: naming, the month of a time or a message id, what retention drops.

Months are UTC calendar months, named ``YYYY-MM`` for people and ``YYYY_MM`` in table
names.
"""

from __future__ import annotations

import calendar
import re
import time

MIN_RETENTION_MONTHS = 6
"""Requirements §4: logs kept at least six months (Iran)."""

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_of(at: float) -> str:
    """``YYYY-MM`` of an epoch time (UTC)."""
    t = time.gmtime(at)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}"


def month_of_id(message_id: int) -> str:
    """Our ids carry their time (ms since epoch << 16): the month a record lives in."""
    return month_of((message_id >> 16) / 1000.0)


def first_id(month: str) -> int:
    """The first message id of ``month``: its ids are [first_id(m), first_id(next))."""
    return int(month_start(month) * 1000) << 16


def parse_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` -> (year, month); ValueError with a readable message otherwise."""
    match = _MONTH.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a month (YYYY-MM)")
    return int(match.group(1)), int(match.group(2))


def table_suffix(month: str) -> str:
    year, mon = parse_month(month)
    return f"{year:04d}_{mon:02d}"


def month_start(month: str) -> float:
    """Epoch seconds at the first instant of ``month`` (UTC)."""
    year, mon = parse_month(month)
    return float(calendar.timegm((year, mon, 1, 0, 0, 0, 0, 0, 0)))


def shift(month: str, months: int) -> str:
    year, mon = parse_month(month)
    index = year * 12 + (mon - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def between(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` inclusive."""
    out = []
    month = first
    while month <= last:
        out.append(month)
        month = shift(month, 1)
    return out


def expired(months: list[str], retention_months: int, now: float) -> list[str]:
    """Partitions wholly older than the retention: a month goes once its *last* day is
    more than ``retention_months`` whole months back (so nothing younger than the
    retention is ever dropped)."""
    oldest_kept = shift(month_of(now), -retention_months)
    return sorted(m for m in months if m < oldest_kept)
