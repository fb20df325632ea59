"""How records are kept: where, how long, how much of the text, who writes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from router.store.records.derive import TextPolicy


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordSettings:
    enabled: bool = True
    path: str = "./var/records.db"
    writer: Literal["process", "thread"] = "process"
    """``process``: the follower runs on another core; ``thread``: in the router's."""
    nice: int = 19
    """How much nicer (Linux) than the router the follower's process (``writer:
    process``; every thread of it) runs: records are off the ack path, so under full
    load the routers keep the CPU and the follower catches up when it eases (the
    journal holds what it has not recorded yet)."""
    retention_months: int = 6
    """Never below six (requirements §4); the config refuses a lower value."""
    text: TextPolicy = "full"
    interval: float = 0.2
    """Seconds between follower rounds when it has caught up with the journal."""
    batch_rows: int = 256
    """Journal rows (read batches) per round at most."""
    journal_keep: float = 600.0
    """Seconds journal rows stay after their records are written (then compacted)."""
    compact_every: float = 10.0
    retention_check: float = 3600.0
    """Seconds between looks for partitions past the retention."""
