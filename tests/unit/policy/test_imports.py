"""router.policy.imports: messy customer files in, numbers and a row-by-row report out."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import xlsxwriter  # type: ignore[import-untyped]

from router.policy.imports import (
    ImportResult,
    Rejection,
    import_csv,
    import_file,
    import_xlsx,
    parse_expiry,
    write_rejection_report,
)
from router.policy.numbers import Invalid
from tests.conftest import check_report as check_report_file
from tests.conftest import read_report

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


# --- CSV, one value per line: every mess, an MCI-only customer list ----------------------

MESSY_LINES = [
    "Mobile",  # 1 header row
    "09121234567",  # 2 ok
    "9121234568",  # 3 ok: Excel lost the leading 0
    "",  # 4 blank
    "9121234569.0",  # 5 ok: float written back as text
    "9.89121234570E+11",  # 6 ok: scientific notation, all digits kept
    "۰۹۱۲۱۲۳۴۵۷۱",  # 7 ok: Persian digits
    "09121234567",  # 8 duplicate of row 2
    "+98 912 123 4567",  # 9 duplicate of row 2, other form
    "09351234567",  # 10 Irancell on an MCI list
    "hello",  # 11 text garbage
    "9.89121E+11",  # 12 scientific notation that lost digits
    "0912123456",  # 13 too short
    "02112345678",  # 14 landline
    '=HYPERLINK("http://x")',  # 15 formula injection attempt
    "   ",  # 16 blank (spaces)
    "09971234567",  # 17 prefix of no operator
    "0912 123 4572",  # 18 ok: spaces
    "٠٩١٢١٢٣٤٥٧٣",  # 19 ok: Arabic-Indic digits
    "9121234567.5",  # 20 fraction
    "\u200f0912\u200c123\u00a04574",  # 21 ok: RLM, ZWNJ, NBSP
    "8613812345678",  # 22 China Mobile on an MCI list
]
MESSY_ACCEPTED = [
    989121234567,
    989121234568,
    989121234569,
    989121234570,
    989121234571,
    989121234572,
    989121234573,
    989121234574,
]
MESSY_REJECTED = [
    (10, "09351234567", "Irancell"),
    (11, "hello", "letters"),
    (12, "9.89121E+11", "lost"),
    (13, "0912123456", "too short"),
    (14, "02112345678", "not a mobile number"),
    (15, '\'=HYPERLINK("http://x")', "letters"),
    (17, "09971234567", "operator unknown"),
    (20, "9121234567.5", "fractional"),
    (22, "8613812345678", "China Mobile"),
]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_csv_every_messy_case(tmp_path: Path, newline: str, bom: bytes) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(bom + newline.join(MESSY_LINES).encode("utf-8") + newline.encode())
    result, progress = import_mci(import_csv, path, progress_every=5)
    assert result.numbers == MESSY_ACCEPTED
    assert result.duplicates == 2
    assert result.header_rows == 1
    assert result.blank_rows == 2
    assert result.total_rows == len(MESSY_LINES)
    assert list(result.number_set) == sorted(MESSY_ACCEPTED)
    check_report(tmp_path, result, MESSY_REJECTED)
    assert progress[-1] == (len(MESSY_LINES), len(MESSY_LINES))
    dones = [done for done, _ in progress]
    assert dones == sorted(dones)


def test_csv_without_operator_filter_takes_every_operator(tmp_path: Path) -> None:
    path = tmp_path / "blacklist.txt"
    path.write_text("\n".join(MESSY_LINES), encoding="utf-8")
    result = import_file(path)
    assert 989351234567 in result.numbers and 989971234567 in result.numbers
    assert 8613812345678 in result.numbers
    assert {r.row for r in result.rejected} == {11, 12, 13, 14, 15, 20}


# --- CSV with columns: delimiter, header names, expiry column ------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_columns_and_expiry(tmp_path: Path, delimiter: str) -> None:
    rows = [
        ["name", "mobile", "expiry"],  # 1 header
        ["Ali", "09121234567", ""],  # 2 ok, permanent
        ["Bank test", "9121234568", "2026-12-31"],  # 3 ok, ISO expiry
        ["Test 2", "۰۹۱۲۱۲۳۴۵۶۹", "۱۴۰۵/۱۰/۱۰"],  # 4 ok, Solar Hijri expiry in Persian digits
        ["Old", "09121234570", "2020-01-01"],  # 5 expiry passed
        ["Bad date", "09121234571", "next year"],  # 6 unreadable expiry
        ["", "", ""],  # 7 blank
        ["No number", "", "2026-01-01"],  # 8 a row without its number
        ["Dup", "989121234567", ""],  # 9 duplicate
        ["Irancell", "09361234567", ""],  # 10 other operator
        ["Sci", "9.89121234572E+11", "2026-01-31"],  # 11 ok
    ]
    path = tmp_path / "whitelist.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    result = import_csv(path, operator="IR-MCI", today=TODAY)
    assert result.numbers == [989121234567, 989121234568, 989121234569, 989121234572]
    assert result.numbers_with_expiry == {
        989121234568: date(2026, 12, 31),
        989121234569: date(2026, 12, 31),
        989121234572: date(2026, 1, 31),
    }
    assert result.duplicates == 1 and result.header_rows == 1 and result.blank_rows == 1
    check_report(
        tmp_path,
        result,
        [
            (5, "09121234570", "already passed"),
            (6, "09121234571", "not a date"),
            (8, "", "no number"),
            (10, "09361234567", "Irancell"),
        ],
    )
    whitelist = result.to_whitelist(ZoneInfo("Asia/Tehran"))
    end = datetime(2027, 1, 1, tzinfo=ZoneInfo("Asia/Tehran")).timestamp()
    assert whitelist.contains(989121234568, end - 1) and not whitelist.contains(989121234568, end)
    assert whitelist.contains(989121234567, end + 10**9)


def test_csv_number_column_found_from_data_without_header(tmp_path: Path) -> None:
    path = tmp_path / "nohead.csv"
    path.write_text("Ali;09121234567\nReza;09121234568\n", encoding="utf-8")
    result = import_csv(path)
    assert result.numbers == [989121234567, 989121234568]
    assert result.rejected == []


def test_csv_explicit_column_and_no_expiry(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("09121234567,2026-01-01,09121234568\n", encoding="utf-8")
    result = import_csv(path, column=2, expiry_column=None)
    assert result.numbers == [989121234568]
    assert result.numbers_with_expiry == {}


def test_csv_utf16_tab_export(tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    path.write_text("شماره\tتوضیح\n۰۹۱۲۱۲۳۴۵۶۷\tمشتری\n", encoding="utf-16")
    result = import_csv(path)
    assert result.numbers == [989121234567]
    assert result.header_rows == 1


def test_chinese_list(tmp_path: Path) -> None:
    path = tmp_path / "cn.csv"
    path.write_text(
        "手机号码\n13812345678\n+86 138 1234 5679\n13012345678\n１３８１２３４５６８０\n",
        encoding="utf-8",
    )
    result = import_csv(path, default_country="86", operator="China Mobile")
    assert result.numbers == [8613812345678, 8613812345679, 8613812345680]
    check_report(tmp_path, result, [(4, "13012345678", "China Unicom")])


def test_unknown_operator_is_an_error_up_front(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("09121234567\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown operator 'MCI'"):
        import_csv(path, operator="MCI")


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


# --- expiry parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-31", date(2026, 12, 31)),
        ("2026/1/5", date(2026, 1, 5)),
        ("۲۰۲۶-۱۲-۳۱", date(2026, 12, 31)),
        ("2026-12-31T10:00:00", date(2026, 12, 31)),
        (date(2026, 2, 3), date(2026, 2, 3)),
        (datetime(2026, 2, 3, 4, 5), date(2026, 2, 3)),
        ("1403/01/01", date(2024, 3, 20)),  # Nowruz 1403
        ("1404/01/01", date(2025, 3, 21)),
        ("1402/01/01", date(2023, 3, 21)),
        ("1399/12/30", date(2021, 3, 20)),  # 1399 is a leap year
        ("1403/12/30", date(2025, 3, 20)),  # 1403 is a leap year
        ("۱۴۰۵/۱۰/۱۰", date(2026, 12, 31)),
        ("1403/07/01", date(2024, 9, 22)),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_parse_expiry(value: object, expected: date | None) -> None:
    assert parse_expiry(value) == expected


@pytest.mark.parametrize("value", ["soon", "2026-13-01", "2026-02-30", "1402/12/30", "31/12/2026"])
def test_parse_expiry_refuses(value: str) -> None:
    assert isinstance(parse_expiry(value), Invalid)


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


# --- block boundaries of the fast path ------------------------------------------------------


@pytest.mark.parametrize("block_bytes", [1, 40, 1 << 22])
def test_dedup_across_blocks_keeps_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    monkeypatch.setattr("router.policy.imports._BLOCK_BYTES", block_bytes)
    rng = random.Random(block_bytes)
    pool = [989120000000 + rng.randrange(1000) for _ in range(60)]
    rows = [rng.choice(pool) for _ in range(500)]

    def written(index: int, n: int) -> str:  # the same number in four forms
        return (f"0{n - 980000000000}", str(n), str(n - 980000000000), f"+{n}")[index % 4]

    path = tmp_path / "dups.csv"
    path.write_text("\n".join(written(i, n) for i, n in enumerate(rows)) + "\n")
    result = import_csv(path)
    assert result.numbers == list(dict.fromkeys(rows))
    assert result.duplicates == len(rows) - len(set(rows))
    assert result.rejected == [] and result.header_rows == 0


@pytest.mark.parametrize("block_bytes", [1, 1 << 22])
def test_messy_file_same_result_in_tiny_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    monkeypatch.setattr("router.policy.imports._BLOCK_BYTES", block_bytes)
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(MESSY_LINES) + "\n", encoding="utf-8")
    result = import_csv(path, operator="IR-MCI", today=TODAY)
    assert result.numbers == MESSY_ACCEPTED
    assert result.duplicates == 2 and result.header_rows == 1
    expected = [(row, value.removeprefix("'")) for row, value, _ in MESSY_REJECTED]
    assert [(r.row, r.raw) for r in result.rejected] == expected
