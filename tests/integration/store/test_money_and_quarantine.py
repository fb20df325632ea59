"""The ledger and the quarantine beside the journal, on each backend (SQLite, and a real
PostgreSQL: ``journal_place``): rows the journal's commit writes, read and decided by
the stores the CLI and the running router open."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from router.model.wallets import LedgerRow
from router.store import ledger as ledger_mod
from router.store.interface import Journal
from router.store.journal import SqliteJournal
from router.store.ledger import Ledger, statement
from router.store.postgres.journal import PgJournal
from router.store.quarantine import QuarantineStore
from router.store.settings import Place


def journal(place: Place) -> Journal:
    return SqliteJournal(place) if isinstance(place, Path) else PgJournal(place.dsn)


def test_balances_follow_topups_and_the_journal_rows(journal_place: Place) -> None:
    """requirements §5: reserve on accept, charge kept on success, refund on failure;
    a topup from another process (the CLI) is seen by its seq."""
    ledger = Ledger(journal_place)
    assert ledger.balances() == ({}, 0)
    assert ledger.topup("acme", 1_000, "invoice 7") == 1_000
    sums, seen = ledger.balances()
    assert sums == {"acme": 1_000} and seen > 0
    j = journal(journal_place)
    j.add_batch(500, "acme", [b"x", b"y", b"z"], time.time())
    j.add_ledger([LedgerRow(time.time(), "acme", "reserve", -30, "",
                            orjson.dumps([[500, -10, 3]]))])
    j.commit()
    assert ledger.balance("acme") == 970
    assert ledger.open_reservations() == {500: ("acme", 10), 501: ("acme", 10),
                                          502: ("acme", 10)}
    j.add_ledger([LedgerRow(time.time(), "acme", "commit", 0, "", orjson.dumps([[500, 0]])),
                  LedgerRow(time.time(), "acme", "refund", 10, "", orjson.dumps([[501, 10]]))])
    j.commit()
    assert ledger.balance("acme") == 980
    assert ledger.open_reservations() == {502: ("acme", 10)}
    assert ledger.topups_since(0) == [(seen, "acme", 1_000)] and ledger.topups_since(seen) == []
    ledger.topup("acme", -80, "correction")
    assert [(a, n) for _, a, n in ledger.topups_since(seen)] == [("acme", -80)]
    assert ledger.balances()[0] == {"acme": 900}
    kinds = [row[2] for row in ledger.rows("acme")]
    assert kinds == ["topup", "reserve", "commit", "refund", "topup"]
    assert [row[2] for row in ledger.rows("acme", limit=2)] == ["topup", "reserve"]
    lines = statement([ledger], "acme", 0.0, float("inf")).splitlines()
    assert lines[0] == "at,kind,message_id,amount,balance"
    assert lines[-1].endswith(",topup correction,,-80,900")
    j.close()
    ledger.close()


def test_a_start_reads_the_money_rows_from_the_oldest_open_reservation(
        journal_place: Place) -> None:
    """requirements §5 (a restart settles what the last run left open) without reading
    the ledger's whole life at each start: rows below the ``settled`` mark are not read
    again (made unreadable here, they would fail the scan), and the open ones are
    still found above it."""
    ledger = Ledger(journal_place)
    j = journal(journal_place)
    now = time.time()

    def money(kind: str, amount: int, entries: list[list[int]]) -> None:
        j.add_ledger([LedgerRow(now, "acme", kind, amount, "", orjson.dumps(entries))])
        j.commit()

    money("reserve", -20, [[600, -10, 2]])  # 600, 601
    money("reserve", -10, [[700, -10]])
    money("commit", 0, [[600, 0], [601, 0]])
    assert ledger.open_reservations() == {700: ("acme", 10)}
    seqs = [row[0] for row in ledger.rows("acme")]
    with ledger._tx() as db:  # the settled row: never read again
        db.execute("UPDATE ledger SET entries = ? WHERE seq = ?", (b"unreadable", seqs[0]))
    assert ledger.open_reservations() == {700: ("acme", 10)}
    money("refund", 10, [[700, 10]])
    money("reserve", -10, [[800, -10]])
    assert ledger.open_reservations() == {800: ("acme", 10)}
    with ledger._tx() as db:  # 700's rows are settled now too
        db.execute("UPDATE ledger SET entries = ? WHERE seq <= ?", (b"unreadable", seqs[1]))
    assert ledger.open_reservations() == {800: ("acme", 10)}
    money("commit", 0, [[800, 0]])
    assert ledger.open_reservations() == {} and ledger.open_reservations() == {}
    assert ledger.balance("acme") == -30
    j.close()
    ledger.close()


def test_balances_add_the_rows_since_the_kept_sums(journal_place: Place,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """requirements §5: balance = the sum of the account's rows, without summing the
    ledger's whole life at each start: past ``SUM_AGAIN`` new rows the sums and their
    mark move up; rows below it are not summed again (changed here, the balance would
    change), rows after it are."""
    monkeypatch.setattr(ledger_mod, "SUM_AGAIN", 3)
    ledger = Ledger(journal_place)
    ledger.topup("acme", 1_000)
    ledger.topup("beta", 500)
    assert ledger.balances()[0] == {"acme": 1_000, "beta": 500}  # 2 rows: no sums kept
    ledger.topup("acme", -100)
    sums, seen = ledger.balances()  # 3 rows: kept
    assert sums == {"acme": 900, "beta": 500} and seen == ledger.rows("acme")[-1][0]
    with ledger._tx() as db:
        db.execute("UPDATE ledger SET amount = 7")
    assert ledger.balances()[0] == {"acme": 900, "beta": 500}
    assert ledger.balance("acme") == 900 and ledger.balance("gamma") == 0
    ledger.topup("gamma", 40)
    assert ledger.balance("gamma") == 40 and ledger.balance("acme") == 900
    assert ledger.balances()[0] == {"acme": 900, "beta": 500, "gamma": 40}
    ledger.close()


def test_held_messages_are_decided_and_dispatched_once(journal_place: Place) -> None:
    """requirements §3: a held message waits for an operator; a release or a reject
    reaches the router's poll once, a long message's parts decided together."""
    j = journal(journal_place)
    now = time.time()
    j.add_batch(100, "acme", [b"a", b"b", b"c", b"d"], now)
    j.add_held([(100, "acme", now, "protest", "phrase", b"a", "held", ""),
                (101, "acme", now, "", "", b"b", "part", ""),
                (102, "acme", now, "", "", b"c", "part", "")])
    j.add_flags([(103, "acme", now, "ads", "ads,spam")])
    j.commit()
    j.add_settled([("held", "fraud", "regex", now, 0, "g1", 101),
                   ("held", "fraud", "regex", now, 0, "g1", 102)])
    j.commit()
    store = QuarantineStore(journal_place)
    held = store.held()
    assert [(h.message_id, h.category, h.group) for h in held] == [
        (100, "protest", ""), (101, "fraud", "g1"), (102, "fraud", "g1")]
    assert held[0].body == b"a" and held[0].decided_at is None and not held[0].dispatched
    assert store.flags() == [(103, "acme", now, "ads", "ads,spam")]
    assert store.decide(101, "rejected") == 2  # the whole long message
    assert store.decide(101, "released") == 0  # decided already
    assert store.decide(100, "released") == 1
    assert store.decide(999, "released") == 0
    decided = store.undispatched()
    assert [(h.message_id, h.state) for h in decided] == [
        (100, "released"), (101, "rejected"), (102, "rejected")]
    store.mark_dispatched([h.message_id for h in decided])
    assert store.undispatched() == [] and store.held() == []
    got = store.get(100)
    assert got is not None and got.dispatched and got.decided_at is not None
    assert [h.message_id for h in store.held(None)] == [100, 101, 102]
    store.close()
    j.close()
