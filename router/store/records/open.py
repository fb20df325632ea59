"""The records store and journal source a config names (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from router.store.postgres.records import PgRecords
from router.store.records.columns import Cursor, Table
from router.store.records.settings import RecordSettings
from router.store.records.source import Source, SqliteSource
from router.store.records.sqlite import SqliteRecords, Step
from router.store.settings import StoreSettings


class RecordStore(Protocol):
    """What the follower, the export and ``records verify`` use (SqliteRecords,
    PgRecords)."""

    def cursor(self) -> Cursor: ...

    def write(self, step: Step) -> None: ...

    def months(self) -> list[str]: ...

    def drop(self, month: str) -> int: ...

    def carrier_ids(self, since_id: int, below_id: int) -> list[tuple[str, int, str]]: ...

    def count(self, month: str, where: str, args: tuple[object, ...],
              table: Table = ...) -> int: ...

    def chained_rows(self, month: str, table: Table) -> Iterator[tuple[object, ...]]: ...

    def close(self) -> None: ...


def open_records(store: StoreSettings, settings: RecordSettings,
                 readonly: bool = False) -> SqliteRecords | PgRecords:
    if store.backend == "postgres":
        return PgRecords(store.dsn, store.timeout)
    return SqliteRecords(Path(settings.path), readonly)


def open_stores(store: StoreSettings,
                settings: RecordSettings) -> tuple[Source, SqliteRecords | PgRecords]:
    if store.backend == "postgres":
        from router.store.postgres.source import PgSource
        return PgSource(store.dsn, store.timeout), open_records(store, settings)
    return SqliteSource(Path(store.path)), open_records(store, settings)
