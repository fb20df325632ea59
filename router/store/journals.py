"""Every journal of a config: its own, and those ``chapar run --workers`` made (a file
``chapar.wI.db`` beside ``store.path``, or a PostgreSQL schema ``<journal_schema>_wI``).
The CLI's ledger and quarantine commands act on all of them: a worker holds its own
messages and charges in its own journal, which the config's own does not see."""

from __future__ import annotations

from pathlib import Path

from router.store.settings import Place, Postgres, StoreSettings, worker_path, worker_schema


def journals(store: StoreSettings) -> list[tuple[str, Place]]:
    """(name, place) of the config's own journal ("own") and of each worker journal
    that exists ("w0", "w1"…), in that order."""
    found: list[tuple[str, Place]] = [("own", store.journal())]
    if store.backend == "postgres":
        from router.store.postgres.link import PgLink

        prefix = worker_schema(store.journal_schema, 0)[:-1]
        link = PgLink(store.dsn, store.timeout, name="journals")
        try:
            rows = link.call(lambda conn: conn.fetch(
                "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)", prefix))
        finally:
            link.close()
        indices = sorted(int(r[0][len(prefix):]) for r in rows
                         if r[0][len(prefix):].isdigit())
        found += [(f"w{i}", Postgres(store.dsn, store.timeout, f"{prefix}{i}"))
                  for i in indices]
        return found
    base = Path(store.path)
    start, cut = len(base.stem) + 2, len(base.suffix)  # "chapar.w" … ".db"
    numbers = [p.name[start:len(p.name) - cut]
               for p in base.parent.glob(f"{base.stem}.w*{base.suffix}")]
    indices = sorted(int(n) for n in numbers if n.isdigit())
    found += [(f"w{i}", Path(worker_path(store.path, i))) for i in indices]
    return found
