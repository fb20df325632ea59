"""Group commit (no sockets): accepted read batches are journalled, then answered, then
queued for the carriers, one commit per loop turn for every connection (design.md §3.3).
The journal is the real SQLite one."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from router.dispatch.intake import Intake
from router.dispatch.outbound import Outbound
from router.dispatch.settings import DispatchSettings
from router.model.wallets import Wallets
from router.smpp.session import Submit
from router.store import journal as journal_mod
from router.store.ids import MessageIds
from router.store.journal import SqliteJournal, StoreError
from tests.fakes import Readers


class Source:
    """An ESME connection: what it was answered, in order."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, int, list[int]]] = []

    def answer_accepted(self, first_id: int, submits: list[Submit]) -> None:
        self.answers.append(("accepted", first_id, [s.sequence for s in submits]))

    def answer_refused(self, submits: list[Submit], status: int) -> None:
        self.answers.append(("refused", status, [s.sequence for s in submits]))


class Carrier:
    """Takes what is queued and holds it unanswered, as a carrier session in flight."""

    def __init__(self, outbound: Outbound) -> None:
        self.held: list[tuple[int, str, bool]] = []
        self._outbound = outbound
        outbound.attach(self)

    def pump(self) -> None:
        self.held += [(m.id, m.account, m.receipt) for m in self._outbound.take(100)]

    def lowest_in_flight(self) -> int | None:
        return min((i for i, _, _ in self.held), default=None)


def submit(seq: int, registered_delivery: int = 0) -> Submit:
    return Submit(seq, b"body%d" % seq, "1000", "989121234567", registered_delivery, 1, 1)


def test_one_commit_answers_every_connection_then_queues(tmp_path: Path) -> None:
    """design §3.3: ESME_ROK only after the commit, for all batches of the loop turn; the
    messages reach the outbound queue with consecutive ids and their receipt wish."""
    async def run() -> tuple[Source, Source, list[tuple[int, str, bool]], int]:
        journal = SqliteJournal(tmp_path / "j.db")
        outbound = Outbound(DispatchSettings(), Readers(), asyncio.get_running_loop().call_later)
        intake = Intake(journal, MessageIds(), outbound)
        carrier = Carrier(outbound)
        a, b = Source(), Source()
        intake.accept(a, "acc1", [submit(1), submit(2, registered_delivery=1)])
        intake.accept(b, "acc2", [submit(7)])
        assert a.answers == [] and b.answers == []  # nothing said before the commit
        await asyncio.sleep(0)
        queued = carrier.held
        intake.close()
        pending = len(SqliteJournal(tmp_path / "j.db").recover().pending)
        journal.close()
        return a, b, queued, pending

    a, b, queued, pending = asyncio.run(run())
    (kind, first, seqs), = a.answers
    assert kind == "accepted" and seqs == [1, 2]
    ((kind_b, first_b, seqs_b),) = b.answers
    assert kind_b == "accepted" and seqs_b == [7]
    assert first_b >= first + 2, "ids are unique and grow (time-ordered: not always adjacent)"
    assert queued == [(first, "acc1", False), (first + 1, "acc1", True),
                      (first_b, "acc2", False)]
    assert pending == 3, "journalled, and no carrier answered: recovery sends them again"


def test_outcomes_finish_messages_for_recovery(tmp_path: Path) -> None:
    """A carrier's final answer, recorded through intake, means recovery skips it."""
    async def run() -> int:
        journal = SqliteJournal(tmp_path / "j.db")
        outbound = Outbound(DispatchSettings(), Readers(), asyncio.get_running_loop().call_later)
        intake = Intake(journal, MessageIds(), outbound)
        intake.accept(Source(), "acc", [submit(1), submit(2)])
        await asyncio.sleep(0)
        first, second = outbound.take(2)
        intake.record_outcomes([(first.id, 0, "C1", False), (second.id, 0x45, "", False)])
        intake.close()
        journal.close()
        return len(SqliteJournal(tmp_path / "j.db").recover().pending)

    assert asyncio.run(run()) == 0


class FailingJournal(SqliteJournal):
    def commit(self, everything: bool = False) -> None:
        raise StoreError("disk full")


def test_a_failed_commit_gives_back_what_the_stages_took(tmp_path: Path) -> None:
    """Issue 11: a submit answered ESME_RSYSERR costs nothing: the throttle's tokens and
    quota go back through ``give_back``, the reserved money through the wallets."""
    async def run() -> tuple[Source, list[tuple[str, list[int]]], Wallets]:
        journal = FailingJournal(tmp_path / "j.db")
        outbound = Outbound(DispatchSettings(), Readers(), asyncio.get_running_loop().call_later)
        wallets = Wallets({"acc1": 100})
        intake = Intake(journal, MessageIds(), outbound, wallets=wallets)
        given: list[tuple[str, list[int]]] = []
        intake.give_back = lambda account, submits: given.append(
            (account, [s.sequence for s in submits]))
        batch = [submit(1), submit(2)]
        wallets.balances["acc1"] -= 20  # the billing stage reserved 2 x 10
        wallets.stage(batch, [10, 10])
        a = Source()
        intake.accept(a, "acc1", batch)
        await asyncio.sleep(0)
        journal.close()
        return a, given, wallets

    a, given, wallets = asyncio.run(run())
    assert a.answers == [("refused", 0x08, [1, 2])]
    assert given == [("acc1", [1, 2])]
    assert wallets.balances["acc1"] == 100 and not wallets.open


def test_hooks_learn_whether_their_commit_worked(tmp_path: Path) -> None:
    """cancel_sm and replace_sm are answered after the commit that makes them durable:
    the hook is told True after it, False when it failed (nothing else to commit is
    no reason to skip it)."""
    async def run(journal: SqliteJournal) -> list[bool]:
        outbound = Outbound(DispatchSettings(), Readers(), asyncio.get_running_loop().call_later)
        intake = Intake(journal, MessageIds(), outbound)
        told: list[bool] = []
        intake.when_committed(told.append)
        await asyncio.sleep(0)
        intake.record_replaced(5, b"new body")
        intake.when_committed(told.append)
        await asyncio.sleep(0)
        intake.close()
        journal.close()
        return told

    assert asyncio.run(run(SqliteJournal(tmp_path / "ok.db"))) == [True, True]
    assert asyncio.run(run(FailingJournal(tmp_path / "bad.db"))) == [False, False]


def test_ledger_rows_reach_their_table_when_the_load_stops(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """requirements §5: reservations ride the batch rows between moves (store/ledger.py);
    with no more traffic the intake still commits once the move is due, so the ledger
    table (which the records follower and the CLI read) gets every reservation."""
    monkeypatch.setattr(journal_mod, "MOVE_EVERY", 0.2)

    async def run() -> tuple[int, int]:
        journal = SqliteJournal(tmp_path / "j.db")
        outbound = Outbound(DispatchSettings(), Readers(), asyncio.get_running_loop().call_later)
        wallets = Wallets({"acc1": 100})
        intake = Intake(journal, MessageIds(), outbound, wallets=wallets)
        for seq in (1, 2, 3):  # one commit each: the first moves, the others ride
            batch = [submit(seq)]
            wallets.stage(batch, [10])
            intake.accept(Source(), "acc1", batch)
            await asyncio.sleep(0)
        waiting = reserved(tmp_path / "j.db")
        await asyncio.sleep(0.5)
        moved = reserved(tmp_path / "j.db")
        intake.close()
        journal.close()
        return waiting, moved

    assert asyncio.run(run()) == (10, 30)


def reserved(path: Path) -> int:
    """The money the ledger table says was reserved."""
    with sqlite3.connect(path) as db:
        return -int(db.execute("SELECT coalesce(sum(amount), 0) FROM ledger "
                               "WHERE kind = 'reserve'").fetchone()[0])
