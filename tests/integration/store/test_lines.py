"""router.store.lines: lines, lists, opt-outs and violations in the registry, on each
backend (a SQLite file, and a real PostgreSQL: ``registry_place``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from router.model.accounts import Account
from router.model.lines import Line, LineBook
from router.model.numbersets import ExpiringNumberSet, NumberSet
from router.store.lines import LineError, LineStore
from router.store.registry import Registry, RegistryError
from router.store.settings import Place
from tests.conftest import seed_registry

A, B, C, D = 989121234567, 989121234568, 989121234569, 989121234570


@pytest.fixture
def db(registry_place: Place) -> Place:
    """The registry on each backend in turn (SQLite, a real PostgreSQL)."""
    return seed_registry(registry_place)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    """A registry file, for what only SQLite has (WAL, files from older versions)."""
    return seed_registry(tmp_path / "registry.db")


@pytest.fixture
def store(db: Place) -> Iterator[LineStore]:
    with LineStore(db) as store:
        yield store


def changes(path: Place, after: int = 0) -> list[tuple[str, str]]:
    reg = Registry(path)
    try:
        return [(kind, key) for _, kind, key in reg.changes_since(after)]
    finally:
        reg.close()


def last_seq(path: Place) -> int:
    reg = Registry(path)
    try:
        return reg.last_change()
    finally:
        reg.close()


# --- lines ---------------------------------------------------------------------------


def test_line_round_trip_and_change_rows(db: Place, store: LineStore) -> None:
    before = last_seq(db)
    added = store.add_line(
        Line(
            number="30001234",
            account="acme",
            kind="service",
            purpose="order tracking",
            operator="IR-MCI",
            hours=(9 * 60, 21 * 60),
        )
    )
    assert added.created_at > 0 and added.created_at == added.updated_at
    other = LineStore(db)  # the router's connection sees it
    got = other.get_line("30001234")
    assert got == added
    assert got is not None and got.hours == (540, 1260) and got.status == "active"
    updated = store.update_line("30001234", status="demoted", status_reason="20 violations")
    assert updated.updated_at >= added.updated_at and updated.created_at == added.created_at
    assert other.get_line("30001234") == updated
    assert updated.effective_kind == "advertising"
    store.update_line("30001234", hours=None, status="active", status_reason="")
    got = other.get_line("30001234")
    assert got is not None and got.hours is None and got.status == "active"
    assert changes(db, before) == [("line", "30001234")] * 3


def test_overnight_hours_survive(store: LineStore) -> None:
    store.add_line(Line(number="1000", account="acme", hours=(22 * 60, 6 * 60)))
    got = store.get_line("1000")
    assert got is not None and got.hours == (1320, 360) and got.open_at(23 * 60)


def test_add_line_refusals(db: Place, store: LineStore) -> None:
    store.add_line(Line(number="3000", account="acme"))
    before = last_seq(db)
    with pytest.raises(LineError, match="exists"):
        store.add_line(Line(number="3000", account="bank"))
    with pytest.raises(LineError, match="no account 'nobody'"):
        store.add_line(Line(number="3001", account="nobody"))
    with pytest.raises(LineError, match="service lines only"):
        store.add_line(Line(number="3002", account="acme", exemption="government"))
    with pytest.raises(LineError, match="spaces"):
        store.add_line(Line(number="30 02", account="acme"))
    with pytest.raises(LineError, match="longer"):
        store.add_line(Line(number="9" * 21, account="acme"))
    with pytest.raises(LineError, match="kind"):
        store.add_line(Line(number="3003", account="acme", kind="promo"))  # type: ignore[arg-type]
    assert isinstance(LineError("x"), RegistryError)
    assert store.get_line("3001") is None and last_seq(db) == before  # nothing written


def test_missing_accounts_table_means_no_accounts(tmp_path: Path) -> None:
    store = LineStore(tmp_path / "fresh.db")  # created before any Registry
    with pytest.raises(LineError, match="no account"):
        store.add_line(Line(number="3000", account="acme"))
    reg = Registry(tmp_path / "fresh.db")  # the registry opens the same file after us
    reg.add_account(Account(system_id="acme", password_hash="h"))
    store.add_line(Line(number="3000", account="acme"))
    assert [k for _, k, _ in reg.changes_since(0)] == ["account", "line"]


def test_lines_by_account_and_update_refusals(store: LineStore) -> None:
    store.add_line(Line(number="3002", account="acme"))
    store.add_line(Line(number="3001", account="acme", kind="service"))
    store.add_line(
        Line(number="2000", account="bank", kind="service", exemption="bank_transaction")
    )
    assert [ln.number for ln in store.lines()] == ["2000", "3001", "3002"]
    assert [ln.number for ln in store.lines("acme")] == ["3001", "3002"]
    assert store.lines("nobody") == []
    with pytest.raises(LineError, match="no line"):
        store.update_line("9999", status="suspended")
    with pytest.raises(LineError, match="cannot be changed: created_at, number"):
        store.update_line("3001", number="x", created_at=1.0)
    with pytest.raises(LineError, match="only a service line can be demoted"):
        store.update_line("3002", status="demoted")
    with pytest.raises(LineError, match="no account"):
        store.update_line("3002", account="nobody")
    with pytest.raises(LineError, match="service lines only"):
        store.update_line("2000", kind="advertising")
    moved = store.update_line("2000", kind="advertising", exemption="")
    assert moved.kind == "advertising" and moved.exemption == ""
    assert store.update_line("3002", account="bank").account == "bank"


# --- lists -----------------------------------------------------------------------------


def test_blacklist_replace_and_append(db: Place, store: LineStore) -> None:
    before = last_seq(db)
    assert store.blacklist() == NumberSet()
    assert store.save_blacklist(NumberSet([A, B])) == NumberSet([A, B])
    assert store.save_blacklist(NumberSet([C]), append=True) == NumberSet([A, B, C])
    assert store.save_blacklist(NumberSet([D])) == NumberSet([D])
    assert LineStore(db).load_snapshot().blacklist == NumberSet([D])
    assert changes(db, before) == [("list", "blacklist")] * 3


def test_big_blacklist_is_one_blob(store: LineStore) -> None:
    numbers = NumberSet(range(989120000000, 989120000000 + 200_000, 3))
    store.save_blacklist(numbers)
    snap = store.load_snapshot()
    assert snap.blacklist == numbers and snap.is_blacklisted(989120000003)
    assert not snap.is_blacklisted(989120000001)


def test_whitelist_with_expiry(db: Place, store: LineStore) -> None:
    store.add_line(Line(number="3000", account="acme", kind="service"))
    with pytest.raises(LineError, match="no line"):
        store.save_whitelist("9999", ExpiringNumberSet([A]))
    before = last_seq(db)
    store.save_whitelist("3000", ExpiringNumberSet([A], {B: 1000.0}))
    got = store.whitelist("3000")
    assert got is not None and got.contains(A, 5000.0)
    assert got.contains(B, 999.0) and not got.contains(B, 1000.0)
    # append: new numbers added, a new expiry replaces the old, permanent wins
    store.save_whitelist("3000", ExpiringNumberSet([C], {B: 2000.0, A: 10.0}), append=True)
    got = store.whitelist("3000")
    assert got is not None
    assert set(got.permanent) == {A, C} and dict(got.expiring) == {B: 2000.0}
    snap = store.load_snapshot()
    assert snap.in_whitelist("3000", C, 0.0) and snap.in_whitelist("3000", B, 1999.0)
    assert not snap.in_whitelist("3000", B, 2000.0) and not snap.in_whitelist("3001", A, 0.0)
    store.save_whitelist("3000", ExpiringNumberSet([D]))  # replace
    assert store.load_snapshot().whitelists["3000"].permanent == NumberSet([D])
    assert store.whitelist("3001") is None
    assert changes(db, before) == [("list", "whitelist:3000")] * 3


def test_purge_expired(db: Place, store: LineStore) -> None:
    for line in ("3000", "3001"):
        store.add_line(Line(number=line, account="acme", kind="service"))
    store.save_whitelist("3000", ExpiringNumberSet([A], {B: 100.0, C: 300.0}))
    store.save_whitelist("3001", ExpiringNumberSet([A]))
    before = last_seq(db)
    assert store.purge_expired(200.0) == 1
    got = store.whitelist("3000")
    assert got is not None and dict(got.expiring) == {C: 300.0} and len(got) == 2
    assert changes(db, before) == [("list", "whitelist:3000")]
    assert store.purge_expired(200.0) == 0


def test_optouts_rows(db: Place, store: LineStore) -> None:
    store.add_line(Line(number="3000", account="acme"))
    store.add_line(Line(number="3001", account="acme"))
    before = last_seq(db)
    assert store.add_optout("3000", A)
    assert not store.add_optout("3000", A)  # already: no change row
    assert store.add_optout("3000", B, "【Acme】")
    assert store.add_optout("3000", C, signature=" acme ")  # the same signature
    assert store.remove_optout("3000", A)
    assert not store.remove_optout("3000", A)
    assert not store.remove_optout("3001", B)
    assert changes(db, before) == [("optout", "3000")] * 4
    assert store.optouts("3000") == NumberSet()
    assert store.optouts("3000", "[ACME]") == NumberSet([B, C])
    snap = store.load_snapshot()
    assert snap.is_opted_out("3000", B, "【Acme】") and not snap.is_opted_out("3000", B)
    assert not snap.is_opted_out("3000", B, "Other")


def test_save_optouts_replace_and_append(db: Place, store: LineStore) -> None:
    store.add_line(Line(number="3000", account="acme"))
    with pytest.raises(LineError, match="no line"):
        store.save_optouts("9999", NumberSet([A]))
    store.add_optout("3000", A, "Acme")
    before = last_seq(db)
    assert store.save_optouts("3000", NumberSet([B, C])) == NumberSet([B, C])
    assert store.save_optouts("3000", NumberSet([D]), append=True) == NumberSet([B, C, D])
    assert store.save_optouts("3000", NumberSet([A])) == NumberSet([A])
    assert store.optouts("3000", "Acme") == NumberSet([A])  # per-signature list untouched
    assert changes(db, before) == [("optout", "3000")] * 3


def test_snapshot_contents_and_counts(store: LineStore) -> None:
    assert store.load_snapshot().blacklist == NumberSet()
    assert store.list_counts() == []
    store.add_line(Line(number="3000", account="acme", kind="service"))
    store.add_line(Line(number="3001", account="acme"))
    store.save_blacklist(NumberSet([A, B, C]))
    store.save_whitelist("3000", ExpiringNumberSet([A, B], {C: 9e9}))
    store.save_optouts("3001", NumberSet([A, D]))
    store.add_optout("3001", B, "Acme")
    snap = store.load_snapshot()
    assert snap.blacklist == NumberSet([A, B, C])
    assert set(snap.whitelists) == {"3000"} and len(snap.whitelists["3000"]) == 3
    assert dict(snap.optouts) == {"3001": NumberSet([A, D])}
    assert dict(snap.signature_optouts) == {("3001", "acme"): NumberSet([B])}
    with pytest.raises(TypeError):
        snap.optouts["x"] = NumberSet()  # type: ignore[index]
    counts = [(k, line, sig, n) for k, line, sig, n, _ in store.list_counts()]
    assert counts == [
        ("blacklist", "", "", 3),
        ("whitelist", "3000", "", 3),
        ("optout", "3001", "", 2),
        ("optout", "3001", "acme", 1),
    ]
    assert all(at > 0 for *_, at in store.list_counts())


def test_violations(db: Place, store: LineStore) -> None:
    before = last_seq(db)
    store.record_violations([("3000", 100.0, "989121234567"), ("3000", 200.0, "989121234568")])
    store.record_violations([("3001", 150.0, "989121234569")])
    store.record_violations([])
    assert store.violation_counts(0.0) == {"3000": 2, "3001": 1}
    assert store.violation_counts(150.0) == {"3000": 1, "3001": 1}
    assert store.violation_counts(201.0) == {}
    assert last_seq(db) == before  # not configuration: no change rows
    assert store.purge_violations(150.0) == 1
    assert store.violation_counts(0.0) == {"3000": 1, "3001": 1}


def test_failed_write_leaves_nothing(db: Place, store: LineStore) -> None:
    store.add_line(Line(number="3000", account="acme"))
    store.save_optouts("3000", NumberSet([A]))
    before = last_seq(db)

    class Exploding(NumberSet):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield B
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        store.save_optouts("3000", Exploding([B]))
    assert store.optouts("3000") == NumberSet([A]) and last_seq(db) == before
    # the connection is usable afterwards
    assert store.add_optout("3000", C)


def test_tables_share_the_registry_file(sqlite_db: Path) -> None:
    LineStore(sqlite_db).close()
    raw = sqlite3.connect(sqlite_db)
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"accounts", "changes", "lines", "number_lists", "optouts", "violations"} <= tables
    mode = raw.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_priority_mark_round_trips_and_older_registries_gain_the_column(sqlite_db: Path
                                                                          ) -> None:
    """A line marked ``priority`` keeps the mark through the store and the line book;
    a registry made before the column existed gets it (off) when opened."""
    db = sqlite_db
    with sqlite3.connect(db) as raw:
        raw.execute("CREATE TABLE lines (number TEXT PRIMARY KEY, account TEXT NOT NULL, "
                    "kind TEXT NOT NULL, exemption TEXT NOT NULL DEFAULT '', status TEXT "
                    "NOT NULL DEFAULT 'active', purpose TEXT NOT NULL DEFAULT '', operator "
                    "TEXT NOT NULL DEFAULT '', hours TEXT NOT NULL DEFAULT '', status_reason "
                    "TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL, updated_at REAL "
                    "NOT NULL)")
        raw.execute("INSERT INTO lines VALUES ('3000', 'acme', 'advertising', '', 'active', "
                    "'', '', '', '', 0, 0)")
    store = LineStore(db)
    old = store.get_line("3000")
    assert old is not None and not old.priority
    store.add_line(Line(number="4000", account="acme", priority=True))
    assert store.update_line("3000", priority=True).priority
    book = LineBook(store.lines())
    assert book.priority == {"3000", "4000"}
    assert book.replaced(replace(old, priority=False), "3000").priority == {"4000"}
