"""Shared by the records tests: submit_sm bodies, a journal with traffic, its records."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from router.smpp import codec
from router.smpp.pdu import SubmitSm
from router.store.journal import SqliteJournal
from router.store.records.columns import COLUMNS, Table
from router.store.records.follower import Follower
from router.store.records.open import open_stores
from router.store.records.settings import RecordSettings
from router.store.records.source import SqliteSource
from router.store.records.sqlite import SqliteRecords
from router.store.settings import StoreSettings


def body(line: str = "1000", destination: str = "989121234567", text: bytes = b"hello",
         registered: int = 1, **fields: object) -> bytes:
    return codec.encode_body(SubmitSm(1, source_addr=line, destination_addr=destination,
                                      short_message=text, registered_delivery=registered,
                                      **fields))  # type: ignore[arg-type]


def message_id(at: float, n: int = 0) -> int:
    """An id as MessageIds makes them (ms << 16 + counter)."""
    return (int(at * 1000) << 16) + n


class Setup:
    """A journal and a records file in ``tmp``, with a follower (called by hand)."""

    def __init__(self, tmp: Path, clock: float | None = None, **settings: object) -> None:
        self.now = clock if clock is not None else time.time()
        self.journal = SqliteJournal(tmp / "journal.db")
        self.settings = RecordSettings(path=str(tmp / "records.db"), **settings)  # type: ignore[arg-type]
        self.records = SqliteRecords(Path(self.settings.path))
        self.follower = Follower(SqliteSource(self.journal.path), self.records, self.settings,
                                 clock=lambda: self.now)

    def batch(self, count: int, account: str = "acc", peer: str = "127.0.0.7",
              at: float | None = None, **fields: object) -> int:
        """``count`` accepted submits journalled; the first id."""
        at = self.now if at is None else at
        first = message_id(at)
        self.journal.add_batch(first, account, [body(**fields)] * count, at, peer)  # type: ignore[arg-type]
        self.journal.commit()
        return first

    def rows(self, month: str, table: Table = "records") -> list[dict[str, object]]:
        return [dict(zip(COLUMNS, row, strict=True))
                for row in self.records.select(month, "", (), table)]

    def close(self) -> None:
        self.follower.close()
        self.records.close()
        self.journal.close()


def caught_up(store: StoreSettings, settings: RecordSettings) -> tuple[Follower, Any]:
    """A follower on either backend's journal, stepped until it has recorded all of it;
    (follower, records store)."""
    source, records = open_stores(store, settings)
    follower = Follower(source, records, settings)
    while follower.step():
        pass
    return follower, records
