"""The records store and journal source a config names (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from router.store.journals import journals
from router.store.postgres.records import PgRecords
from router.store.records.columns import Cursor, Table
from router.store.records.settings import RecordSettings
from router.store.records.source import Source, SqliteSource
from router.store.records.sqlite import SqliteRecords, Step
from router.store.settings import Postgres, StoreSettings, worker_path


class RecordStore(Protocol):
    """What the follower, the export and ``records verify`` use (SqliteRecords,
    PgRecords)."""

    no_time: float | None
    """How a time not known yet goes to ``write`` (stored as NULL)."""

    def cursor(self) -> Cursor: ...

    def write(self, step: Step) -> None: ...

    def flush(self) -> None: ...

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
        return PgRecords(store.dsn, store.timeout, store.journal_schema)
    return SqliteRecords(Path(settings.path), readonly)


def open_stores(store: StoreSettings,
                settings: RecordSettings) -> tuple[Source, SqliteRecords | PgRecords]:
    if store.backend == "postgres":
        from router.store.postgres.source import PgSource
        return (PgSource(store.dsn, store.timeout, store.journal_schema),
                open_records(store, settings))
    return SqliteSource(Path(store.path)), open_records(store, settings)


def every_store(store: StoreSettings, settings: RecordSettings
                ) -> list[tuple[str, SqliteRecords | PgRecords]]:
    """Every records store of a config, read-only, by name: one per journal
    (``store/journals.py``): with SQLite ``records.path`` and the files of ``--workers``
    (``records.w0.db``…); with PostgreSQL, in each journal's schema (``chapar_w0``…).
    FileNotFoundError when the router never wrote any."""
    found = journals(store)
    if store.backend == "postgres":
        return [("postgres" if j.worker is None else f"postgres {j.place.schema}",
                 PgRecords(store.dsn, store.timeout, j.place.schema))
                for j in found if isinstance(j.place, Postgres)]
    paths = [Path(records_path(settings, j.worker)) for j in found]
    paths = [p for p in paths if p.exists()]
    if not paths:
        raise FileNotFoundError(f"records.path: {settings.path} does not exist (has the "
                                "router run with this config?)")
    return [(str(p), SqliteRecords(p, readonly=True)) for p in paths]


def records_path(settings: RecordSettings, worker: int | None) -> str:
    """SQLite: the records file of the config's journal, or of worker ``worker``'s."""
    return settings.path if worker is None else worker_path(settings.path, worker)
