"""Sender lines (سرشماره): who owns a number, what kind it is, when it may send.

A line belongs to one account.  A **service** line may reach only its owner's registered
customers (the line's whitelist), blacklisted or not; an **advertising** line may reach
anyone except the operator blacklist and the people who opted out of it.  Bank-
transaction and government lines are service lines that need no customer list.  A
service line caught advertising is demoted (or suspended) by the violations policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

LineKind = Literal["service", "advertising"]
Exemption = Literal["", "bank_transaction", "government"]
LineStatus = Literal["active", "suspended", "demoted"]
KINDS: tuple[LineKind, ...] = ("service", "advertising")
EXEMPTIONS: tuple[Exemption, ...] = ("", "bank_transaction", "government")
LINE_STATUSES: tuple[LineStatus, ...] = ("active", "suspended", "demoted")


class HoursError(ValueError):
    """Sending hours not in the ``HH:MM-HH:MM`` form."""


def parse_hours(text: str) -> tuple[int, int] | None:
    """``"09:00-21:00"`` -> minutes (540, 1260); ``""`` -> None (any time).  A window
    whose end is before its start runs over midnight (``"22:00-06:00"``)."""
    text = text.strip()
    if not text:
        return None
    try:
        start, end = (part.strip() for part in text.split("-"))
        return _minutes(start), _minutes(end)
    except ValueError:
        raise HoursError(f"sending hours {text!r}: expected HH:MM-HH:MM") from None


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    value = int(hours) * 60 + int(minutes)
    if not (0 <= int(minutes) < 60 and 0 <= value <= 24 * 60):
        raise ValueError(hhmm)
    return value


def within(hours: tuple[int, int] | None, minute_of_day: int) -> bool:
    """``minute_of_day`` inside a window of ``parse_hours`` (None: any time)."""
    if hours is None:
        return True
    start, end = hours
    if start <= end:
        return start <= minute_of_day < end
    return minute_of_day >= start or minute_of_day < end


def format_hours(hours: tuple[int, int] | None) -> str:
    if hours is None:
        return ""
    return "-".join(f"{m // 60:02d}:{m % 60:02d}" for m in hours)


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    number: str
    """As the ESME puts it in source_addr (e.g. ``30001234``, ``9821…``)."""
    account: str
    kind: LineKind = "advertising"
    exemption: Exemption = ""
    status: LineStatus = "active"
    purpose: str = ""
    operator: str = ""
    hours: tuple[int, int] | None = None
    """Allowed sending window in minutes of the local day; None = any time."""
    status_reason: str = ""
    priority: bool = False
    """Its messages take the carriers' priority lane (OTP lines), like priority_flag >= 2."""
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def effective_kind(self) -> LineKind:
        """A demoted service line sends under the advertising rules."""
        return "advertising" if self.status == "demoted" else self.kind

    def open_at(self, minute_of_day: int) -> bool:
        return within(self.hours, minute_of_day)


class LineBook:
    """All lines by number, rebuilt and swapped whole when the registry changes."""

    __slots__ = ("by_number", "priority")

    def __init__(self, lines: Iterable[Line] = ()) -> None:
        self.by_number: dict[str, Line] = {line.number: line for line in lines}
        self.priority: frozenset[str] = frozenset(
            n for n, line in self.by_number.items() if line.priority)
        """Numbers of the lines marked ``priority``: one set lookup a message."""

    def get(self, number: str) -> Line | None:
        return self.by_number.get(number)

    def replaced(self, line: Line | None, number: str) -> LineBook:
        """A new book with one line added, changed or (None) removed."""
        book = LineBook()
        book.by_number = dict(self.by_number)
        if line is None:
            book.by_number.pop(number, None)
        else:
            book.by_number[number] = line
        book.priority = frozenset(n for n, ln in book.by_number.items() if ln.priority)
        return book

    def of_account(self, account: str) -> list[Line]:
        return [line for line in self.by_number.values() if line.account == account]
