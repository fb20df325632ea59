"""Queue bounds, retries and the drain time of the queues between ESMEs and carriers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchSettings:
    queue_limit: int = 50000
    """Messages accepted but not yet handed to a carrier; above it ESMEs are paused."""
    retry_delay: float = 5.0
    max_attempts: int = 10
    receipt_queue_limit: int = 100000
    """Receipts and MO waiting per account for an RX/TRX session (the oldest go first
    past it); an account's own ``receipt_queue_limit`` overrides it."""
    receipt_ttl: float = 3 * 86400.0
    """A queued receipt or MO older than this is given up (logged); 0 = never."""
    receipt_write_delay: float = 0.05
    """A hand-over of receipts or MO is written to the journal by the first commit this
    long after it (one an ESME took by then never is); 0 = the next commit."""
    receipt_wait: float = 3 * 86400.0
    """How long after a carrier accepted a message its receipt is still expected (the id
    map rebuilt at start covers this window)."""
    shutdown_timeout: float = 10.0
