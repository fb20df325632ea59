"""Where the journal and the registry live, and how durable a commit is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias


@dataclass(frozen=True, slots=True)
class Postgres:
    """A PostgreSQL database the small stores (registry, ledger, quarantine) open, as
    they open a SQLite file at a Path."""

    dsn: str
    timeout: float = 5.0
    schema: str = ""
    """The schema of a journal's tables (``StoreSettings.journal_schema``); "" = the
    database's default."""


Place: TypeAlias = Path | Postgres
"""Where a store lives: a SQLite file, or a PostgreSQL database."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreSettings:
    backend: Literal["sqlite", "postgres"] = "sqlite"
    """Every store (journal, records, registry, ledger, quarantine): SQLite files (the
    embedded default) or PostgreSQL (``dsn``)."""
    dsn: str = ""
    """postgresql://user:password@host:port/database (backend postgres)."""
    timeout: float = 5.0
    """PostgreSQL: seconds a commit may take before it counts as failed."""
    path: str = "./var/chapar.db"
    durability: Literal["process", "power"] = "process"
    registry_path: str = "./var/registry.db"
    journal_schema: str = ""
    """PostgreSQL: the schema of this router's journal, records, ledger and quarantine
    ("" = the database's default; the registry is always there).  Each router process
    on one database needs one of its own, as each has its own journal file with SQLite:
    ``--workers`` gives worker I ``chapar_wI`` (``<journal_schema>_wI``)."""
    front: str | None = None
    """Not for the YAML: ``chapar run --workers`` sets it for worker 0 to the config's own
    journal (its ``path``, or with PostgreSQL its ``journal_schema``), where ``chapar
    billing topup`` writes: worker 0 reads the topups there besides its own ledger's."""

    retired: tuple[str, ...] = ()
    """Not for the YAML: the worker journals (paths, or PostgreSQL schemas) outside the
    layout that ``chapar run`` (or worker 0 of ``--workers``) counts the ledgers of
    besides its own: a change of layout keeps their charges (router/app/layout.py)."""

    def registry(self) -> Place:
        """Accounts, lines, lists, limits and keys: the registry file, or PostgreSQL."""
        if self.backend == "postgres":
            return Postgres(self.dsn, self.timeout)
        return Path(self.registry_path)

    def journal(self) -> Place:
        """The ledger and the quarantine: beside the journal (they commit with it)."""
        if self.backend == "postgres":
            return Postgres(self.dsn, self.timeout, self.journal_schema)
        return Path(self.path)

    def front_journal(self) -> Place | None:
        """Worker 0's second ledger, the config's own (``front``); None elsewhere."""
        if self.front is None:
            return None
        if self.backend == "postgres":
            return Postgres(self.dsn, self.timeout, self.front)
        return Path(self.front)

    def retired_journals(self) -> list[Place]:
        """Where the ledgers of ``retired`` are."""
        if self.backend == "postgres":
            return [Postgres(self.dsn, self.timeout, schema) for schema in self.retired]
        return [Path(path) for path in self.retired]


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisSettings:
    """Shared limits and balances for several router processes (README "Shared state
    through Redis").  Off without a ``url``: the embedded default needs no Redis."""

    url: str = ""
    """``redis://host:port/db`` (or ``rediss://``, ``unix://``); empty = off."""
    prefix: str = "chapar"
    """Key prefix: routers that share accounts share the prefix."""
    timeout: float = 0.25
    """Seconds a Redis call may take before Redis counts as unreachable."""
    sync_interval: float = 0.02
    """Seconds between the background top-ups of what this process holds."""
    lease_seconds: float = 0.1
    """A process leases this many seconds of a bucket's rate at a time (at least 1)."""
    money_lease: int = 1000
    """Money a process leases from an account's balance at a time (more when it spends
    faster: one second of its spending); kept when idle, the excess given back."""
    quota_lease: int = 100
    """Segments of a daily / monthly quota a process leases at a time."""
    idle_return: float = 1.0
    """Seconds unused after which leased tokens and money beyond the minimum go back."""
    local_share: float = 0.25
    """Redis unreachable: each bucket refills at this fraction of its rate and size;
    money and quotas: only what the process already holds."""
    retry: float = 0.5
    """Seconds between tries while Redis is unreachable."""
    handoff_interval: float = 0.1
    """Seconds between looks for receipts and MO to offer to, or take from, another
    router (an account's receiving session bound there)."""
    bind_ttl: float = 30.0
    """An account's max_binds counts every process's binds: those of a process that
    died without giving them back still count this many seconds."""


def worker_path(path: str, index: int) -> str:
    """SQLite: worker ``index``'s journal file: ``var/chapar.db`` -> ``var/chapar.w0.db``
    (``chapar run --workers``)."""
    base = Path(path)
    return str(base.with_name(f"{base.stem}.w{index}{base.suffix}"))


def worker_schema(schema: str, index: int) -> str:
    """PostgreSQL: worker ``index``'s journal schema: ``""`` -> ``chapar_w0``, ``node2``
    -> ``node2_w0`` (``chapar run --workers``)."""
    return f"{schema or 'chapar'}_w{index}"
