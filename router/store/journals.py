"""Every journal of a config: its own, and those ``chapar run --workers`` made (a file
``chapar.wI.db`` beside ``store.path``, or a PostgreSQL schema ``<journal_schema>_wI``).
The CLI's ledger and quarantine commands act on all of them: a worker holds its own
messages and charges in its own journal, which the config's own does not see."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from router.store.settings import Place, Postgres, StoreSettings, worker_path, worker_schema


class Journal(NamedTuple):
    name: str
    """"own", or "w0", "w1"… for the workers'."""
    place: Place
    worker: int | None
    """The worker's index (None: the config's own)."""


def journals(store: StoreSettings) -> list[Journal]:
    """The config's own journal and each worker journal that exists, in that order."""
    found = [Journal("own", store.journal(), None)]
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
        found += [Journal(f"w{i}", Postgres(store.dsn, store.timeout, f"{prefix}{i}"), i)
                  for i in indices]
        return found
    base = Path(store.path)
    start, cut = len(base.stem) + 2, len(base.suffix)  # "chapar.w" … ".db"
    numbers = [p.name[start:len(p.name) - cut]
               for p in base.parent.glob(f"{base.stem}.w*{base.suffix}")]
    indices = sorted(int(n) for n in numbers if n.isdigit())
    found += [Journal(f"w{i}", Path(worker_path(store.path, i)), i) for i in indices]
    return found
