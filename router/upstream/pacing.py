"""How fast one carrier connection may send, sans-IO (every call takes ``now``).

Unlimited (the window alone bounds it) until the carrier says it is congested
(ESME_RTHROTTLED, ESME_RMSGQFUL).  Then a token bucket: the rate starts at half what
the carrier accepted lately, is halved again on each further congestion answer (at most
once per ``HOLD``: the answers to what was sent before a cut arrive after it), grows
by ``GROWTH`` per second while answers come back clean, and is lifted altogether after
``recovery`` seconds without congestion.  A window alone would not slow anything down
on a fast link: a carrier that answers in 1 ms takes 1,000 submits a second even with a
window of one.
"""

from __future__ import annotations

HOLD = 0.25
"""Seconds after a cut during which further congestion answers cut no more."""
GROWTH = 0.5
"""Relative growth of the rate per second of clean answers (doubles in ~1.4 s)."""
BURST = 0.05
"""The bucket holds this many seconds of the rate (at least one message)."""
SAMPLE = 1.0
"""Seconds over which the accepted rate is measured while unlimited."""


class Pacer:
    __slots__ = ("_accepted", "_at", "_hold_until", "_last_congestion", "_prev_rate",
                 "_since", "_tokens", "min_rate", "rate", "recovery")

    def __init__(self, min_rate: float, recovery: float, now: float) -> None:
        self.min_rate = max(min_rate, 0.001)
        self.recovery = recovery
        self.rate = 0.0
        """Messages per second; 0 = unlimited."""
        self._tokens = 0.0
        self._at = now
        self._hold_until = 0.0
        self._last_congestion = 0.0
        self._accepted = 0
        self._since = now
        self._prev_rate = 0.0

    @property
    def limited(self) -> bool:
        return self.rate > 0.0

    def accepted(self, count: int, now: float) -> None:
        """The carrier accepted ``count`` messages (measures the rate while unlimited)."""
        if now - self._since >= SAMPLE:
            self._prev_rate = self._accepted / (now - self._since)
            self._accepted = 0
            self._since = now
        self._accepted += count

    def congested(self, now: float) -> bool:
        """A congestion answer; True when it starts the limited state."""
        self._last_congestion = now
        if now < self._hold_until:
            return False
        starting = not self.rate
        if starting:
            measured = self._accepted / max(now - self._since, 0.1)
            base = max(self._prev_rate, measured)
        else:
            self._refill(now)
            base = self.rate
        self.rate = max(self.min_rate, base / 2)
        self._tokens = 0.0
        self._at = now
        self._hold_until = now + HOLD
        return starting

    def allowance(self, now: float) -> int | None:
        """How many may be sent now; None = no limit.  May lift the limit (recovery):
        the caller compares ``limited`` before and after."""
        if not self.rate:
            return None
        if now - self._last_congestion >= self.recovery:
            self.rate = 0.0
            self._accepted = 0
            self._since = now
            return None
        self._refill(now)
        return int(self._tokens)

    def spend(self, count: int) -> None:
        if self.rate:
            self._tokens -= count

    def next_at(self, now: float) -> float:
        """When the next message may go (meaningful while limited)."""
        missing = 1.0 - self._tokens
        return now if missing <= 0 else now + missing / self.rate

    def _refill(self, now: float) -> None:
        elapsed = now - self._at
        if elapsed <= 0:
            return
        self._at = now
        if now >= self._hold_until:
            self.rate *= 1.0 + GROWTH * elapsed
        burst = max(1.0, self.rate * BURST)
        self._tokens = min(burst, self._tokens + elapsed * self.rate)
