"""Queue bounds, retries and the drain time of the queues between ESMEs and carriers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """One row of the retry table: how long a message waits before it is sent again
    (``delay``, times ``factor`` for each attempt already spent, at most ``max_delay``)
    and whether the retry spends one of ``max_attempts``."""

    delay: float = 0.0
    factor: float = 2.0
    max_delay: float = 300.0
    spend: bool = True

    def wait(self, attempts: int) -> float:
        if self.delay <= 0:
            return 0.0
        return min(self.delay * self.factor ** max(attempts - 1, 0), self.max_delay)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrySettings:
    """The retry table, a row per carrier status class (store-and-forward)."""

    throttled: Backoff = field(default_factory=lambda: Backoff(spend=False))
    """ESME_RTHROTTLED: back to the front at once (the connection's pace slows it)."""
    queue_full: Backoff = field(default_factory=lambda: Backoff(spend=False))
    """ESME_RMSGQFUL: the same."""
    system_error: Backoff | None = None
    """ESME_RSYSERR, ESME_RX_T_APPN, ESME_RUNKNOWNERR, generic_nack; None = wait
    ``retry_delay`` doubling per attempt."""
    bind_lost: Backoff = field(default_factory=Backoff)
    """Sent, then the connection closed without an answer: at once, elsewhere if the
    group has another upstream up."""
    response_timeout: Backoff = field(default_factory=Backoff)
    """The connection was closed because the carrier stopped answering."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchSettings:
    queue_limit: int = 50000
    """Messages accepted but not yet handed to a carrier; above it ESMEs are paused."""
    retry_delay: float = 5.0
    max_attempts: int = 10
    retries: RetrySettings = field(default_factory=RetrySettings)
    validity: float = 2 * 86400.0
    """Seconds after acceptance a message without its own validity_period (and whose
    account sets none) is still tried; then it ends EXPIRED."""
    expiry_sweep: float = 1.0
    """Seconds between looks for expired messages among those waiting."""
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

    def backoff(self, name: str) -> Backoff:
        """The retry table's row ``name`` (a ``RetryClass`` value)."""
        row: Backoff | None = getattr(self.retries, name)
        return row if row is not None else Backoff(delay=self.retry_delay)
