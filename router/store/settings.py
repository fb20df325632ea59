"""Where the journal and the registry live, and how durable a commit is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreSettings:
    backend: Literal["sqlite", "postgres"] = "sqlite"
    """Journal and records: SQLite files (embedded default) or PostgreSQL (``dsn``)."""
    dsn: str = ""
    """postgresql://user:password@host:port/database (backend postgres)."""
    timeout: float = 5.0
    """PostgreSQL: seconds a commit may take before it counts as failed."""
    path: str = "./var/chapar.db"
    durability: Literal["process", "power"] = "process"
    registry_path: str = "./var/registry.db"
