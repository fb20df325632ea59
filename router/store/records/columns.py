"""The columns of a record as stored and exported, and the two record tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Table = Literal["records", "refusals"]
TABLES: tuple[Table, ...] = ("records", "refusals")
COLUMNS = ("message_id", "received_at", "account", "peer", "line", "destination", "text",
           "segments", "part", "receipt", "decision", "reason", "status", "upstream",
           "upstream_id", "submitted_at", "done_at", "charge")
"""What an export row holds, in order."""
CHAINED = COLUMNS[:12]
"""Fixed when written: the Record fields."""


@dataclass(slots=True)
class Cursor:
    """The last journal row of each kind already in the records."""

    journal: int = 0   # first_id
    refusals: int = 0  # seq
    outcomes: int = 0
    receipts: int = 0
    ledger: int = 0
