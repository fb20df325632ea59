"""router.ingest.report: the rejection report a customer opens in Excel."""

from __future__ import annotations

from pathlib import Path

from router.ingest import Rejection, write_rejection_report
from tests.conftest import read_report


def test_report_quotes_and_formula_guard(tmp_path: Path) -> None:
    report = tmp_path / "r.csv"
    write_rejection_report(
        report,
        [
            Rejection(3, 'a,"b"', "has, commas"),
            Rejection(4, "+98 21", "not mobile"),
            Rejection(5, "@SUM(A1)", "letters"),
        ],
    )
    assert read_report(report) == [
        (3, 'a,"b"', "has, commas"),
        (4, "'+98 21", "not mobile"),
        (5, "'@SUM(A1)", "letters"),
    ]
