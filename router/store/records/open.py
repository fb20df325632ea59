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
from router.store.settings import StoreSettings, worker_schema


class RecordStore(Protocol):
    """What the follower, the export and ``records verify`` use (SqliteRecords,
    PgRecords)."""

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
    """Every records store of a config, read-only, by name: with SQLite ``records.path``
    and the files of ``--workers`` (``records.w0.db``…: one per worker journal); with
    PostgreSQL, the journal schema's and those of ``--workers`` (``chapar_w0``…).
    FileNotFoundError when the router never wrote any."""
    if store.backend == "postgres":
        own = PgRecords(store.dsn, store.timeout, store.journal_schema)
        found: list[tuple[str, SqliteRecords | PgRecords]] = [("postgres", own)]
        for schema in own.schemas_like(worker_schema(store.journal_schema, 0)[:-1]):
            found.append((f"postgres {schema}", PgRecords(store.dsn, store.timeout, schema)))
        return found
    base = Path(settings.path)
    paths = [p for p in (base, *sorted(base.parent.glob(f"{base.stem}.w*{base.suffix}")))
             if p.exists()]
    if not paths:
        raise FileNotFoundError(f"records.path: {base} does not exist (has the router run "
                                "with this config?)")
    return [(str(p), SqliteRecords(p, readonly=True)) for p in paths]
