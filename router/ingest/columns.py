"""Finding the number and expiry columns, and the delimiter, from a sample of the file:
header names first (English, Persian, Chinese), else what the data looks like."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Literal

from router.ingest.dates import parse_expiry
from router.policy.numbers import Invalid, normalise
from router.policy.plans import Operators

SNIFF_ROWS = 50
_DELIMITERS = (",", ";", "\t", "|")

_NUMBER_HEADERS = (
    "mobile", "msisdn", "phone", "number", "cell", "tel", "receptor", "destination",
    "شماره", "موبایل", "تلفن", "همراه", "گیرنده",
    "手机", "号码", "电话",
)  # fmt: skip
_EXPIRY_HEADERS = (
    "expir", "expiry", "valid", "until", "end date",
    "انقضا", "اعتبار", "پایان",
    "到期", "有效期", "截止",
)  # fmt: skip


def _looks_like_date(value: str) -> bool:
    return bool(value.strip()) and isinstance(parse_expiry(value), date)


def _header_match(cells: Sequence[str], keys: Iterable[str]) -> int | None:
    lowered = [c.strip().casefold() for c in cells]
    for key in keys:
        for index, cell in enumerate(lowered):
            if key in cell:
                return index
    return None


def choose_columns(
    sample_rows: list[list[str]],
    column: int | None,
    expiry_column: int | Literal["auto"] | None,
    default_country: str,
    operators: Operators,
) -> tuple[int, int | None]:
    """Pick the number and expiry columns from header names, else from the data."""

    def valid(value: str) -> bool:
        result = normalise(value, default_country=default_country, operators=operators)
        return not isinstance(result, Invalid)

    rows = [r for r in sample_rows if any(c.strip() for c in r)]
    headers: list[list[str]] = []
    while (
        rows
        and not any(valid(c) for c in rows[0])
        and any(ch.isalpha() for c in rows[0] for ch in c)
    ):
        headers.append(rows.pop(0))
    width = max((len(r) for r in rows), default=1)
    if column is None:
        column = _number_column(headers, rows, width, valid)
    if expiry_column != "auto":
        return column, expiry_column
    return column, _expiry_column(headers, rows, width, column)


def _number_column(
    headers: list[list[str]], rows: list[list[str]], width: int, valid: Callable[[str], bool]
) -> int:
    """A header naming the numbers, else the column with the most valid numbers."""
    for header in headers:
        found = _header_match(header, _NUMBER_HEADERS)
        if found is not None:
            return found
    scores = [0] * width
    for r in rows:
        for index, value in enumerate(r):
            scores[index] += valid(value)
    return max(range(width), key=lambda i: (scores[i], -i))


def _expiry_column(
    headers: list[list[str]], rows: list[list[str]], width: int, column: int
) -> int | None:
    """A header naming expiry dates, else a column holding dates only; None without."""
    for header in headers:
        found = _header_match(header, _EXPIRY_HEADERS)
        if found is not None and found != column:
            return found
    for index in range(width):
        values = [r[index] for r in rows if index < len(r) and r[index].strip()]
        if index != column and values and all(_looks_like_date(v) for v in values):
            return index
    return None


def sniff(text: str) -> tuple[str | None, list[list[str]]]:
    lines = [line for line in text.splitlines() if line.strip()][:SNIFF_ROWS]
    best: str | None = None
    best_count = 0
    for delimiter in _DELIMITERS:
        count = sum(delimiter in line for line in lines)
        if count > best_count:
            best, best_count = delimiter, count
    if best is None or best_count * 2 < len(lines):
        return None, [[line] for line in lines]
    return best, list(csv.reader(lines, delimiter=best))
