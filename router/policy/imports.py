"""Reading customer and operator number files (CSV, Excel xlsx) into number lists.

Why tolerant: the files come from people and spreadsheets — Excel drops the leading 0,
turns numbers into ``9121234567.0`` or ``9.89121234567E+11``, Persian keyboards give
``۰۹۱۲…``, and there are title rows, blank rows and duplicates.  Every value goes through
:func:`router.policy.numbers.normalise`; what cannot be read becomes a
:class:`Rejection` with the file's row number and a reason the customer can act on
(:func:`write_rejection_report`).

Why a fast path: an operator blacklist has ~10 M rows.  Clean rows (ASCII digits) are
matched against the numbering plan's :meth:`~router.policy.numbers.Operators.fast_rules`
and converted with one ``int()``; only the others pay for the full normaliser.  Lines are
read in blocks, deduplication uses the roaring bitmap that becomes the list itself.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal

from pyroaring import BitMap64

from router.model.numbersets import ExpiringNumberSet, NumberSet, end_of_day
from router.policy.numbers import Invalid, Operators, default_operators, normalise

__all__ = [
    "ImportResult",
    "ProgressCallback",
    "Rejection",
    "import_csv",
    "import_file",
    "import_xlsx",
    "parse_expiry",
    "write_rejection_report",
]

ProgressCallback = Callable[[int, int | None], None]
_CsvReader = Any  # the type of csv.reader(...) is private to typeshed
Cell = object  # str from CSV; str/int/float/bool/date/datetime/time/timedelta from xlsx

PROGRESS_EVERY = 100_000
_BLOCK_BYTES = 1 << 22  # lines are read ~4 MB at a time
_SNIFF_CHARS = 64 * 1024
_SNIFF_ROWS = 50
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


# --- expiry dates ----------------------------------------------------------------------

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


# --- the accumulator --------------------------------------------------------------------


class _Collector:
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


# --- CSV --------------------------------------------------------------------------------


def _encoding(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text" export
    return "utf-8-sig"  # with or without BOM


def _count_rows(path: Path) -> int:
    rows = 0
    last = b"\n"
    with path.open("rb") as fh:
        while block := fh.read(1 << 24):
            rows += block.count(b"\n")
            last = block[-1:]
    return rows + (last != b"\n")


def _looks_like_date(value: str) -> bool:
    return bool(value.strip()) and isinstance(parse_expiry(value), date)


def _header_match(cells: Sequence[str], keys: Iterable[str]) -> int | None:
    lowered = [c.strip().casefold() for c in cells]
    for key in keys:
        for index, cell in enumerate(lowered):
            if key in cell:
                return index
    return None


def _choose_columns(
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
        for header in headers:
            column = _header_match(header, _NUMBER_HEADERS)
            if column is not None:
                break
    if column is None:
        scores = [0] * width
        for r in rows:
            for index, value in enumerate(r):
                scores[index] += valid(value)
        column = max(range(width), key=lambda i: (scores[i], -i))
    if expiry_column != "auto":
        return column, expiry_column
    for header in headers:
        found = _header_match(header, _EXPIRY_HEADERS)
        if found is not None and found != column:
            return column, found
    for index in range(width):
        values = [r[index] for r in rows if index < len(r) and r[index].strip()]
        if index != column and values and all(_looks_like_date(v) for v in values):
            return column, index
    return column, None


def _sniff(text: str) -> tuple[str | None, list[list[str]]]:
    lines = [line for line in text.splitlines() if line.strip()][:_SNIFF_ROWS]
    best: str | None = None
    best_count = 0
    for delimiter in _DELIMITERS:
        count = sum(delimiter in line for line in lines)
        if count > best_count:
            best, best_count = delimiter, count
    if best is None or best_count * 2 < len(lines):
        return None, [[line] for line in lines]
    return best, list(csv.reader(lines, delimiter=best))


def import_csv(
    path: str | Path,
    *,
    default_country: str = "98",
    operator: str | None = None,
    operators: Operators | None = None,
    column: int | None = None,
    expiry_column: int | Literal["auto"] | None = "auto",
    delimiter: str | Literal["auto"] | None = "auto",
    on_progress: ProgressCallback | None = None,
    progress_every: int = PROGRESS_EVERY,
    today: date | None = None,
) -> ImportResult:
    """Read a CSV / text file of numbers (delimiter ``,`` ``;`` tab or ``|``, sniffed).

    ``column`` (0-based) is found from the header names or from the data when not given;
    ``expiry_column`` likewise (``None`` to ignore expiry dates).  ``operator`` keeps only
    numbers whose prefix belongs to that operator (e.g. ``"IR-MCI"``); with Mobile Number
    Portability a few real customers are rejected, and the report says why.  ``today``
    rejects expiry dates already passed.  Raises ``OSError`` for an unreadable file and
    ``ValueError`` for an unknown operator; bad rows never raise.
    """
    file = Path(path)
    ops = operators if operators is not None else default_operators()
    collector = _Collector(
        default_country=default_country, operator=operator, operators=ops, today=today
    )
    encoding = _encoding(file)
    total = _count_rows(file) if on_progress is not None and encoding != "utf-16" else None
    with file.open(encoding=encoding, errors="replace", newline="") as fh:
        sample = fh.read(_SNIFF_CHARS)
    sniffed, sample_rows = _sniff(sample)
    chosen = sniffed if delimiter == "auto" else delimiter
    if chosen != sniffed:
        sample_rows = (
            [[line] for line in sample.splitlines()]
            if chosen is None
            else list(csv.reader(sample.splitlines(), delimiter=chosen))
        )
    with file.open(encoding=encoding, errors="replace", newline="") as fh:
        if chosen is None:
            _read_lines(fh, collector, on_progress, progress_every, total)
        else:
            number_column, date_column = _choose_columns(
                sample_rows, column, expiry_column, default_country, ops
            )
            reader = csv.reader(fh, delimiter=chosen)
            _read_delimited(
                reader, number_column, date_column, collector, on_progress, progress_every, total
            )
    if on_progress is not None:
        on_progress(collector.rows, collector.rows)
    return collector.result()


def _read_lines(
    fh: io.TextIOBase,
    collector: _Collector,
    on_progress: ProgressCallback | None,
    every: int,
    total: int | None,
) -> None:
    """The hot loop: one value per line.  A clean row costs a strip, two str checks, a
    dict lookup, ``startswith`` and ``int()``; numbers are committed per block."""
    get_rules = collector.rules.get
    parse = collector.parse
    check = collector.check if collector.operator is not None else None
    row = 0
    next_report = every
    while True:
        lines = fh.readlines(_BLOCK_BYTES)
        if not lines:
            break
        block: list[int] = []
        append = block.append
        for line in lines:
            row += 1
            value = line.strip()
            if value.isdigit() and value.isascii():
                for head, offset in get_rules(len(value), ()):
                    if value.startswith(head):
                        if check is None:
                            append(int(value) + offset)
                        elif (checked := check(row, value, int(value) + offset)) is not None:
                            append(checked[0])
                        break
                else:
                    if (checked := parse(row, line.rstrip("\r\n"), leading=not block)) is not None:
                        append(checked[0])
            elif (checked := parse(row, line.rstrip("\r\n"), leading=not block)) is not None:
                append(checked[0])
        collector.commit_block(block)
        collector.rows = row
        if on_progress is not None and row >= next_report:
            on_progress(row, total)
            next_report = row + every


def _read_delimited(
    reader: _CsvReader,
    column: int,
    expiry_column: int | None,
    collector: _Collector,
    on_progress: ProgressCallback | None,
    every: int,
    total: int | None,
) -> None:
    rules = collector.rules
    next_report = every
    for rows, cells in enumerate(reader, 1):
        row = reader.line_num
        value = cells[column] if column < len(cells) else ""
        expiry: str | None = None
        if expiry_column is not None and expiry_column < len(cells):
            expiry = cells[expiry_column].strip() or None
        clean = value.strip()
        if not clean:
            if any(c.strip() for c in cells):
                collector.reject(row, value, "empty", f"no number in column {column + 1}")
            else:
                collector.blank_rows += 1
        elif clean.isdigit() and clean.isascii():
            for head, offset in rules.get(len(clean), ()):
                if clean.startswith(head):
                    checked = collector.check(row, value, int(clean) + offset, expiry)
                    if checked is not None:
                        collector.commit(*checked)
                    break
            else:
                collector.cell(row, value, expiry)
        else:
            collector.cell(row, value, expiry)
        if on_progress is not None and rows >= next_report:
            collector.rows = reader.line_num
            on_progress(rows, total)
            next_report = rows + every
    collector.rows = reader.line_num


# --- Excel ------------------------------------------------------------------------------


def import_xlsx(
    path: str | Path,
    *,
    default_country: str = "98",
    operator: str | None = None,
    operators: Operators | None = None,
    sheet: int | str = 0,
    column: int | None = None,
    expiry_column: int | Literal["auto"] | None = "auto",
    on_progress: ProgressCallback | None = None,
    progress_every: int = PROGRESS_EVERY,
    today: date | None = None,
) -> ImportResult:
    """Read one worksheet of an xlsx file (python-calamine).  Rows are Excel row numbers;
    ``column``/``expiry_column`` are 0-based sheet columns (A = 0).  Numeric cells
    (``9121234567.0``) and date cells are read by type; other parameters as
    :func:`import_csv`."""
    from python_calamine import CalamineWorkbook

    ops = operators if operators is not None else default_operators()
    collector = _Collector(
        default_country=default_country, operator=operator, operators=ops, today=today
    )
    with CalamineWorkbook.from_path(str(path)) as book:
        ws = (
            book.get_sheet_by_name(sheet)
            if isinstance(sheet, str)
            else book.get_sheet_by_index(sheet)
        )
        first_col = ws.start[1] if ws.start else 0
        last_row = ws.end[0] + 1 if ws.end else 0
        rows_iter: Iterator[Sequence[Cell]] = ws.iter_rows()
        sample: list[Sequence[Cell]] = []
        filled = 0
        for values in rows_iter:
            sample.append(values)
            filled += any(v != "" for v in values)
            if filled >= _SNIFF_ROWS or len(sample) >= 10 * _SNIFF_ROWS:
                break
        number_column, date_column = _choose_columns(
            [[_as_text(v) for v in r] for r in sample],
            None if column is None else column - first_col,
            expiry_column - first_col if isinstance(expiry_column, int) else expiry_column,
            default_country,
            ops,
        )
        yielded = 0
        next_report = progress_every
        for values in _chain(sample, rows_iter):
            yielded += 1
            value = values[number_column] if number_column < len(values) else ""
            expiry: Cell = None
            if date_column is not None and date_column < len(values):
                expiry = values[date_column]
                if isinstance(expiry, str):
                    expiry = expiry.strip() or None
            if value == "" or (isinstance(value, str) and not value.strip()):
                if any(v != "" and not (isinstance(v, str) and not v.strip()) for v in values):
                    reason = f"no number in column {first_col + number_column + 1}"
                    collector.reject(yielded, _as_text(value), "empty", reason)
                else:
                    collector.blank_rows += 1
            else:
                collector.cell(yielded, value, expiry)
            if on_progress is not None and yielded >= next_report:
                on_progress(yielded, last_row or None)
                next_report = yielded + progress_every
    collector.rows = max(yielded, last_row)
    # iter_rows has so far started at sheet row 1 (index 0); should it start at the first
    # used row instead, shift the row numbers so they stay the rows Excel shows.
    shift = last_row - yielded if last_row > yielded else 0
    if shift:
        collector.rejected = [
            Rejection(r.row + shift, r.raw, r.reason, r.code) for r in collector.rejected
        ]
    if on_progress is not None:
        on_progress(collector.rows, collector.rows)
    return collector.result()


def _chain(first: list[Sequence[Cell]], rest: Iterator[Sequence[Cell]]) -> Iterator[Sequence[Cell]]:
    yield from first
    yield from rest


def _as_text(value: Cell) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


# --- entry point and report -------------------------------------------------------------


def import_file(
    path: str | Path,
    *,
    fmt: Literal["auto", "csv", "xlsx"] = "auto",
    default_country: str = "98",
    operator: str | None = None,
    operators: Operators | None = None,
    column: int | None = None,
    expiry_column: int | Literal["auto"] | None = "auto",
    on_progress: ProgressCallback | None = None,
    progress_every: int = PROGRESS_EVERY,
    today: date | None = None,
) -> ImportResult:
    """CSV or xlsx by extension (``.xlsx``/``.xlsm`` -> Excel, anything else -> text)."""
    file = Path(path)
    kind = fmt
    if kind == "auto":
        kind = "xlsx" if file.suffix.lower() in (".xlsx", ".xlsm") else "csv"
    importer = import_xlsx if kind == "xlsx" else import_csv
    return importer(
        file,
        default_country=default_country,
        operator=operator,
        operators=operators,
        column=column,
        expiry_column=expiry_column,
        on_progress=on_progress,
        progress_every=progress_every,
        today=today,
    )


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_rejection_report(path: str | Path, rejected: Iterable[Rejection]) -> int:
    """Write ``row,value,reason`` (UTF-8 with BOM so Excel shows Persian/Chinese text).

    A value that Excel would run as a formula (``=…``, ``+…``, ``-…``, ``@…``) is written
    with a leading ``'``: the report is opened by people, the values came from strangers.
    Returns the number of rejections written.
    """
    count = 0
    with Path(path).open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(("row", "value", "reason"))
        for rejection in rejected:
            value = rejection.raw
            if value.startswith(_FORMULA_START):
                value = "'" + value
            writer.writerow((rejection.row, value, rejection.reason))
            count += 1
    return count
