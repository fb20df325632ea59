"""policy/binds.py: an account's binds counted over processes in a real redis-server
(pytest-redis), and what one process allows alone while Redis cannot be reached
(requirements §1: no more concurrent binds than the account may hold)."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from router.policy.binds import SharedBinds
from router.store.settings import RedisSettings
from router.store.shared import RedisState
from tests.conftest import SharedRedis, free_port


def _binds(url: str, prefix: str, name: str, ttl: float = 30.0) -> SharedBinds:
    settings = RedisSettings(url=url, prefix=prefix, timeout=0.5)
    return SharedBinds(RedisState(settings, name), local_share=0.5, ttl=ttl)


def test_two_processes_share_the_slots_and_give_them_back(shared_redis: SharedRedis) -> None:
    async def run() -> None:
        one = _binds(shared_redis.url, shared_redis.prefix, "one")
        two = _binds(shared_redis.url, shared_redis.prefix, "two")
        first = await one.take("acc", 2, 0)
        assert first is not None and await two.take("acc", 2, 0) is not None
        assert await one.take("acc", 2, 1) is None  # two live over both
        assert await two.take("other", 2, 0) is not None  # its own count
        one.drop("acc", first)
        await asyncio.sleep(0.2)  # the give-back runs in the background
        assert await two.take("acc", 2, 1) is not None

    asyncio.run(run())


def test_unkept_binds_lapse_and_kept_ones_do_not(shared_redis: SharedRedis) -> None:
    async def run() -> None:
        kept = _binds(shared_redis.url, shared_redis.prefix, "kept", ttl=0.6)
        dead = _binds(shared_redis.url, shared_redis.prefix, "dead", ttl=0.6)
        assert await kept.take("acc", 2, 0) is not None
        assert await dead.take("acc", 2, 0) is not None
        for _ in range(4):  # only "kept" keeps its bind alive
            await asyncio.sleep(0.25)
            await kept.keep()
        other = _binds(shared_redis.url, shared_redis.prefix, "other")
        assert await other.take("acc", 2, 0) is not None  # dead's slot lapsed
        assert await other.take("acc", 2, 1) is None  # kept's did not

    asyncio.run(run())


def test_without_redis_a_process_allows_its_local_share_and_logs_once() -> None:
    """Redis unreachable: at most ``local_share`` of max_binds (at least one) on this
    process, said once; giving a slot back does not raise."""
    async def run() -> None:
        alone = _binds(f"redis://127.0.0.1:{free_port()}/0", "t", "alone")
        with capture_logs() as logs:
            token = await alone.take("acc", 4, 0)
            assert token is not None
            assert await alone.take("acc", 4, 1) is not None
            assert await alone.take("acc", 4, 2) is None  # half of 4 here
            alone.drop("acc", token)
            await asyncio.sleep(0.1)
            await alone.keep()
        assert [e["event"] for e in logs].count("binds_not_shared") == 1
        assert await alone.take("acc", 1, 0) is not None  # at least one

    asyncio.run(run())
