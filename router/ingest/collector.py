"""Per-row logic every reader shares: normalise, filter by operator, check expiry,
deduplicate, and keep the rejections with the reasons a customer can act on."""

from __future__ import annotations

from datetime import date

from pyroaring import BitMap64

from router.ingest.dates import parse_expiry
from router.ingest.result import Cell, ImportResult, Rejection
from router.model.numbersets import NumberSet
from router.policy.numbers import Invalid, normalise
from router.policy.plans import Operators


class Collector:
    """Per-row logic shared by every reader; the CSV line loop inlines the clean case."""

    def __init__(
        self,
        *,
        default_country: str,
        operator: str | None,
        operators: Operators,
        today: date | None,
    ) -> None:
        if operator is not None and operator not in operators.names:
            known = ", ".join(sorted(operators.names))
            raise ValueError(f"unknown operator {operator!r} (known: {known})")
        self.default_country = default_country
        self.operator = operator
        self.operators = operators
        self.today = today
        self.rules = {
            length: tuple((rule.head, rule.offset) for rule in rules)
            for length, rules in operators.fast_rules(default_country).items()
        }
        self.numbers: list[int] = []
        self.seen = BitMap64()
        self.rejected: list[Rejection] = []
        self.expiries: dict[int, date] = {}
        self.duplicates = 0
        self.header_rows = 0
        self.blank_rows = 0
        self.rows = 0

    def reject(self, row: int, raw: str, code: str, reason: str) -> None:
        self.rejected.append(Rejection(row, raw, reason, code))

    def _leading(self) -> bool:
        return not self.numbers and not self.rejected and not self.duplicates

    def parse(
        self, row: int, value: Cell, expiry: Cell = None, *, leading: bool = True
    ) -> tuple[int, date | None] | None:
        """Any cell (CSV text or an xlsx value) in the number column -> (number, expiry),
        or None after recording a rejection / a header or blank row.  ``leading=False``
        when the caller holds rows not yet committed (so a text row is not a header)."""
        if value is None or isinstance(value, str):
            raw = value or ""
            if not raw.strip():
                self.blank_rows += 1
                return None
            text = raw
        elif isinstance(value, bool):
            raw = str(value).upper()
            self.reject(row, raw, "not_a_number", f"{raw} is not a phone number")
            return None
        elif isinstance(value, int):
            raw = text = str(value)
        elif isinstance(value, float):
            raw = repr(value)
            if not value.is_integer():
                self.reject(row, raw, "not_integer", f"{raw} has a fractional part")
                return None
            raw = text = str(int(value))
        else:  # date, datetime, time, timedelta
            raw = str(value)
            self.reject(row, raw, "not_a_number", f"a date/time ({raw}), not a phone number")
            return None

        result = normalise(text, default_country=self.default_country, operators=self.operators)
        if isinstance(result, Invalid):
            if (
                leading
                and self._leading()
                and (any(ch.isalpha() for ch in text) or not any(ch.isdigit() for ch in text))
            ):
                self.header_rows += 1  # a title or column-name row before the data
                return None
            self.reject(row, raw, result.code, result.reason)
            return None
        return self.check(row, raw, int(result.e164), expiry)

    def check(
        self, row: int, raw: str, number: int, expiry: Cell = None
    ) -> tuple[int, date | None] | None:
        """Operator and expiry rules for a valid number; None after a rejection."""
        if self.operator is not None:
            owner = self.operators.operator_of(str(number))
            if owner != self.operator:
                if owner is None:
                    reason = f"operator unknown for this prefix; the list takes {self.operator}"
                    self.reject(row, raw, "unknown_operator", reason)
                else:
                    reason = f"number of {owner}; the list takes {self.operator} numbers only"
                    self.reject(row, raw, "wrong_operator", reason)
                return None
        until: date | None = None
        if expiry is not None:
            parsed = parse_expiry(expiry)
            if isinstance(parsed, Invalid):
                self.reject(row, raw, parsed.code, parsed.reason)
                return None
            if parsed is not None and self.today is not None and parsed < self.today:
                reason = f"expiry {parsed.isoformat()} has already passed"
                self.reject(row, raw, "expired", reason)
                return None
            until = parsed
        return number, until

    def commit(self, number: int, until: date | None) -> None:
        """Add one number (first occurrence wins, later ones count as duplicates)."""
        if number in self.seen:
            self.duplicates += 1
            return
        self.seen.add(number)
        self.numbers.append(number)
        if until is not None:
            self.expiries[number] = until

    def cell(self, row: int, value: Cell, expiry: Cell = None) -> None:
        checked = self.parse(row, value, expiry)
        if checked is not None:
            self.commit(*checked)

    def commit_block(self, block: list[int]) -> None:
        """Add a block of numbers in file order, deduplicating in C.

        Why: a membership test plus an insert per number into a 10 M-entry roaring64
        bitmap (or a Python set) is a cache miss each and was most of an import's time.
        Per block: one bitmap build, ``dict.fromkeys`` for repeats inside the block, one
        intersection for numbers seen in earlier blocks (few), one in-place union.
        """
        if not block:
            return
        incoming = BitMap64(block)
        unique = block if len(incoming) == len(block) else list(dict.fromkeys(block))
        earlier = incoming & self.seen
        if earlier:
            seen_before = set(earlier)
            unique = [number for number in unique if number not in seen_before]
        self.duplicates += len(block) - len(unique)
        self.numbers.extend(unique)
        self.seen |= incoming

    def result(self) -> ImportResult:
        return ImportResult(
            numbers=self.numbers,
            rejected=self.rejected,
            duplicates=self.duplicates,
            total_rows=self.rows,
            numbers_with_expiry=self.expiries,
            header_rows=self.header_rows,
            blank_rows=self.blank_rows,
            number_set=NumberSet.from_bitmap(self.seen),
        )
