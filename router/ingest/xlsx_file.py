"""Excel worksheets (python-calamine): cells read by type, rows numbered as Excel shows
them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from router.ingest.collector import Collector
from router.ingest.columns import SNIFF_ROWS, choose_columns
from router.ingest.result import PROGRESS_EVERY, Cell, ImportResult, ProgressCallback, Rejection
from router.policy.plans import Operators, default_operators


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
    collector = Collector(
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
            if filled >= SNIFF_ROWS or len(sample) >= 10 * SNIFF_ROWS:
                break
        number_column, date_column = choose_columns(
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
