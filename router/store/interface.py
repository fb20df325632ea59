"""The store interface the router writes through, whatever the backend (SQLite, the
embedded default, or PostgreSQL): what the intake adds and commits, what a start
recovers."""

from __future__ import annotations

from typing import Protocol

from router.model.messages import Outcome
from router.model.wallets import LedgerRow
from router.store import inbox, quarantine
from router.store.recovery import Recovery


class Journal(Protocol):
    inbox: inbox.InboxRows
    """Receipts and MO queued for ESMEs: their rows ride every commit."""

    @property
    def path(self) -> object:
        """Where it is (a file, or a DSN without its password): for logs."""

    def add_batch(self, first_id: int, account: str, bodies: list[bytes], now: float,
                  peer: str = "") -> None: ...

    def add_outcomes(self, outcomes: list[Outcome], upstream: str = "") -> None: ...

    def add_receipts(self, entries: list[tuple[int, str]]) -> None: ...

    def add_refusals(self, account: str, entries: list[tuple[int, str, str, str]],
                     now: float, peer: str = "") -> None: ...

    def add_held(self, rows: list[quarantine.HeldRow]) -> None: ...

    def add_settled(self, rows: list[quarantine.SettleRow]) -> None: ...

    def add_flags(self, rows: list[quarantine.FlagRow]) -> None: ...

    def add_ledger(self, rows: list[LedgerRow]) -> None: ...

    def mark_done_below(self, message_id: int) -> None: ...

    def add_receipted(self, message_ids: list[int]) -> None: ...

    def add_replaced(self, message_id: int, body: bytes) -> None: ...

    @property
    def pending_outcomes(self) -> int: ...

    @property
    def dirty(self) -> bool: ...

    @property
    def ledger_due(self) -> float | None:
        """Seconds until a commit should move ledger rows (None: none wait)."""

    def commit(self, everything: bool = False) -> None: ...

    def recover(self, receipt_window: float = ...) -> Recovery: ...

    def first_id(self) -> int: ...

    def start_checkpoints(self) -> None: ...

    def close(self) -> str | None: ...
