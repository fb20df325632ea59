"""What the throttle stage holds when its limits are shared through Redis: token buckets
and quotas that hold leased slices, topped up in the background (policy/shared.py), so
the stage decides a batch as it does alone, without a Redis round trip.
"""

from __future__ import annotations

from collections import Counter

from router.model.limits import Limit
from router.policy.throttle import Bucket, Keys, Quotas


class LeasedBucket(Bucket):
    """Holds the tokens leased from the shared bucket; it does not refill by itself
    unless Redis is unreachable, then at ``local_share`` of the rate and size."""

    __slots__ = ("local_share",)

    def __init__(self, limit: Limit, now: float) -> None:
        super().__init__(limit, now)
        self.tokens = 0.0
        self.local_share = 0.0
        """> 0 while Redis is unreachable."""

    def fill(self, now: float) -> float:
        share = self.local_share
        if share and now > self.stamp:
            cap = self.size * share
            if self.tokens < cap:
                self.tokens = min(cap, self.tokens + (now - self.stamp) * self.rate * share)
            self.stamp = now
        return self.tokens


class LeasedQuotas(Quotas):
    """Daily and monthly quotas whose segments are leased from Redis's counters: what
    is left here is what this process holds of each (account, period)."""

    def __init__(self, timezone: str, used: dict[tuple[str, str], int] | None = None) -> None:
        super().__init__(timezone, used)
        self.held: Counter[tuple[str, str]] = Counter()
        """Segments leased and not used yet, per (account, period)."""

    def left_of(self, keys: Keys, limit: Limit) -> float:
        left = float("inf")
        if limit.daily:
            left = self.held[keys[0]]
        if limit.monthly:
            left = min(left, self.held[keys[1]])
        return left

    def add_to(self, keys: Keys, segments: int) -> None:
        super().add_to(keys, segments)
        held = self.held
        for key in keys:
            held[key] -= segments
