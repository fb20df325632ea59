"""Where the journal and the registry live, and how durable a commit is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreSettings:
    path: str = "./var/chapar.db"
    durability: Literal["process", "power"] = "process"
    registry_path: str = "./var/registry.db"
