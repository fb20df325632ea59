"""router.ingest.csv_file: messy CSV and text files in, numbers and a row-by-row report out."""

from __future__ import annotations

import csv
import random
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from router.ingest import import_csv, import_file
from tests.unit.ingest.support import TODAY, check_report, import_mci

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


# --- block boundaries of the fast path ------------------------------------------------------


@pytest.mark.parametrize("block_bytes", [1, 40, 1 << 22])
def test_dedup_across_blocks_keeps_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    monkeypatch.setattr("router.ingest.csv_file._BLOCK_BYTES", block_bytes)
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
    monkeypatch.setattr("router.ingest.csv_file._BLOCK_BYTES", block_bytes)
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(MESSY_LINES) + "\n", encoding="utf-8")
    result = import_csv(path, operator="IR-MCI", today=TODAY)
    assert result.numbers == MESSY_ACCEPTED
    assert result.duplicates == 2 and result.header_rows == 1
    expected = [(row, value.removeprefix("'")) for row, value, _ in MESSY_REJECTED]
    assert [(r.row, r.raw) for r in result.rejected] == expected
