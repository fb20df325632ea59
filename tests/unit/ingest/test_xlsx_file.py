"""router.ingest.xlsx_file: a messy Excel worksheet in, numbers and a row-by-row report out."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import xlsxwriter  # type: ignore[import-untyped]

from router.ingest import import_file, import_xlsx
from tests.unit.ingest.support import check_report, import_mci

# --- Excel --------------------------------------------------------------------------------


def write_messy_xlsx(path: Path) -> None:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("customers")
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_string(0, 0, "لیست مشتریان همراه اول")  # row 1: title
    sheet.write_string(1, 0, "شماره موبایل")  # row 2: column names
    sheet.write_string(1, 1, "تاریخ انقضا")
    sheet.write_number(2, 0, 9121234567)  # row 3: number cell, leading 0 lost
    sheet.write_string(3, 0, "09121234568")  # row 4: text cell
    sheet.write_number(4, 0, 9121234569.0)  # row 5
    sheet.write_datetime(4, 1, datetime(2026, 12, 31), day)  # ... with an Excel date
    # row 6: blank
    sheet.write_string(6, 0, "9.89121234570E+11")  # row 7: scientific text
    sheet.write_string(7, 0, "۰۹۱۲۱۲۳۴۵۷۱")  # row 8: Persian digits
    sheet.write_string(7, 1, "۱۴۰۵/۱۰/۱۰")  # ... Solar Hijri expiry
    sheet.write_number(8, 0, 989121234567)  # row 9: duplicate of row 3
    sheet.write_string(9, 0, "09351234567")  # row 10: Irancell
    sheet.write_string(10, 0, "سلام")  # row 11: text garbage
    sheet.write_number(11, 0, 9121234572.5)  # row 12: fraction
    sheet.write_boolean(12, 0, True)  # row 13: boolean
    sheet.write_datetime(13, 0, datetime(2025, 1, 1), day)  # row 14: a date, not a number
    sheet.write_number(14, 0, 9121234573)  # row 15: expired
    sheet.write_string(14, 1, "2024-01-01")
    sheet.write_number(15, 0, 9121234574)  # row 16: bad expiry
    sheet.write_string(15, 1, "soon")
    sheet.write_string(16, 1, "2026-01-01")  # row 17: expiry without a number
    sheet.write_string(17, 0, "9.89121E+11")  # row 18: lost digits
    sheet.write_number(18, 0, 9.89121234575e11)  # row 19: ok, float cell
    sheet.write_string(19, 0, "  ")  # row 20: blank text
    book.close()


def test_xlsx_every_messy_case(tmp_path: Path) -> None:
    path = tmp_path / "customers.xlsx"
    write_messy_xlsx(path)
    result, progress = import_mci(import_file, path, progress_every=4)
    assert result.numbers == [
        989121234567,
        989121234568,
        989121234569,
        989121234570,
        989121234571,
        989121234575,
    ]
    assert result.numbers_with_expiry == {
        989121234569: date(2026, 12, 31),
        989121234571: date(2026, 12, 31),
    }
    assert result.duplicates == 1
    assert result.header_rows == 2
    assert result.blank_rows == 2
    assert result.total_rows == 20
    check_report(
        tmp_path,
        result,
        [
            (10, "09351234567", "Irancell"),
            (11, "سلام", "letters"),
            (12, "9121234572.5", "fractional"),
            (13, "TRUE", "not a phone number"),
            (14, "2025-01-01", "date"),
            (15, "9121234573", "already passed"),
            (16, "9121234574", "not a date"),
            (17, "", "no number"),
            (18, "9.89121E+11", "lost"),
        ],
    )
    assert progress[-1] == (20, 20)


def test_xlsx_data_not_in_first_column(tmp_path: Path) -> None:
    path = tmp_path / "offset.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_string(3, 2, "Mobile")  # C4
    sheet.write_number(4, 2, 9121234567)  # C5
    sheet.write_string(5, 2, "garbage")  # C6
    sheet.write_string(6, 3, "note")  # D7: a row whose number cell is empty
    book.close()
    result = import_xlsx(path)
    assert result.numbers == [989121234567]
    check_report(tmp_path, result, [(6, "garbage", "letters"), (7, "", "no number in column 3")])
