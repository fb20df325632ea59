"""`chapar migrate` over a schema written before PostgreSQL kept NUL escaped."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import asyncpg
import yaml

from router.store.postgres.text import ESC
from router.store.records import months
from router.store.records.export import Query, export
from router.store.records.open import open_stores
from router.store.records.settings import RecordSettings
from router.store.records.verify import verify
from router.store.settings import StoreSettings
from tests.integration.cli.support import chapar
from tests.unit.store.records.records_helpers import body, caught_up, message_id

TEXT = f"bare {ESC} and {ESC}{ESC}\ufffe"


async def _as_version_2(dsn: str) -> None:
    """What version 2 held: the escape character bare, version 2."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"UPDATE records SET text = replace(text, '{ESC}{ESC}', '{ESC}');"
                           "DELETE FROM schema_version; INSERT INTO schema_version VALUES (2)")
    finally:
        await conn.close()


def test_migrate_escapes_the_texts_an_older_schema_holds(tmp_path: Path, pg_dsn: str) -> None:
    """requirements §4: a record's text held before the upgrade comes back exactly
    after it (the escape character escaped once, even when migrate runs twice) and the
    month still verifies."""
    from router.store.postgres.journal import PgJournal

    store = StoreSettings(path=str(tmp_path / "j.db"), backend="postgres", dsn=pg_dsn)
    settings = RecordSettings(path=str(tmp_path / "r.db"))
    at = time.time()
    journal = PgJournal(pg_dsn)
    journal.add_batch(message_id(at), "acc", [body(text=TEXT.encode("utf-16-be"),
                                                   data_coding=8)], at)
    journal.commit()
    journal.close()
    follower, records = caught_up(store, settings)
    follower.close()
    records.close()
    asyncio.run(_as_version_2(pg_dsn))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"simulator": {"enabled": True},
                                      "store": {"backend": "postgres", "dsn": pg_dsn},
                                      "records": {"path": settings.path}}))
    for _ in range(2):
        run = chapar("migrate", "--config", str(config))
        assert run.returncode == 0 and "schema version 3" in run.stdout, run.stderr
    _, records = open_stores(store, settings)
    assert verify(records, months.month_of(at)).problem == ""
    export(records, Query(account="acc"), tmp_path / "x.jsonl", "jsonl", False)
    records.close()
    assert json.loads((tmp_path / "x.jsonl").read_text())["text"] == TEXT
