"""The follower: journal rows become records with their outcomes, the journal is
compacted behind it, old partitions are dropped by the clock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
import structlog

from router.model.wallets import LedgerRow
from router.store import journal as journal_mod
from router.store.journal import SqliteJournal
from router.store.records import months
from router.store.records.follower import Follower
from router.store.records.source import SqliteSource
from router.store.records.sqlite import SqliteRecords
from tests.unit.store.records.records_helpers import Setup, body, message_id


@pytest.fixture
def s(tmp_path: Path) -> Setup:
    setup = Setup(tmp_path)
    yield setup  # type: ignore[misc]
    setup.close()


def test_records_follow_outcomes_receipts_and_charges(s: Setup) -> None:
    """requirements §4: upstream connector and message ids, delivery status and times;
    requirements §5: the charge."""
    first = s.batch(3, line="1000", destination="98912", text=b"hi")
    j = s.journal
    j.add_ledger([LedgerRow(s.now, "acc", "reserve", -6, "", orjson.dumps(
        [[first, -2, 3]]))])
    j.add_outcomes([(first, 0, "C-1", True), (first + 1, 0x45, "", True)], "carrier-a")
    j.commit()
    assert s.follower.step() > 0
    month = months.month_of_id(first)
    rows = {r["message_id"]: r for r in s.rows(month)}
    assert rows[first]["status"] == "sent" and rows[first]["upstream"] == "carrier-a"
    assert rows[first]["upstream_id"] == "C-1" and rows[first]["charge"] == 2
    assert rows[first + 1]["status"] == "failed 0x00000045" and rows[first + 1]["done_at"]
    assert rows[first + 2]["status"] == "queued" and rows[first + 2]["peer"] == "127.0.0.7"
    # times not known yet are NULL (SQLite is handed NaN for them: no_time)
    assert rows[first + 2]["submitted_at"] is None and rows[first + 2]["done_at"] is None
    assert rows[first]["done_at"] is None
    # later: the receipt and the refund, recorded on rows written in an earlier round
    j.add_receipts([(first, "DELIVRD")])
    j.add_ledger([LedgerRow(s.now, "acc", "refund", 2, "", orjson.dumps([[first + 1, 2]]))])
    j.commit()
    s.follower.step()
    rows = {r["message_id"]: r for r in s.rows(month)}
    assert rows[first]["status"] == "DELIVRD" and rows[first]["done_at"] is not None
    assert rows[first]["submitted_at"] is not None and rows[first + 1]["charge"] == 0
    assert s.records.cursor().receipts == 1


def test_a_charge_riding_a_batch_row_reaches_the_record_when_moved(
        s: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """requirements §5 (the charge in the record): on SQLite a reservation waits on its
    batch row until the next move (store/ledger.py); the follower records the message
    first and folds the charge in once the row is in the ledger table."""
    monkeypatch.setattr(journal_mod, "MOVE_EVERY", 3600.0)
    j = s.journal

    def reserved(first: int) -> None:
        j.add_batch(first, "acc", [body()] * 2, s.now)
        j.add_ledger([LedgerRow(s.now, "acc", "reserve", -10, "",
                                orjson.dumps([[first, -5, 2]]))])
        j.commit()

    early, late = message_id(s.now), message_id(s.now + 0.001)
    reserved(early)  # the first money commit moves: its row is in the table
    reserved(late)  # within the move interval: it rides the batch row
    s.follower.step()
    rows = {r["message_id"]: r for r in s.rows(months.month_of_id(late))}
    assert rows[early]["charge"] == 5 and rows[late]["charge"] == 0
    j.add_ledger([LedgerRow(s.now, "acc", "commit", 0, "", orjson.dumps([[late, 0, 2]]))])
    j.commit()  # no batch row to ride: the waiting row moves first
    s.follower.step()
    rows = {r["message_id"]: r for r in s.rows(months.month_of_id(late))}
    assert rows[late]["charge"] == rows[late + 1]["charge"] == 5


def test_refusals_are_recorded_with_their_reason(s: Setup) -> None:
    """requirements §4: every message gets a record, refused ones too (decision, reason)."""
    s.journal.add_refusals("acc", [(5, "2000", "98913", "not_own_line")], s.now, "10.9.8.7")
    s.journal.commit()
    s.follower.step()
    (row,) = s.rows(months.month_of(s.now), "refusals")
    assert (row["decision"], row["reason"], row["peer"], row["line"]) == (
        "refused", "not_own_line", "10.9.8.7", "2000")
    assert (row["submitted_at"], row["done_at"]) == (None, None)


def test_a_round_never_records_an_outcome_before_its_message(tmp_path: Path) -> None:
    s = Setup(tmp_path, batch_rows=2)
    ids = [s.batch(1, at=s.now + i / 1000) for i in range(5)]
    s.journal.add_outcomes([(i, 0, f"C{i}", True) for i in ids], "c")
    s.journal.commit()
    while s.follower.step():
        pass
    rows = s.rows(months.month_of(s.now))
    assert [r["message_id"] for r in rows] == ids
    assert {r["status"] for r in rows} == {"sent"}
    s.close()


def test_a_receipt_never_folds_ahead_of_its_outcome(tmp_path: Path) -> None:
    """Catching up in rounds smaller than the backlog: a receipt waits while outcomes
    are left unread (folded after it, an outcome would turn DELIVRD back into sent), and
    a full round's outcomes fold into its own new rows when their messages are in it."""
    s = Setup(tmp_path, batch_rows=2)
    ids = [s.batch(1, at=s.now + i / 1000) for i in range(5)]
    for i in ids:
        s.journal.add_outcomes([(i, 0, f"C{i}", True)], "c")
        s.journal.commit()
    s.journal.add_receipts([(i, "DELIVRD") for i in ids])
    s.journal.commit()
    assert s.follower.step() == 2
    rows = s.rows(months.month_of(s.now))
    assert [r["status"] for r in rows] == ["sent", "sent"]  # no UPDATE needed for these
    assert s.records.cursor().receipts == 0
    while s.follower.step():
        pass
    rows = s.rows(months.month_of(s.now))
    assert [r["message_id"] for r in rows] == ids
    assert [r["status"] for r in rows] == ["DELIVRD"] * 5
    assert all(r["upstream_id"] == f"C{r['message_id']}" for r in rows)
    s.close()


def test_events_of_messages_not_recorded_yet_wait(tmp_path: Path) -> None:
    """An outcome row naming a message of a batch still unread stops the round's
    outcomes there; the ledger (charges add up in any order) goes on alone."""
    from router.store.records.order import foldable, parsed

    outcomes = parsed([(1, 0.0, b"[[10,0,\"a\",true]]", "c"),
                       (2, 0.0, b"[[30,0,\"b\",true]]", "c"),
                       (3, 0.0, b"[[11,0,\"c\",true]]", "c")], 2)
    receipts = parsed([(1, 0.0, b"[[10,\"DELIVRD\"]]", None)], 2)  # before the outcomes column
    money = parsed([(1, 0.0, "reserve", b"[[10,-2,2]]"), (2, 0.0, "reserve", b"[[29,-2,2]]"),
                    (3, 0.0, "reserve", b"[[12,-2]]")], 3)
    got = foldable(outcomes, receipts, money, limit=8, bound=20)
    assert got == (outcomes[:1], [], money[:1])
    assert foldable(outcomes, receipts, money, limit=8, bound=None) == (
        outcomes, receipts, money)
    assert foldable(outcomes, receipts, money, limit=3, bound=None)[1] == []  # outcomes left


def test_a_receipt_folds_once_the_outcomes_committed_before_it_are(tmp_path: Path) -> None:
    """A receipts row names the last outcomes row committed with it: caught up in rounds
    smaller than the backlog, a round's receipts fold into its own new rows (no UPDATE
    a round later) once those outcomes are folded, even when outcomes were cut."""
    from router.store.records.order import foldable, parsed

    s = Setup(tmp_path, batch_rows=2)
    ids = []
    for i in range(5):  # as the relay journals at full load: message, outcome, receipt
        ids.append(s.batch(1, at=s.now + i / 1000))
        s.journal.add_outcomes([(ids[-1], 0, f"C{ids[-1]}", True)], "c")
        s.journal.add_receipts([(ids[-1], "DELIVRD")])
        s.journal.commit()
    assert s.follower.step() == 2
    rows = s.rows(months.month_of(s.now))
    assert [r["status"] for r in rows] == ["DELIVRD", "DELIVRD"]
    assert s.records.cursor().receipts == 2 and s.records.cursor().outcomes == 2
    while s.follower.step():
        pass
    rows = s.rows(months.month_of(s.now))
    assert [(r["message_id"], r["status"]) for r in rows] == [(i, "DELIVRD") for i in ids]
    s.close()
    outcome = parsed([(7, 0.0, b"[[10,0,\"a\",true]]", "c")], 2)
    receipts = parsed([(1, 0.0, b"[[10,\"DELIVRD\"]]", 6), (2, 0.0, b"[[10,\"DELIVRD\"]]", 8)],
                      2)
    assert foldable(outcome, receipts, [], limit=1, bound=20, outcomes_done=6)[1] == (
        receipts[:1])  # the second one's outcome row 8 is unread
    assert foldable([], receipts, [], limit=1, bound=20, outcomes_done=8)[1] == receipts
    assert foldable([], receipts, [], limit=1, bound=10, outcomes_done=8)[1] == []


def test_the_journal_is_compacted_behind_the_records(tmp_path: Path) -> None:
    """The journal stays bounded: rows recorded, finished and older than journal_keep go;
    the newest row stays (ids resume above it); recovery still finds what is in flight
    and the carrier ids receipts may still come for (from the records)."""
    s = Setup(tmp_path, journal_keep=60.0)
    old = s.now - 3600
    firsts = [s.batch(2, at=old + i) for i in range(5)]
    s.journal.add_outcomes([(i + k, 0, f"C{i + k}", True) for i in firsts for k in (0, 1)],
                           "c")
    s.journal.mark_done_below(firsts[-1] + 2)
    s.journal.commit()
    s.follower.step()
    assert s.follower.compact() > 0
    remaining = [r[0] for r in s.journal._db.execute("SELECT first_id FROM journal")]
    assert remaining == [firsts[-1]]
    recovery = s.journal.recover()
    assert recovery.pending == [] and recovery.last_id == firsts[-1] + 1
    carried = s.records.carrier_ids(message_id(old - 10), s.journal.first_id())
    assert sorted(c[0] for c in carried) == sorted(f"C{i + k}" for i in firsts[:-1]
                                                   for k in (0, 1))
    s.close()


def test_unfinished_or_unrecorded_rows_are_not_compacted(tmp_path: Path) -> None:
    s = Setup(tmp_path, journal_keep=0.0)
    old = s.now - 3600
    first = s.batch(2, at=old)
    s.batch(1, at=old + 1)
    assert s.follower.compact() == 0  # nothing recorded yet
    s.follower.step()
    s.journal.mark_done_below(first + 1)  # first + 1 still in flight
    s.journal.commit()
    s.follower.compact()
    assert [m.id for m in s.journal.recover().pending][:1] == [first + 1]
    s.close()


def test_records_are_rebuilt_from_the_journal(s: Setup, tmp_path: Path) -> None:
    """The follower can always be rebuilt: a records file deleted is written again."""
    first = s.batch(4)
    s.follower.step()
    before = s.rows(months.month_of_id(first))
    s.records.close()
    s.follower.close()
    Path(s.settings.path).unlink()
    for suffix in ("-wal", "-shm"):
        Path(s.settings.path + suffix).unlink(missing_ok=True)
    s.records = SqliteRecords(Path(s.settings.path))
    s.follower = Follower(SqliteSource(s.journal.path), s.records, s.settings,
                          clock=lambda: s.now)
    s.follower.step()
    assert s.rows(months.month_of_id(first)) == before


def test_old_partitions_are_dropped_by_a_simulated_clock(tmp_path: Path) -> None:
    """requirements §4: records in monthly partitions, kept six months; older ones are
    dropped on a timer and a log line names each."""
    start = months.month_start("2026-01") + 86400
    s = Setup(tmp_path, clock=start, retention_months=6)
    for i in range(11):  # one batch in each month, January to November
        s.batch(1, at=months.month_start(months.shift("2026-01", i)) + 86400)
    s.follower.step()
    assert s.records.months()[0] == "2026-01" and len(s.records.months()) == 11
    assert s.follower.expire() == []  # the clock says January: nothing is old
    s.now = months.month_start("2026-11") + 10 * 86400
    with structlog.testing.capture_logs() as logs:
        dropped = s.follower.expire()
    assert dropped == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert s.records.months()[0] == "2026-05"
    assert [(e["event"], e["month"], e["rows"]) for e in logs] == [
        ("records_partition_dropped", m, 1) for m in dropped]
    s.close()


def test_a_journal_from_before_records_gains_its_columns(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "old.db")
    db.execute("CREATE TABLE journal (first_id INTEGER PRIMARY KEY, count INTEGER NOT NULL, "
               "account TEXT NOT NULL, received_at REAL NOT NULL, bodies BLOB NOT NULL)")
    db.execute("CREATE TABLE receipts (seq INTEGER PRIMARY KEY, at REAL NOT NULL, "
               "entries BLOB NOT NULL)")
    db.execute("INSERT INTO receipts VALUES (1, 1.0, '[]')")
    db.commit()
    db.close()
    j = SqliteJournal(tmp_path / "old.db")
    j.add_batch(10, "a", [body()], 1.0, "1.2.3.4")
    j.add_outcomes([(10, 0, "C", True)], "c")
    j.add_receipts([(10, "DELIVRD")])
    j.commit()
    assert [m.id for m in j.recover().pending] == []
    j.close()
    db = sqlite3.connect(tmp_path / "old.db")
    assert db.execute("SELECT seq, outcomes FROM receipts").fetchall() == [(1, None), (2, 1)]
    db.close()


def test_state_changes_of_every_shape_update_only_what_they_set(s: Setup) -> None:
    """One UPDATE per shape of change: fields left None keep their value, the charge
    adds up, and a change that sets nothing changes nothing."""
    from router.store.records.sqlite import Step

    first = s.batch(3)
    s.follower.step()
    s.records.write(Step(changes={
        first: ["sent", "c", "C1", 5.0, None, 0],
        first + 1: [None, None, None, None, None, -4],
        first + 2: [None, None, None, None, None, 0]}, cursor=s.records.cursor()))
    s.records.write(Step(changes={first: ["DELIVRD", None, None, None, 6.0, -2]},
                         cursor=s.records.cursor()))
    rows = s.rows(months.month_of_id(first))
    assert [(r["status"], r["upstream"], r["upstream_id"], r["submitted_at"], r["done_at"],
             r["charge"]) for r in rows] == [
        ("DELIVRD", "c", "C1", 5.0, 6.0, -2), ("queued", "", "", None, None, -4),
        ("queued", "", "", None, None, 0)]
