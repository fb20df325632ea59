"""Tests for router.store.lookup (and store/postgres/lookup.py: on both backends): one
message read back for query/cancel/replace, and the replaced body a restart sends
(router.store.journal)."""

from __future__ import annotations

import time
from pathlib import Path

from router.app.build import journal_reader
from router.smpp.pdu import MessageState
from router.store.interface import Journal
from router.store.journal import SqliteJournal
from router.store.lookup import Finished, Record
from router.store.postgres.journal import PgJournal
from router.store.settings import Place


def journal(place: Place) -> Journal:
    return SqliteJournal(place) if isinstance(place, Path) else PgJournal(place.dsn)


def test_record_finds_the_batch_row_and_the_replaced_body(journal_place: Place) -> None:
    j = journal(journal_place)
    j.add_batch(100, "a", [b"one", b"two"], 5.0)
    j.add_batch(200, "b", [b"three"], 6.0)
    j.commit()
    reader = journal_reader(journal_place)
    assert reader.record(101) == Record("a", 5.0, b"two")
    assert reader.record(200) == Record("b", 6.0, b"three")
    assert [reader.record(i) for i in (99, 102, 201)] == [None, None, None]
    j.add_replaced(101, b"TWO")
    assert reader.record(101) == Record("a", 5.0, b"two")  # not committed yet
    j.commit()
    assert reader.record(101) == Record("a", 5.0, b"TWO")
    reader.close()
    j.close()


def test_outcome_is_found_among_later_rows_only_for_its_own_id(journal_place: Place) -> None:
    """The id is matched as a whole entry: 10 is not found in 100's or 1010's rows."""
    j = journal(journal_place)
    now = time.time()
    j.add_batch(10, "a", [b"x"], now)
    j.add_outcomes([(100, 0, "C", True), (1010, 0, "[10,", True)])
    j.commit()
    reader = journal_reader(journal_place)
    assert reader.outcome(10, now) is None
    j.add_outcomes([(10, 0x45, "", True)])
    j.commit()
    found = reader.outcome(10, now)
    assert isinstance(found, Finished) and found.status == 0x45
    assert abs(found.at - now) < 60
    assert reader.outcome(10, now + 3600) is None  # written long before "since"
    reader.close()
    j.close()


def test_a_restart_sends_the_replaced_body(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db")
    j.add_batch(10, "a", [b"x", b"y"], 1.0)
    j.commit()
    j.add_replaced(11, b"Y")
    j.commit()
    j.add_replaced(10, b"lost")  # the commit never happens: the process "dies"
    j._db.close()
    pending = SqliteJournal(tmp_path / "j.db").recover().pending
    assert [(m.id, m.body) for m in pending] == [(10, b"x"), (11, b"Y")]


def test_receipt_gives_the_final_state_of_a_message_a_carrier_took(journal_place: Place
                                                                     ) -> None:
    """query_sm after the carrier's receipt: the receipt's stat, not "en route"; an
    intermediate stat (ACCEPTD) or another id's receipt is not final for it."""
    j = journal(journal_place)
    now = time.time()
    j.add_batch(10, "a", [b"x"], now)
    j.add_receipts([(100, "DELIVRD"), (10, "ACCEPTD")])
    j.commit()
    reader = journal_reader(journal_place)
    assert reader.receipt(10, now) is None
    j.add_receipts([(10, "UNDELIV")])
    j.commit()
    found = reader.receipt(10, now)
    assert found is not None and found.status == MessageState.UNDELIVERABLE
    reader.close()
    j.close()
