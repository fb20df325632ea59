"""One entry point for a list file: CSV or xlsx by its extension."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from router.ingest.csv_file import import_csv
from router.ingest.result import PROGRESS_EVERY, ImportResult, ProgressCallback
from router.ingest.xlsx_file import import_xlsx
from router.policy.numbers import Operators


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
