"""Helpers the ingest tests share: a rejection report checked row by row, and an
MCI-only import on a fixed day with every progress report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from router.ingest import ImportResult, write_rejection_report
from tests.conftest import check_report as check_report_file

TODAY = date(2025, 6, 1)


def check_report(
    tmp_path: Path, result: ImportResult, expected: list[tuple[int, str, str]]
) -> None:
    """Every rejected row, in order: row number, raw value as written, words of the reason."""
    report = tmp_path / "rejected.csv"
    assert write_rejection_report(report, result.rejected) == len(expected)
    check_report_file(report, expected)


def import_mci(
    importer: Callable[..., ImportResult], path: Path, progress_every: int
) -> tuple[ImportResult, list[tuple[int, int | None]]]:
    """``importer(path)`` as an MCI-only list on TODAY, with every progress report."""
    progress: list[tuple[int, int | None]] = []
    result = importer(
        path,
        operator="IR-MCI",
        today=TODAY,
        on_progress=lambda done, total: progress.append((done, total)),
        progress_every=progress_every,
    )
    return result, progress
