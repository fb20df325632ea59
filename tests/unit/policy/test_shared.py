"""policy/shared.py against a real redis-server (pytest-redis): two "processes" (two
SharedLimits with stores of their own) lease tokens and money from one Redis; Redis
stopped, flushed, back.  The invariant under test: what Redis has not leased plus what
every process holds equals the sum of the ledgers (requirements §5), and leased tokens
never exceed the shared bucket (§6)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from router.model.limits import Limit, LimitBook
from router.model.lines import LineBook
from router.model.numbersets import ListSnapshot
from router.model.wallets import Wallets
from router.policy.leases import LeasedBucket, LeasedQuotas
from router.policy.lists import ListRegistry
from router.policy.rules import Rules
from router.policy.shared import SharedLimits
from router.policy.throttle import ThrottleStage
from router.store.settings import RedisSettings
from router.store.shared import RedisState
from tests.conftest import SharedRedis
from tests.unit.policy.test_throttle import PREFIXES, Clock, submit


class Process:
    """What one router holds: wallets (money), a throttle (buckets), its SharedLimits."""

    def __init__(self, shared: SharedRedis, name: str, book: LimitBook,
                 ledger_sum: int = 0, **settings: object) -> None:
        from router.policy.addresses import Addresses
        from router.policy.plans import Operators
        from router.policy.settings import PolicySettings

        self.settings = RedisSettings(url=shared.url, prefix=shared.prefix, **settings)  # type: ignore[arg-type]
        self.wallets = Wallets({"acc": ledger_sum} if ledger_sum else None)
        self.wallets.share()
        policy = PolicySettings(prefixes_dir=str(PREFIXES))
        self.clock = Clock()
        self.throttle = ThrottleStage(policy, Addresses(policy, Operators.load(PREFIXES)),
                                      None, LeasedQuotas(policy.timezone), self.clock,
                                      bucket_type=LeasedBucket)
        self.rules = Rules(LineBook(), ListRegistry(ListSnapshot()), book)
        self.limits = SharedLimits(self.settings, RedisState(self.settings, name), self.rules,
                                   self.wallets, {}, ["acc"], clock=self.clock)
        self.limits.throttle = self.throttle

    def spend(self, amount: int) -> int:
        """What the billing stage does: reserve from what is held (a ledger row)."""
        spent = min(amount, self.wallets.balances["acc"])
        self.wallets.balances["acc"] -= spent
        return spent

    def take(self, count: int) -> int:
        from router.policy.stage import Snapshot

        snap = Snapshot("acc", time.time(), LineBook(), ListSnapshot(), self.rules.limits)
        accepted, _ = self.throttle.decide([submit()] * count, snap)
        return len(accepted)


@pytest.fixture
def redis_up(shared_redis: SharedRedis) -> Iterator[SharedRedis]:
    yield shared_redis


def pool(shared: SharedRedis) -> int:
    return int(shared.client().get(f"{shared.prefix}:money:acc") or 0)


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_money_invariant_through_leases_spending_and_a_crash(redis_up: SharedRedis) -> None:
    """Store A has the topup (1,000); A and B lease, spend, give back; B dies without
    giving back and comes back with its ledger: pool + held = Σ ledgers throughout."""
    async def scenario() -> None:
        a = Process(redis_up, "A", LimitBook(), ledger_sum=1000, money_lease=100,
                    idle_return=0.5)
        b = Process(redis_up, "B", LimitBook(), money_lease=100, idle_return=0.5)
        spent = 0
        for _ in range(30):
            for p in (a, b):
                await p.limits.tick()
                spent += p.spend(30)
                p.clock.now += 0.05
            held = a.wallets.balances["acc"] + b.wallets.balances["acc"]
            assert pool(redis_up) + held <= 1000 - spent  # reports lag: never more
        await a.limits.tick()
        await b.limits.tick()
        assert spent == 1000 - pool(redis_up) - a.wallets.balances["acc"] - \
            b.wallets.balances["acc"]
        ledger_b = b.wallets.ledger_sum("acc")  # B's ledger: its reservations
        assert ledger_b < 0
        b_again = Process(redis_up, "B", LimitBook(), ledger_sum=ledger_b, money_lease=100)
        await b_again.limits.tick()  # B's restart: what the dead B held is back
        held = a.wallets.balances["acc"] + b_again.wallets.balances["acc"]
        assert pool(redis_up) + held == 1000 - spent
        assert b_again.wallets.balance("acc") == 1000 - spent  # over both stores
        await a.limits.close()
        await b_again.limits.close()
        await b.limits._state.close()
        assert pool(redis_up) == 1000 - spent  # all given back: the pool is the balance

    run(scenario())


def test_redis_lost_its_data_no_lease_until_every_store_reported(
        redis_up: SharedRedis) -> None:
    """A flushed Redis is rebuilt from the stores' absolute reports; a store that had
    reported before leases nothing until the others had time to report."""
    async def scenario() -> None:
        a = Process(redis_up, "A", LimitBook(), ledger_sum=1000, money_lease=100)
        b = Process(redis_up, "B", LimitBook(), money_lease=100)
        for _ in range(2):  # a new Redis: the first report leases nothing
            for p in (a, b):
                await p.limits.tick()
                p.clock.now += 1.0
        spent = a.spend(100) + b.spend(100)
        assert spent == 200
        redis_up.client().flushall()
        await a.limits.tick()
        assert a.wallets.balances["acc"] == 0  # A reported; no lease: B has not yet
        await b.limits.tick()
        assert pool(redis_up) == 1000 - spent
        for p in (a, b):
            await p.limits.close()

    run(scenario())


def test_buckets_lease_within_the_shared_rate_and_fall_back_to_a_local_share(
        redis_up: SharedRedis) -> None:
    """Two processes drain one account's bucket (burst 100, 50/s): together never more
    than the bucket gave.  Redis stopped: each refills alone at local_share (25 %) of
    the rate and size, says so once; back: leases again."""
    async def scenario() -> None:
        book = LimitBook(accounts={"acc": Limit(50.0, 100)})
        a, b = (Process(redis_up, name, book, local_share=0.25) for name in "AB")
        started = time.monotonic()
        taken = 0
        for _ in range(20):
            for p in (a, b):
                await p.limits.tick()
                taken += p.take(40)
        refilled = 50.0 * (time.monotonic() - started)  # Redis's own clock refills
        assert 95 <= taken <= 100 + refilled + 1
        redis_up.server.stop()
        await a.limits.tick()
        assert a.limits.down_since is not None
        bucket = a.throttle.buckets["account", "acc"]
        assert isinstance(bucket, LeasedBucket) and bucket.local_share == 0.25
        a.clock.now += 10.0
        assert a.take(100) == 25  # the local share of the size, however long it waited
        a.clock.now += 1.0
        assert a.take(100) == 12  # 25 % of 50/s for one second
        redis_up.server.start()
        await a.limits.tick()
        assert a.limits.down_since is None and bucket.local_share == 0.0
        for p in (a, b):
            await p.limits.close()

    run(scenario())


def test_a_quota_spends_a_local_share_while_redis_is_down_then_counts_it(
        redis_up: SharedRedis) -> None:
    """requirements §6 (quotas across instances): 1,000 segments a day, leases of 100.
    Redis stopped: the process may also spend 25 % of what was left; back: what it
    spent of that share is counted in Redis, the rest dropped."""
    async def scenario() -> None:
        book = LimitBook(accounts={"acc": Limit(daily=1000)})
        a = Process(redis_up, "A", book, quota_lease=100, local_share=0.25)
        await a.limits.tick()
        assert a.take(1000) == 100  # the lease
        a.clock.now += 1.0
        await a.limits.tick()  # another lease, sized by the use
        assert a.take(30) == 30
        counter = f"{redis_up.prefix}:quota:acc:{a.throttle.quotas.periods(time.time())[0]}"
        claimed = int(redis_up.client().get(counter))
        assert 200 <= claimed < 1000
        redis_up.server.stop()
        await a.limits.tick()
        held = claimed - 130
        share = (1000 - claimed) // 4  # a quarter of what was left
        assert a.take(1000) == held + share
        redis_up.server.start()
        await a.limits.tick()  # reconnected: the share it spent is counted in Redis
        assert int(redis_up.client().get(counter)) >= claimed + share
        await a.limits.close()
        assert int(redis_up.client().get(counter)) == 130 + held + share  # what was used

    run(scenario())


def test_a_lease_covers_the_demand_it_had_to_refuse(redis_up: SharedRedis) -> None:
    """requirements §5, shared balances: submits refused because the money is in the pool
    (0x58 balance_elsewhere) count as demand, so the next lease covers them: a cold
    start's burst met leases sized to what had been spent (224 of 20,000 accepted in the
    benchmark's warm-up)."""
    async def scenario() -> None:
        pooled = Process(redis_up, "A", LimitBook(), ledger_sum=100_000, money_lease=100)
        await pooled.limits.tick()  # A's topup reaches the pool
        cold = Process(redis_up, "B", LimitBook(), money_lease=100)
        await cold.limits.tick()
        assert cold.wallets.balances["acc"] == 100  # the floor
        cold.wallets.short["acc"] = 5_000  # the billing stage refused that much as 0x58
        cold.clock.now += 0.05
        await cold.limits.tick()
        assert cold.wallets.balances["acc"] >= 5_000
        assert "acc" not in cold.wallets.short  # taken into that lease, once
        await pooled.limits.close()
        await cold.limits.close()

    run(scenario())
