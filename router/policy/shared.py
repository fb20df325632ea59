"""Limits and balances shared by several router processes through Redis (issue 11
item 4): a background task that keeps the throttle's leased buckets and quotas and the
wallets' leased money topped up, a tick at a time, one Redis pipeline a tick.

The stages never wait for Redis: they spend what this process holds.  A slice runs low
(below half a lease) -> the next tick leases more; a slice unused for ``idle_return``
seconds gives its excess back.  Redis unreachable: logged once; buckets refill locally
at ``local_share`` of their rate and size; money and quotas: only what is held.  Redis
back: logged once, and the next report (absolute ledger sums and holdings) reconciles
the balances, whatever was missed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog

from router.model.limits import LimitBook
from router.model.wallets import Wallets
from router.policy.billing import BillingStage
from router.policy.binds import SharedBinds
from router.policy.leases import LeasedBucket, LeasedQuotas
from router.policy.rules import Rules
from router.policy.throttle import ThrottleStage
from router.store.settings import RedisSettings
from router.store.shared import BucketAsk, MoneyAsk, QuotaAsk, RedisError, RedisState
from router.timer import within

log = structlog.get_logger("chapar.shared")

FULL_REPORT_EVERY = 0.5
"""Seconds between reports of every account's ledger sum and holding (topups, refunds)."""
SETTLE = 1.0
"""Redis lost its data: seconds (plus twice ``retry``) without money leases while every
process reports again."""
SLICE = 1000
"""A lease is at least this fraction (1/SLICE) of a quota or of the money left, so a
burst from idle does not start from the floor."""
GIVE_BACK_WAIT = 2.0
"""Seconds a stopping router waits for Redis to take back what it held."""
NO_MONEY_RETRY = 0.2
"""Seconds before asking again for an account whose pool was empty."""


@dataclass(slots=True)
class _Seen:
    """What a slice held after the last tick, and since when it has not moved."""

    after: float
    still_since: float


class SharedLimits:
    def __init__(self, settings: RedisSettings, state: RedisState, rules: Rules,
                 wallets: Wallets | None, usage: dict[tuple[str, str], int],
                 accounts: Iterable[str] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._state = state
        self._rules = rules
        self._wallets = wallets
        self._usage = usage
        self._accounts = frozenset(accounts)
        """Accounts whose money is leased from the start (the config's and the
        registry's), so their first batch finds money."""
        """Quota segments the registry had counted at start (a counter Redis lacks)."""
        self._clock = clock
        self.throttle: ThrottleStage | None = None
        self.billing: BillingStage | None = None
        self.binds: SharedBinds | None = None
        """max_binds over every process (kept alive from here)."""
        self.down_since: float | None = None
        self._buckets: dict[tuple[str, str], _Seen] = {}
        self._money: dict[str, _Seen] = {}
        self._quota_seen: dict[tuple[str, str], int] = {}
        self._quota_left: dict[tuple[str, str], int] = {}
        """What Redis said is left of each quota (for the local share in an outage)."""
        self._extra: dict[tuple[str, str], int] = {}
        """Segments added to the holdings as the local share while Redis is down."""
        self._claims: dict[tuple[str, str], int] = {}
        """Of those, the ones spent: counted in Redis at the next tick that reaches it."""
        self._avail: dict[str, int] = {}
        """What Redis said no process holds, per account, at the last report."""
        self._reported: dict[str, tuple[int, int]] = {}
        self._money_retry: dict[str, float] = {}
        self._next_full = 0.0
        self._settle_until = 0.0
        self._last_tick = clock()
        self._book: LimitBook | None = None
        self.ticks = 0

    # --- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # a bug here must not stop the leases for good
                log.exception("shared_tick_failed")
            await asyncio.sleep(self._settings.retry if self.down_since is not None
                                else self._settings.sync_interval)

    async def tick(self) -> None:
        now = self._clock()
        if self.binds is not None:
            await self.binds.keep(now)
        if self.throttle is not None and self._rules.limits is not self._book:
            self._book = self._rules.limits
            self.throttle.prepare(self._book)
        buckets = self._bucket_asks(now)
        quotas = self._quota_asks()
        if self.billing is not None:
            self.billing.poll_at(time.time())
        money = self._money_asks(now)
        try:
            got_b, got_q, got_m = await self._state.exchange(
                [a for a, _ in buckets], [a for a, _ in quotas], money)
        except (RedisError, OSError) as exc:
            self._unreachable(exc, now)
            self._note_buckets(now)
            return
        self._reachable(now)
        self._last_tick = now
        self.ticks += 1
        for (_, bucket), take in zip(buckets, got_b, strict=True):
            bucket.tokens += take
        self._note_buckets(now)
        if (leased := self._quotas) is not None:
            held = leased.held
            for (ask, key), (take, left) in zip(quotas, got_q, strict=True):
                held[key] += take
                self._quota_left[key] = left
                if ask.claim:
                    self._claims.pop(key, None)
            self._quota_seen = dict(held)
        self._money_taken(money, got_m, now)

    @property
    def _quotas(self) -> LeasedQuotas | None:
        quotas = self.throttle.quotas if self.throttle is not None else None
        return quotas if isinstance(quotas, LeasedQuotas) else None

    def _lease(self, floor: float, used: float, times: float = 4) -> float:
        """A lease: ``floor``, or ``times`` x ``lease_seconds`` (or x the last tick's
        interval, when traffic slows the loop) of what is being used."""
        elapsed = max(self._settings.sync_interval, self._clock() - self._last_tick)
        return max(floor, used / elapsed * max(self._settings.lease_seconds, elapsed) * times)

    # --- buckets ----------------------------------------------------------------------

    def _bucket_asks(self, now: float) -> list[tuple[BucketAsk, LeasedBucket]]:
        if self.throttle is None:
            return []
        asks = []
        seen = self._buckets
        for key, bucket in self.throttle.buckets.items():
            if isinstance(bucket, LeasedBucket):
                ask = self._bucket_ask(key, bucket, seen.get(key), now)
                if ask is not None:
                    asks.append((ask, bucket))
        return asks

    def _note_buckets(self, now: float) -> None:
        """What each bucket holds after the tick: the next tick sees what was used."""
        if self.throttle is None:
            return
        seen = self._buckets
        for key, bucket in self.throttle.buckets.items():
            before = seen.get(key)
            seen[key] = _Seen(bucket.tokens, before.still_since
                              if before is not None and before.after == bucket.tokens
                              else now)

    def _bucket_ask(self, key: tuple[str, str], bucket: LeasedBucket, seen: _Seen | None,
                    now: float) -> BucketAsk | None:
        """Top up below half a lease (a lease: ``lease_seconds`` of the rate, or of
        twice what is being used); give back the excess of a bucket left unused."""
        used = max(0.0, seen.after - bucket.tokens) if seen is not None else 0.0
        lease = min(bucket.size, self._lease(max(1.0, bucket.rate * self._settings.lease_seconds),
                                             used, 2))
        name = f"{key[0]}:{key[1]}"
        if bucket.tokens < lease / 2:
            return BucketAsk(name, bucket.rate, bucket.size, math.ceil(lease - bucket.tokens), 0)
        if (seen is not None and seen.after == bucket.tokens
                and now - seen.still_since > self._settings.idle_return
                and bucket.tokens >= lease + 1):
            give = math.floor(bucket.tokens - lease)
            bucket.tokens -= give
            return BucketAsk(name, bucket.rate, bucket.size, 0, give)
        return None

    # --- quotas ----------------------------------------------------------------------

    def _quota_asks(self) -> list[tuple[QuotaAsk, tuple[str, str]]]:
        quotas = self._quotas
        if quotas is None:
            return []
        floor = self._settings.quota_lease
        periods = quotas.periods(time.time())
        seen = self._quota_seen
        asks = []
        for account, limit in self._rules.limits.accounts.items():
            for period, cap in zip(periods, (limit.daily, limit.monthly), strict=True):
                held = quotas.held[account, period]
                lease = math.ceil(self._lease(max(floor, cap // SLICE),
                                              seen.get((account, period), held) - held))
                if cap and held < lease / 2:
                    init = max(self._usage.get((account, period), 0),
                               quotas.used[account, period])
                    asks.append((QuotaAsk(account, period, cap, lease - held, 0, init),
                                 (account, period)))
        return self._with_claims(asks)

    def _with_claims(self, asks: list[tuple[QuotaAsk, tuple[str, str]]]
                     ) -> list[tuple[QuotaAsk, tuple[str, str]]]:
        """Segments spent on the local share during an outage ride the next asks."""
        if self._claims:
            asked = {key: ask for ask, key in asks}
            for key, claim in self._claims.items():
                ask = asked.get(key)
                if ask is None:
                    ask = QuotaAsk(key[0], key[1], 0, 0, 0, 0)
                    asks.append((ask, key))
                ask.claim = claim
        return asks

    # --- money -----------------------------------------------------------------------

    def _money_asks(self, now: float) -> list[MoneyAsk]:
        wallets = self._wallets
        if wallets is None or wallets.offsets is None:
            return []
        full = now >= self._next_full
        if full:
            self._next_full = now + FULL_REPORT_EVERY
        settling = now < self._settle_until
        asks = []
        for account in list(wallets.balances.keys() | wallets.offsets.keys() | self._accounts):
            held = wallets.balances.get(account, 0)
            total = wallets.ledger_sum(account)
            want = 0 if settling else self._money_want(account, held, now)
            if want or full or self._reported.get(account) != (total, held):
                asks.append(MoneyAsk(account, total, held, max(0, want),
                                     account in self._reported))
        return asks

    def _money_want(self, account: str, held: int, now: float) -> int:
        """> 0: lease this much; < 0: give this much back (done here, before the
        report); 0: nothing."""
        assert self._wallets is not None
        floor = max(self._settings.money_lease, self._avail.get(account, 0) // SLICE)
        seen = self._money.get(account)
        used = max(0, int(seen.after) - held) if seen is not None else 0
        used += self._wallets.short.pop(account, 0)  # refused for want of a lease
        target = math.ceil(self._lease(floor, used))
        if held < target / 2:
            return target - held if now >= self._money_retry.get(account, 0.0) else 0
        if (seen is not None and seen.after == held and held > floor
                and now - seen.still_since > self._settings.idle_return):
            self._wallets.lease(account, floor - held)
            return floor - held
        return 0

    def _money_taken(self, asks: list[MoneyAsk], got: list[tuple[int, int, int, int]],
                     now: float) -> None:
        wallets = self._wallets
        if wallets is None:
            return
        fresh = False
        for ask, (take, avail, new, total) in zip(asks, got, strict=True):
            self._avail[ask.account] = avail
            wallets.totals[ask.account] = total
            if take:
                wallets.lease(ask.account, take)
            elif ask.want:
                self._money_retry[ask.account] = now + NO_MONEY_RETRY
            if new and ask.rejoin:
                fresh = True  # Redis forgot us: it lost its data
            self._reported[ask.account] = (ask.ledger_sum, ask.held + take)
        if fresh:
            log.warning("redis_state_lost", note="Redis had no report of this process: "
                        f"no money leases for {SETTLE:g} s while every process reports again")
            self._settle_until = now + SETTLE + 2 * self._settings.retry
            self._next_full = now
        for account in wallets.balances.keys() | self._money.keys():
            held = wallets.balances.get(account, 0)
            seen = self._money.get(account)
            self._money[account] = _Seen(held, seen.still_since
                                         if seen is not None and seen.after == held else now)

    # --- Redis unreachable -------------------------------------------------------------

    def _unreachable(self, exc: BaseException, now: float) -> None:
        share = self._settings.local_share
        if self.throttle is not None:
            for bucket in self.throttle.buckets.values():
                if isinstance(bucket, LeasedBucket) and not bucket.local_share:
                    bucket.local_share = share
                    bucket.stamp = now
        if self.down_since is None:
            self.down_since = now
            self._quota_share(share)
            log.warning("redis_unreachable", error=str(exc) or type(exc).__name__,
                        local_share=share, note="buckets refill locally at local_share of "
                        "their rate; money and quotas: only what this process holds")

    def _reachable(self, now: float) -> None:
        if self.down_since is None:
            return
        log.info("redis_reconnected", seconds_down=round(now - self.down_since, 3))
        self.down_since = None
        self._quota_claims()
        self._next_full = now  # the next tick reports every account: reconciled
        if self.throttle is not None:
            for bucket in self.throttle.buckets.values():
                if isinstance(bucket, LeasedBucket):
                    bucket.local_share = 0.0

    def _quota_share(self, share: float) -> None:
        """Redis down: each quota may also spend ``share`` of what was left of it."""
        if (quotas := self._quotas) is None:
            return
        for key, left in self._quota_left.items():
            extra = int(left * share)
            if extra > 0:
                quotas.held[key] += extra
                self._extra[key] = extra

    def _quota_claims(self) -> None:
        """Redis back: the unspent share is dropped, the spent part claimed in Redis."""
        if (quotas := self._quotas) is None:
            return
        for key, extra in self._extra.items():
            unused = max(0, min(quotas.held[key], extra))
            quotas.held[key] -= unused
            if extra > unused:
                self._claims[key] = self._claims.get(key, 0) + extra - unused
        self._extra.clear()

    # --- stop --------------------------------------------------------------------------

    async def close(self) -> None:
        """Give back what this process holds (best effort: what a dead process held
        comes back through its next report, or stays out of use), then disconnect."""
        buckets = []
        if self.throttle is not None:
            for (scope, key), bucket in self.throttle.buckets.items():
                give = math.floor(bucket.tokens)
                if isinstance(bucket, LeasedBucket) and give > 0:
                    bucket.tokens -= give
                    buckets.append(BucketAsk(f"{scope}:{key}", bucket.rate, bucket.size,
                                             0, give))
        quotas = []
        if (leased := self._quotas) is not None:
            for (account, period), held in leased.held.items():
                if held > 0:
                    quotas.append(QuotaAsk(account, period, 0, 0, held, 0,
                                           self._claims.pop((account, period), 0)))
            leased.held.clear()
        money = []
        wallets = self._wallets
        if wallets is not None and wallets.offsets is not None:
            for account, held in list(wallets.balances.items()):
                wallets.lease(account, -held)
                money.append(MoneyAsk(account, wallets.ledger_sum(account), 0, 0))
        try:  # bounded: a connection its cancelled tick left mid-command cannot hold the stop
            await within(self._state.exchange(buckets, quotas, money), GIVE_BACK_WAIT)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis_not_given_back", error=str(exc) or type(exc).__name__)
        try:  # bounded too: closing waits for a connection a cancelled command may hold
            await within(self._state.close(), GIVE_BACK_WAIT)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis_not_closed", error=str(exc) or type(exc).__name__)
