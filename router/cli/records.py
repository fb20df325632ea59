"""``chapar export`` (lawful export of message records) and ``chapar records verify``
(tamper evidence).  Both read the records store the config names (``records.path``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from router.cli import common
from router.cli.common import CliError
from router.store.errors import StoreError
from router.store.journal import SqliteJournal
from router.store.journals import journals
from router.store.postgres.journal import PgJournal
from router.store.postgres.records import PgRecords
from router.store.postgres.schema import VERSION
from router.store.records import export as exporting
from router.store.records.open import every_store, records_path
from router.store.records.sqlite import SqliteRecords
from router.store.records.verify import verify
from router.store.settings import Postgres

Store = SqliteRecords | PgRecords


def _records(args: argparse.Namespace) -> list[tuple[str, Store]]:
    """Every records store of the config: with SQLite, ``records.path`` and the files of
    ``--workers`` (``records.w0.db``…: one per worker journal); with PostgreSQL, the
    journal schema's and those of ``--workers`` (``chapar_w0``…)."""
    config = common.registry_config(args)
    try:
        return every_store(config.store, config.records)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    except (OSError, StoreError) as exc:
        raise CliError(f"records: {exc}") from None


def _close(stores: list[tuple[str, Store]]) -> None:
    for _, store in stores:
        store.close()


def _migrate(args: argparse.Namespace) -> None:
    """Create or upgrade the schema of every journal of the config and its records: its
    own (``store.journal_schema`` with PostgreSQL) and each of ``--workers`` (PostgreSQL:
    tables, the months' partitions from this one to two ahead)."""
    config = common.registry_config(args)
    for name, place, worker in journals(config.store):
        if isinstance(place, Postgres):
            PgJournal(place.dsn, place.timeout, place.schema).close()  # migrates as it opens
            records = PgRecords(place.dsn, place.timeout, place.schema)
            print(f"postgres {name} ({place.schema or 'default schema'}): schema version "
                  f"{VERSION}, partitions {', '.join(records.months())}")
            records.close()
            continue
        path = records_path(config.records, worker)
        SqliteJournal(place).close()
        SqliteRecords(Path(path)).close()
        print(f"sqlite {name}: {place}, {path}: schema up to date")


def _time(value: str | None, default: float) -> float:
    """ISO date or time; UTC unless it names its zone."""
    if not value:
        return default
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"{value!r}: expected a date or time (ISO 8601), e.g. 2026-11-30 "
                       "or 2026-11-30T14:00:00+03:30") from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _bar(enabled: bool) -> Callable[[int], Callable[[int], None]] | None:
    """tqdm told once per chunk of rows; None when quiet (no count of the rows first)."""
    if not enabled:
        return None

    def start(total: int) -> Callable[[int], None]:
        bar = tqdm(total=total, unit="rows", unit_scale=True, file=sys.stderr,
                   mininterval=0.5)
        update: Callable[[int], None] = bar.update
        return update
    return start


def _export(args: argparse.Namespace) -> None:
    if not (args.msisdn or args.account or args.line):
        raise CliError("name what to export: --msisdn N, --account A or --line L")
    query = exporting.Query(args.msisdn, args.account, args.line,
                            _time(args.since, 0.0), _time(args.until, float("inf")))
    if query.since >= query.until:
        raise CliError("--from must be before --to")
    out = Path(args.out or time.strftime(f"export-%Y%m%dT%H%M%SZ.{args.format}", time.gmtime()))
    stores = _records(args)
    try:
        manifest = exporting.export(exporting.Combined([s for _, s in stores]), query, out,
                                    args.format, args.redact, _bar(not args.quiet))
    finally:
        _close(stores)
    print(f"{manifest.rows} records -> {out} (sha256 {manifest.sha256}); "
          f"manifest {exporting.manifest_path(out)}")


def _verify(args: argparse.Namespace) -> None:
    stores = _records(args)
    failed = []
    try:
        for name, store in stores:
            try:
                verdict = verify(store, args.month)
            except ValueError as exc:
                raise CliError(f"--month: {exc}") from None
            where = f" ({name})" if len(stores) > 1 else ""
            if verdict.problem:
                failed.append(f"records {verdict.month}{where}: FAILED after {verdict.rows} "
                              f"records, {verdict.events} events: {verdict.problem}")
            else:
                print(f"records {verdict.month}{where}: intact ({verdict.rows} records, "
                      f"{verdict.events} events)")
    finally:
        _close(stores)
    if failed:
        raise CliError("; ".join(failed))


def _months(args: argparse.Namespace) -> None:
    stores = _records(args)
    try:
        for name, store in stores:
            for month in store.months():
                head = store.head(month)
                assert head is not None
                print(f"{month} {head.records} records, {head.refusals} refusals, "
                      f"{head.events} events ({name})")
    finally:
        _close(stores)


def add_parsers(sub: common.Subparsers) -> None:
    p = sub.add_parser("export", help="lawful export: records of a number, account or line")
    p.add_argument("--config", "-c", help="config file (records.path)")
    p.add_argument("--msisdn", help="destination number")
    p.add_argument("--account", help="account (system_id)")
    p.add_argument("--line", help="sender line (source address)")
    p.add_argument("--from", dest="since", help="ISO date/time, UTC unless zoned")
    p.add_argument("--to", dest="until", help="ISO date/time, exclusive")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    p.add_argument("--redact", action="store_true", help="hide message text")
    p.add_argument("--out", "-o", help="output file (default export-TIME.FORMAT)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=lambda args: common.run_refusing(lambda: _export(args)))
    g = sub.add_parser("migrate", help="create or upgrade the store's schema (PostgreSQL: "
                       "tables and monthly partitions ahead)")
    g.add_argument("--config", "-c")
    g.set_defaults(func=lambda args: common.run_refusing(lambda: _migrate(args)))
    r = sub.add_parser("records", help="message records: verify a month, list months")
    actions = r.add_subparsers(dest="action", required=True)
    v = actions.add_parser("verify", help="prove a month's records were not altered")
    v.add_argument("--config", "-c")
    v.add_argument("--month", required=True, help="YYYY-MM")
    v.set_defaults(func=lambda args: common.run_refusing(lambda: _verify(args)))
    m = actions.add_parser("months", help="the partitions held, with their row counts")
    m.add_argument("--config", "-c")
    m.set_defaults(func=lambda args: common.run_refusing(lambda: _months(args)))
