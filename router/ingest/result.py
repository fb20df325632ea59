"""What an import produces: the numbers, the rejected rows, and the progress callback type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, tzinfo

from router.model.numbersets import ExpiringNumberSet, NumberSet, end_of_day

ProgressCallback = Callable[[int, int | None], None]
Cell = object  # str from CSV; str/int/float/bool/date/datetime/time/timedelta from xlsx

PROGRESS_EVERY = 100_000


@dataclass(frozen=True, slots=True)
class Rejection:
    """One rejected row: ``row`` as the customer sees it (1-based line / Excel row)."""

    row: int
    raw: str
    reason: str
    code: str = ""


@dataclass(slots=True)
class ImportResult:
    """What an import produced.  ``numbers`` are unique, in file order; ``number_set`` is
    the same numbers as an immutable :class:`NumberSet`, ready to swap in."""

    numbers: list[int]
    rejected: list[Rejection]
    duplicates: int
    total_rows: int
    numbers_with_expiry: dict[int, date] = field(default_factory=dict)
    header_rows: int = 0
    blank_rows: int = 0
    number_set: NumberSet = field(default_factory=NumberSet, repr=False)

    @property
    def accepted(self) -> int:
        return len(self.numbers)

    def to_whitelist(self, tz: tzinfo) -> ExpiringNumberSet:
        """Entries with an expiry date stop counting at the end of that day in ``tz``."""
        expiries = {n: end_of_day(d, tz) for n, d in self.numbers_with_expiry.items()}
        if not expiries:
            return ExpiringNumberSet(self.number_set)
        return ExpiringNumberSet.build(self.numbers, expiries)
