"""router.ingest.dates: expiry cells, Gregorian and Solar Hijri."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from router.ingest import parse_expiry
from router.policy.numbers import Invalid

# --- expiry parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-31", date(2026, 12, 31)),
        ("2026/1/5", date(2026, 1, 5)),
        ("۲۰۲۶-۱۲-۳۱", date(2026, 12, 31)),
        ("2026-12-31T10:00:00", date(2026, 12, 31)),
        (date(2026, 2, 3), date(2026, 2, 3)),
        (datetime(2026, 2, 3, 4, 5), date(2026, 2, 3)),
        ("1403/01/01", date(2024, 3, 20)),  # Nowruz 1403
        ("1404/01/01", date(2025, 3, 21)),
        ("1402/01/01", date(2023, 3, 21)),
        ("1399/12/30", date(2021, 3, 20)),  # 1399 is a leap year
        ("1403/12/30", date(2025, 3, 20)),  # 1403 is a leap year
        ("۱۴۰۵/۱۰/۱۰", date(2026, 12, 31)),
        ("1403/07/01", date(2024, 9, 22)),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_parse_expiry(value: object, expected: date | None) -> None:
    assert parse_expiry(value) == expected


@pytest.mark.parametrize("value", ["soon", "2026-13-01", "2026-02-30", "1402/12/30", "31/12/2026"])
def test_parse_expiry_refuses(value: str) -> None:
    assert isinstance(parse_expiry(value), Invalid)
