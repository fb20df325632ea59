"""SMPP time formats (3.4 §7.1.1) and a submit_sm's validity_period, sans-IO.

Absolute: ``YYMMDDhhmmsstnnp`` (t tenths of a second, nn quarter hours between local
time and UTC, p ``+`` ahead of UTC or ``-`` behind).  Relative: ``YYMMDDhhmmss000R``
(years, months, days, hours, minutes, seconds from now; a year counts 365 days and a
month 30, as SMSCs commonly do).  Store-and-forward gives up on a message once its
validity has passed (it ends EXPIRED).
"""

from __future__ import annotations

import calendar

from router.smpp.codec import walk_short_message

YEAR = 365 * 86400
MONTH = 30 * 86400


class TimeFormatError(ValueError):
    """Not an SMPP absolute or relative time."""


def parse_time(text: str, now: float) -> float | None:
    """The instant (seconds since the epoch) an SMPP time names; None for ``""``."""
    if not text:
        return None
    if len(text) != 16 or not text[:13].isdigit() or not text[:13].isascii():
        raise TimeFormatError(f"{text!r}: expected 16 characters YYMMDDhhmmsstnnp")
    yy, mo, dd, hh, mi, ss = (int(text[i:i + 2]) for i in range(0, 12, 2))
    mark = text[15]
    if mark == "R":
        if text[12:15] != "000":
            raise TimeFormatError(f"{text!r}: a relative time ends in 000R")
        return now + yy * YEAR + mo * MONTH + dd * 86400 + hh * 3600 + mi * 60 + ss
    if mark not in "+-" or not text[13:15].isdigit():
        raise TimeFormatError(f"{text!r}: the last character is +, - or R")
    quarters = int(text[13:15])
    if not (1 <= mo <= 12 and 1 <= dd <= 31 and hh < 24 and mi < 60 and ss < 60
            and quarters <= 48):
        raise TimeFormatError(f"{text!r}: a field is out of range")
    local = calendar.timegm((2000 + yy, mo, dd, hh, mi, ss, 0, 0, 0)) + int(text[12]) / 10
    offset = quarters * 900
    return local - offset if mark == "+" else local + offset


def validity_period(body: bytes) -> str:
    """The validity_period field of a submit_sm body (``""`` when absent or unreadable)."""
    try:
        _, _, _, e4, e5, _ = walk_short_message(body)
    except Exception:
        return ""
    return body[e4 + 1:e5].decode("latin-1")
