"""Expiry dates in customer files: ISO-like Gregorian dates, Solar Hijri (Jalali) dates
such as ``۱۴۰۵/۱۰/۱۰``, Persian or Arabic-Indic digits, and Excel date cells."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from router.ingest.result import Cell
from router.policy.numbers import Invalid

_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?")
_DIGITS = str.maketrans(
    {**{0x06F0 + i: str(i) for i in range(10)}, **{0x0660 + i: str(i) for i in range(10)}}
)
_JALALI_EPOCH = date(2024, 3, 20)  # 1 Farvardin 1403
_JALALI_EPOCH_YEAR = 1403
_JALALI_LEAP_REMAINDERS = frozenset({1, 5, 9, 13, 17, 22, 26, 30})  # 33-year cycle


def _jalali_year_length(year: int) -> int:
    return 366 if year % 33 in _JALALI_LEAP_REMAINDERS else 365


def _jalali_to_gregorian(year: int, month: int, day: int) -> date | None:
    """Solar Hijri date -> Gregorian, by counting days from 1 Farvardin 1403.

    Leap years follow the 33-year arithmetic cycle, which matches the official
    (astronomical) calendar for 1343-1472 AP; outside that range we refuse.
    """
    if not 1343 <= year <= 1472 or not 1 <= month <= 12:
        return None
    month_length = 31 if month <= 6 else 30 if month <= 11 else _jalali_year_length(year) - 336
    if not 1 <= day <= month_length:
        return None
    days = 0
    if year >= _JALALI_EPOCH_YEAR:
        days += sum(_jalali_year_length(y) for y in range(_JALALI_EPOCH_YEAR, year))
    else:
        days -= sum(_jalali_year_length(y) for y in range(year, _JALALI_EPOCH_YEAR))
    days += (month - 1) * 31 if month <= 7 else 186 + (month - 7) * 30
    days += day - 1
    return _JALALI_EPOCH + timedelta(days=days)


def parse_expiry(value: Cell) -> date | Invalid | None:
    """An expiry cell: empty -> None; ``2026-12-31`` / ``2026/12/31`` (any digits, also
    Persian), a Solar Hijri date such as ``۱۴۰۵/۱۰/۱۰`` (years 1343-1472), or an Excel
    date cell -> the date; anything else -> Invalid."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).translate(_DIGITS).strip()
    if not text:
        return None
    m = _DATE.fullmatch(text)
    if m is None:
        return Invalid("bad_expiry", f"expiry {str(value)!r} is not a date like 2026-12-31")
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if year < 1700:
        jalali = _jalali_to_gregorian(year, month, day)
        if jalali is None:
            return Invalid("bad_expiry", f"expiry {str(value)!r} is not a valid Solar Hijri date")
        return jalali
    try:
        return date(year, month, day)
    except ValueError:
        return Invalid("bad_expiry", f"expiry {str(value)!r} is not a valid date")
