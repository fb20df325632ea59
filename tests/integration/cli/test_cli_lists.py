"""``chapar lists …`` run as an operator runs it (subprocesses), against a registry in a
temporary directory; results checked in the store itself."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import xlsxwriter  # type: ignore[import-untyped]
import yaml

from router.model.accounts import Account
from router.model.lines import Line
from router.model.numbersets import NumberSet, end_of_day
from router.store.lines import LineStore
from router.store.registry import Registry
from tests.conftest import check_report, read_report
from tests.integration.cli.support import EXIT_USAGE, ok, refused, summary, write_csv
from tests.integration.cli.support import registry_chapar as chapar

TEHRAN = ZoneInfo("Asia/Tehran")


def store_of(registry_path: Path) -> LineStore:
    return LineStore(registry_path)


# --- imports: the messy files ----------------------------------------------------------------

WHITELIST_ROWS = [
    ["name", "mobile", "expiry"],  # 1 header
    ["Ali", "09121234567", ""],  # 2 ok
    ["Lost 0", "9121234568", ""],  # 3 ok: Excel dropped the leading 0
    ["Float", "9121234569.0", ""],  # 4 ok: .0 float written back as text
    ["Sci", "9.89121234570E+11", ""],  # 5 ok: scientific notation, all digits
    ["Persian", "۰۹۱۲۱۲۳۴۵۷۱", "2099-12-31"],  # 6 ok, with an expiry
    ["", "", ""],  # 7 blank
    ["Dup", "09121234567", ""],  # 8 duplicate of row 2
    ["Dup 2", "+98 912 123 4567", ""],  # 9 duplicate of row 2, other form
    ["Irancell", "09351234567", ""],  # 10 another operator
    ["Junk", "hello", ""],  # 11 garbage text
    ["Old test", "09121234572", "2020-01-01"],  # 12 expiry passed
    ["Bank test", "09121234573", "۱۴۷۰/۰۱/۰۱"],  # 13 ok, Solar Hijri expiry
    ["Short", "0912123456", ""],  # 14 too short
    ["Lost digits", "9.89121E+11", ""],  # 15 scientific notation that lost digits
    ["Bad date", "09121234574", "soon"],  # 16 unreadable expiry
    ["Arabic", "٠٩١٢١٢٣٤٥٧٥", ""],  # 17 ok: Arabic-Indic digits
]
WHITELIST_REJECTED = [
    (10, "09351234567", "Irancell"),
    (11, "hello", "letters"),
    (12, "09121234572", "already passed"),
    (14, "0912123456", "too short"),
    (15, "9.89121E+11", "lost"),
    (16, "09121234574", "not a date"),
]
WHITELIST_PERMANENT = {989121234567, 989121234568, 989121234569, 989121234570, 989121234575}


def test_import_whitelist_csv_every_messy_case(
    config: Path, registry_path: Path, tmp_path: Path
) -> None:
    ok("lines", "add", "3000", "--account", "acme", "--kind", "service", config=config)
    source = write_csv(tmp_path / "customers.csv", WHITELIST_ROWS)
    done = chapar("lists", "import", "whitelist", str(source), "--line", "3000",
                  "--operator", "IR-MCI", config=config)  # fmt: skip
    assert done.returncode == 0, done.stderr
    info = summary(done.stdout)
    assert info["accepted"] == "7" and info["duplicates"] == "2" and info["rejected"] == "6"
    assert info["rows"] == "17 (1 header, 1 blank)"
    assert info["stored"] == "7 (replace)"
    report = tmp_path / "customers.csv.rejected.csv"
    assert info["report"] == str(report)
    check_report(report, WHITELIST_REJECTED)
    assert "17 / 17 rows 100%" in done.stderr  # the progress bar's last state

    snap = store_of(registry_path).load_snapshot()
    whitelist = snap.whitelists["3000"]
    assert set(whitelist.permanent) == WHITELIST_PERMANENT
    assert dict(whitelist.expiring) == {
        989121234571: end_of_day(date(2099, 12, 31), TEHRAN),
        989121234573: end_of_day(date(2091, 3, 21), TEHRAN),  # 1 Farvardin 1470
    }
    assert set(snap.whitelists) == {"3000"} and not snap.blacklist


def write_blacklist_xlsx(path: Path) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("blacklist")
    sheet.write_string(0, 0, "Operator blacklist — MCI")  # 1 title
    sheet.write_string(1, 0, "msisdn")  # 2 column name
    sheet.write_number(2, 0, 9121234567)  # 3 ok: number cell, leading 0 lost
    sheet.write_number(3, 0, 9121234568.0)  # 4 ok: float cell
    sheet.write_string(4, 0, "9121234569.0")  # 5 ok: .0 as text
    sheet.write_string(5, 0, "9.89121234570E+11")  # 6 ok: scientific text
    sheet.write_string(6, 0, "۰۹۱۲۱۲۳۴۵۷۱")  # 7 ok: Persian digits
    # 8 blank
    sheet.write_number(8, 0, 989121234567)  # 9 duplicate of row 3
    sheet.write_string(9, 0, "0935 123 4567")  # 10 Irancell
    sheet.write_string(10, 0, "not a number")  # 11 garbage text
    sheet.write_number(11, 0, 9121234572.5)  # 12 fraction
    sheet.write_string(12, 0, "9.89121E+11")  # 13 lost digits
    sheet.write_string(13, 0, "09971234567")  # 14 prefix of no operator
    sheet.write_string(14, 0, "٠٩١٢١٢٣٤٥٧٣")  # 15 ok: Arabic-Indic digits
    sheet.write_number(15, 0, 8613812345678)  # 16 China Mobile
    sheet.write_string(16, 0, "09121234568")  # 17 duplicate of row 4
    more = book.add_worksheet("more")
    more.write_string(0, 0, "mobile")
    more.write_string(1, 0, "09121234580")
    more.write_number(2, 0, 9121234581)
    more.write_string(3, 0, "09121234567")  # already stored
    book.close()
    return path


BLACKLIST_REJECTED = [
    (10, "0935 123 4567", "Irancell"),
    (11, "not a number", "letters"),
    (12, "9121234572.5", "fractional"),
    (13, "9.89121E+11", "lost"),
    (14, "09971234567", "operator unknown"),
    (16, "8613812345678", "China Mobile"),
]
BLACKLIST = {989121234567, 989121234568, 989121234569, 989121234570, 989121234571, 989121234573}


def test_import_blacklist_xlsx_every_messy_case_then_append_another_sheet(
    config: Path, registry_path: Path, tmp_path: Path
) -> None:
    source = write_blacklist_xlsx(tmp_path / "mci.xlsx")
    report = tmp_path / "reports" / "mci-rejected.csv"
    report.parent.mkdir()
    out = ok("lists", "import", "blacklist", str(source), "--operator", "IR-MCI",
             "--report", str(report), config=config)  # fmt: skip
    info = summary(out)
    assert info["accepted"] == "6" and info["duplicates"] == "2" and info["rejected"] == "6"
    assert info["rows"] == "17 (2 header, 1 blank)" and info["report"] == str(report)
    check_report(report, BLACKLIST_REJECTED)
    assert set(store_of(registry_path).load_snapshot().blacklist) == BLACKLIST

    out = ok("lists", "import", "blacklist", str(source), "--sheet", "2", "--mode", "append",
             config=config)  # fmt: skip
    info = summary(out)
    assert info["accepted"] == "3" and info["stored"] == f"{len(BLACKLIST) + 2} (append)"
    assert read_report(source.with_name("mci.xlsx.rejected.csv")) == []
    assert set(store_of(registry_path).load_snapshot().blacklist) == BLACKLIST | {
        989121234580,
        989121234581,
    }
    # replace with the second sheet only (by name); the first-sheet numbers go
    ok("lists", "import", "blacklist", str(source), "--sheet", "more", config=config)
    assert set(store_of(registry_path).load_snapshot().blacklist) == {
        989121234580, 989121234581, 989121234567,
    }  # fmt: skip


def test_replace_and_append_modes(config: Path, registry_path: Path, tmp_path: Path) -> None:
    ok("lines", "add", "3000", "--account", "acme", "--kind", "service", config=config)
    ok("lines", "add", "5000", "--account", "acme", config=config)
    first = write_csv(tmp_path / "a.csv", [["09121234567"], ["09121234568"]])
    second = write_csv(tmp_path / "b.csv", [["09121234569"], ["09121234567", "2099-01-01"]])
    third = write_csv(tmp_path / "c.csv", [["09121234570"]])

    # whitelists
    ok("lists", "import", "whitelist", str(first), "--line", "3000", config=config)
    ok("lists", "import", "whitelist", str(second), "--line", "3000", "--mode", "append",
       config=config)  # fmt: skip
    wl = store_of(registry_path).load_snapshot().whitelists["3000"]
    assert set(wl.permanent) == {989121234567, 989121234568, 989121234569}
    assert not wl.expiring  # the permanent entry wins over the later expiring one
    ok("lists", "import", "whitelist", str(third), "--line", "3000", config=config)
    wl = store_of(registry_path).load_snapshot().whitelists["3000"]
    assert set(wl.permanent) == {989121234570}

    # opt-outs: per line and per signature
    ok("lists", "import", "optout", str(first), "--line", "5000", config=config)
    ok("lists", "import", "optout", str(third), "--line", "5000", "--mode", "append",
       config=config)  # fmt: skip
    ok("lists", "import", "optout", str(second), "--line", "5000", "--signature", "【Acme】",
       config=config)  # fmt: skip
    snap = store_of(registry_path).load_snapshot()
    assert snap.optouts["5000"] == NumberSet([989121234567, 989121234568, 989121234570])
    assert snap.signature_optouts[("5000", "acme")] == NumberSet([989121234569, 989121234567])
    ok("lists", "import", "optout", str(third), "--line", "5000", config=config)
    snap = store_of(registry_path).load_snapshot()
    assert snap.optouts["5000"] == NumberSet([989121234570])
    assert len(snap.signature_optouts[("5000", "acme")]) == 2

    # blacklist
    ok("lists", "import", "blacklist", str(first), config=config)
    ok("lists", "import", "blacklist", str(third), "--mode", "append", config=config)
    assert len(store_of(registry_path).load_snapshot().blacklist) == 3
    ok("lists", "import", "blacklist", str(second), config=config)
    assert set(store_of(registry_path).load_snapshot().blacklist) == {989121234567, 989121234569}

    shown = [line.split()[:3] for line in ok("lists", "show", config=config).splitlines()]
    assert shown == [
        ["blacklist", "-", "2"],
        ["whitelist", "3000", "1"],
        ["optout", "5000", "1"],
        ["optout", "5000", "[acme]"],
    ]
    shown_line = ok("lines", "show", "5000", config=config)
    assert "opt-outs (line): 1" in shown_line and "opt-outs (signature acme): 2" in shown_line
    assert "whitelist: 1 numbers (0 with an expiry date)" in ok(
        "lines", "show", "3000", config=config
    )
    kinds = [(kind, key) for _, kind, key in Registry(registry_path).changes_since(0)]
    assert ("list", "whitelist:3000") in kinds and ("list", "blacklist") in kinds
    assert ("optout", "5000") in kinds


def test_whitelist_takes_the_line_operator_by_default(
    config: Path, registry_path: Path, tmp_path: Path
) -> None:
    ok("lines", "add", "3000", "--account", "acme", "--kind", "service", "--operator", "IR-MCI",
       config=config)  # fmt: skip
    source = write_csv(tmp_path / "mixed.csv", [["09121234567"], ["09351234567"]])
    info = summary(ok("lists", "import", "whitelist", str(source), "--line", "3000",
                      config=config))  # fmt: skip
    assert info["accepted"] == "1" and "IR-MCI numbers only" in info["list"]
    check_report(tmp_path / "mixed.csv.rejected.csv", [(2, "09351234567", "Irancell")])
    info = summary(ok("lists", "import", "whitelist", str(source), "--line", "3000",
                      "--operator", "any", config=config))  # fmt: skip
    assert info["accepted"] == "2" and info["rejected"] == "0"
    assert len(store_of(registry_path).load_snapshot().whitelists["3000"]) == 2


def test_import_refusals_leave_lists_alone(
    config: Path, registry_path: Path, tmp_path: Path
) -> None:
    ok("lines", "add", "3000", "--account", "acme", "--kind", "service", config=config)
    good = write_csv(tmp_path / "good.csv", [["09121234567"]])
    junk = write_csv(tmp_path / "junk.csv", [["hello"], ["12"], ["0912"]])
    ok("lists", "import", "blacklist", str(good), config=config)
    before = Registry(registry_path).last_change()

    def refuse(*args: str, words: str) -> None:
        refused("lists", "import", *args, config=config, words=words)

    refuse("whitelist", str(good), words="give its line")
    refuse("optout", str(good), "--line", "9999", words="no line '9999'")
    refuse("blacklist", str(good), "--line", "3000", words="not a line's")
    refuse("whitelist", str(good), "--line", "3000", "--signature", "x", words="opt-out")
    refuse("blacklist", str(tmp_path / "missing.csv"), words="no such file")
    refuse("blacklist", str(good), "--operator", "MCI", words="unknown operator 'MCI'")
    refuse("blacklist", str(good), "--sheet", "2", words="Excel")
    refuse("blacklist", str(good), "--column", "0", words="from 1")
    not_xlsx = tmp_path / "fake.xlsx"
    not_xlsx.write_text("not a zip")
    refuse("blacklist", str(not_xlsx), words="fake.xlsx")
    done = chapar("lists", "import", "blacklist", str(junk), config=config)
    assert done.returncode == EXIT_USAGE and "left as it was" in done.stderr
    assert summary(done.stdout)["rejected"] == "2"  # the first row reads as a header
    assert len(read_report(tmp_path / "junk.csv.rejected.csv")) == 2
    # appending nothing is fine and changes nothing either
    done = chapar("lists", "import", "blacklist", str(junk), "--mode", "append", config=config)
    assert done.returncode == 0, done.stderr
    assert set(store_of(registry_path).load_snapshot().blacklist) == {989121234567}
    assert Registry(registry_path).last_change() == before + 1  # only the empty append


def test_default_registry_without_config(tmp_path: Path) -> None:
    """No --config: ./var/registry.db and the shipped prefix tables, from any directory."""
    reg = Registry(tmp_path / "var" / "registry.db")
    reg.add_account(Account(system_id="acme", password_hash="h"))
    reg.close()
    done = chapar("lines", "add", "3000", "--account", "acme", "--operator", "IR-MCI",
                  cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    source = write_csv(tmp_path / "n.csv", [["09121234567"], ["09351234567"]])
    done = chapar("lists", "import", "optout", "n.csv", "--line", "3000", "--operator",
                  "IR-MCI", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert summary(done.stdout)["accepted"] == "1"
    store = LineStore(tmp_path / "var" / "registry.db")
    assert store.optouts("3000") == NumberSet([989121234567])
    assert source.with_name("n.csv.rejected.csv").exists()
    assert store.get_line("3000") == Line(
        number="3000",
        account="acme",
        operator="IR-MCI",
        created_at=store.lines()[0].created_at,
        updated_at=store.lines()[0].updated_at,
    )


def test_progress_bar_is_throttled() -> None:
    import io

    from router.cli.lists import ProgressBar

    clock = iter([0.0, 0.05, 0.09, 0.2, 0.21, 0.22, 0.23])
    stream = io.StringIO()
    bar = ProgressBar(stream, per_second=10.0, clock=lambda: next(clock))
    for done in (10, 20, 30, 40, 50):
        bar(done, 100)  # drawn at 0.0 and 0.2 only
    bar(100, 100)  # done: always drawn
    bar(100, 100)  # the same state again: not redrawn
    bar.close()
    frames = stream.getvalue().split("\r")[1:]
    assert [f.split("]")[1].split()[0] for f in frames] == ["10", "40", "100"]
    assert frames[-1].endswith("100%\n") and "#" * 30 in frames[-1]
    silent = io.StringIO()
    ProgressBar(silent).close()
    assert silent.getvalue() == ""


def test_policy_settings_errors(tmp_path: Path, registry_path: Path, config: Path) -> None:
    ok_csv = write_csv(tmp_path / "n.csv", [["09121234567"]])
    for policy, words in (
        ({"prefixes_dir": str(tmp_path / "nowhere")}, "no prefix tables"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ):
        path = tmp_path / "policy.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "store": yaml.safe_load(config.read_text())["store"],
                    "simulator": {"enabled": True},
                    "policy": policy,
                }
            )
        )
        refused("lists", "import", "blacklist", str(ok_csv), config=path, words=words)
    assert not store_of(registry_path).load_snapshot().blacklist
