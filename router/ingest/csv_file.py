"""CSV and text files of numbers: encoding and delimiter sniffed, a fast path for clean
rows (one value per line: a strip, a dict lookup, ``startswith`` and ``int()``)."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import date
from pathlib import Path
from typing import Any, Literal

from router.ingest.collector import Collector
from router.ingest.columns import choose_columns, sniff
from router.ingest.result import PROGRESS_EVERY, ImportResult, ProgressCallback
from router.policy.plans import Operators, default_operators

_CsvReader = Any  # the type of csv.reader(...) is private to typeshed
_BLOCK_BYTES = 1 << 22  # lines are read ~4 MB at a time
_SNIFF_CHARS = 64 * 1024


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
    collector = Collector(
        default_country=default_country, operator=operator, operators=ops, today=today
    )
    encoding = _encoding(file)
    total = _count_rows(file) if on_progress is not None and encoding != "utf-16" else None
    with file.open(encoding=encoding, errors="replace", newline="") as fh:
        sample = fh.read(_SNIFF_CHARS)
    sniffed, sample_rows = sniff(sample)
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
            number_column, date_column = choose_columns(
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
    collector: Collector,
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
    collector: Collector,
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
