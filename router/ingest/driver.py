"""One entry point for a list file: CSV or xlsx by its extension."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal, TypedDict, Unpack

from router.ingest.csv_file import import_csv
from router.ingest.result import ImportResult, ProgressCallback
from router.ingest.xlsx_file import import_xlsx
from router.policy.plans import Operators


class ReadOptions(TypedDict, total=False):
    """What both readers take besides the path (see :func:`import_csv`)."""

    default_country: str
    operator: str | None
    operators: Operators | None
    column: int | None
    expiry_column: int | Literal["auto"] | None
    on_progress: ProgressCallback | None
    progress_every: int
    today: date | None


def import_file(
    path: str | Path,
    *,
    fmt: Literal["auto", "csv", "xlsx"] = "auto",
    **options: Unpack[ReadOptions],
) -> ImportResult:
    """CSV or xlsx by extension (``.xlsx``/``.xlsm`` -> Excel, anything else -> text)."""
    file = Path(path)
    kind = fmt
    if kind == "auto":
        kind = "xlsx" if file.suffix.lower() in (".xlsx", ".xlsm") else "csv"
    if kind == "xlsx":
        return import_xlsx(file, **options)
    return import_csv(file, **options)
