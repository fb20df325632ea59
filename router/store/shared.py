"""The live counters several router processes share, in Redis (issue 11 item 4): token
buckets, quota counters and prepaid balances, and the binds counted against max_binds
(issue 16), each changed by one Lua script so that a take or a reservation is atomic
however many processes ask at once.

Processes never call Redis per message: they lease slices (tokens, segments, money) and
``RedisState.exchange`` sends one tick's leases and returns of every key in one pipeline.
The ledger in the journal stays the record of money; Redis holds, per account, what no
process holds (``avail``) and what each store last reported: its ledger sum and what it
holds.  Reports are absolute, so a lost reply, a crash or a Redis that lost its data is
put right by the next report (README "Shared state through Redis").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from router.store.settings import RedisSettings

__all__ = ["BucketAsk", "MoneyAsk", "Offer", "QuotaAsk", "RedisError", "RedisState"]

BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, size = tonumber(ARGV[1]), tonumber(ARGV[2])
local want, give = tonumber(ARGV[3]), tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens, stamp = tonumber(b[1]), tonumber(b[2])
if tokens == nil or stamp == nil then tokens = size; stamp = now end
if now > stamp then tokens = math.min(size, tokens + (now - stamp) * rate); stamp = now end
tokens = math.min(size, tokens + give)
local take = 0
if want > 0 and tokens >= 1 then take = math.min(want, math.floor(tokens)) end
tokens = tokens - take
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(stamp))
redis.call('PEXPIRE', KEYS[1], math.ceil(size / rate * 1000) + 60000)
return take
"""
"""A token bucket refilled by Redis's clock: gives back ``give``, leases up to
``want`` whole tokens; returns how many it leased."""

QUOTA = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[4], 'EX', ARGV[5])
end
local used = tonumber(redis.call('GET', KEYS[1]))
local give = tonumber(ARGV[3])
if give > 0 then used = redis.call('DECRBY', KEYS[1], give) end
if used < 0 then used = 0; redis.call('SET', KEYS[1], 0, 'KEEPTTL') end
local claim = tonumber(ARGV[6])
if claim > 0 then used = redis.call('INCRBY', KEYS[1], claim) end
local take = math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) - used)
if take > 0 then redis.call('INCRBY', KEYS[1], take) else take = 0 end
return {take, tonumber(ARGV[1]) - used - take}
"""
"""Segments of one (account, period) quota claimed by all processes: starts at the
registry's count (``init``), gives back ``give``, counts ``claim`` (segments spent on a
local share while Redis was unreachable), leases up to ``want`` within the limit;
returns the lease and what is left of the limit."""

MONEY = """
local old = redis.call('HMGET', KEYS[2], ARGV[1] .. ':s', ARGV[1] .. ':h')
local fresh = 0
if old[1] == false then fresh = 1 end
if redis.call('SETNX', KEYS[3], '1') == 1 then fresh = 2 end
local s_old, h_old = tonumber(old[1]) or 0, tonumber(old[2]) or 0
local s, h, want = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if fresh == 2 or (fresh == 1 and ARGV[5] == '1') then want = 0 end
local avail = redis.call('INCRBY', KEYS[1], (s - s_old) - (h - h_old))
local take = 0
if want > 0 and avail > 0 then
  take = math.min(want, avail)
  avail = redis.call('DECRBY', KEYS[1], take)
end
redis.call('HSET', KEYS[2], ARGV[1] .. ':s', s, ARGV[1] .. ':h', h + take)
local total = 0
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if string.sub(all[i], -2) == ':s' then total = total + tonumber(all[i + 1]) end
end
return {take, avail, fresh, total}
"""
"""One store's report for one account: ``s`` its ledger sum, ``h`` what it holds, both
absolute; ``avail`` (what no process holds) moves by the change since its last report,
so Σ avail + holdings = Σ ledger sums.  Then it leases up to ``want``.  Returns the
lease, what is left, the account's balance (Σ of the stores' reported ledger sums), and
``fresh``: 1 when Redis had no report of this store, 2 when
Redis itself is new (no epoch key).  Nothing is leased when Redis is new or forgot a
store that had reported (``rejoin``): the other stores must report first."""


@dataclass(slots=True)
class BucketAsk:
    key: str
    """``SCOPE:KEY`` as the throttle stage keys its buckets."""
    rate: float
    size: float
    want: int
    give: int


@dataclass(slots=True)
class QuotaAsk:
    account: str
    period: str
    limit: int
    want: int
    give: int
    init: int
    """Segments the registry counted for this period (a key Redis does not have yet)."""
    claim: int = 0
    """Segments used beyond the leases while Redis was unreachable: counted now."""


@dataclass(slots=True)
class MoneyAsk:
    account: str
    ledger_sum: int
    held: int
    want: int
    rejoin: bool = False
    """This store reported the account before (so a missing report means lost data)."""


QUOTA_TTL = 40 * 86400  # a month's key outlives the month

BIND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 60)
return 1
"""
"""One of an account's binds over all processes: a sorted set of live binds scored by
when each lapses unless kept; a slot is given (1) while fewer than ``limit`` are live."""

KEEP = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], until_, ARGV[i]) end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 60)
return 0
"""
"""This process's binds of one account are still live: each lapses ``ARGV[1]`` s later
(added again if Redis lost them, or they were taken while it was unreachable)."""


STREAM_LENGTH = 100_000
"""Entries an offer or settle stream keeps at most (older ones are trimmed)."""


@dataclass(frozen=True, slots=True)
class Offer:
    """A deliver_sm another router queued for ``account`` (its ``key`` there), taken by
    this one from the account's stream (entry ``entry``)."""

    account: str
    entry: str
    origin: str
    key: int
    attempts: int
    body: bytes


class RedisState:
    def __init__(self, settings: RedisSettings, store_id: str) -> None:
        self._redis: aioredis.Redis = aioredis.from_url(
            settings.url, socket_timeout=settings.timeout,
            socket_connect_timeout=settings.timeout, retry_on_timeout=False)
        self._prefix = settings.prefix
        self.store_id = store_id
        self._bucket = self._redis.register_script(BUCKET)
        self._quota = self._redis.register_script(QUOTA)
        self._money = self._redis.register_script(MONEY)
        self._groups: set[str] = set()
        """Accounts whose offer stream has this router's consumer group already."""
        self._bind = self._redis.register_script(BIND)
        self._keep = self._redis.register_script(KEEP)

    async def exchange(self, buckets: list[BucketAsk], quotas: list[QuotaAsk],
                       money: list[MoneyAsk]) -> tuple[list[int], list[tuple[int, int]],
                                                       list[tuple[int, int, int, int]]]:
        """One round trip: every ask of a tick, answers aligned with the asks.  Raises
        RedisError (or OSError) when Redis cannot be reached."""
        p = self._prefix
        pipe = self._redis.pipeline(transaction=False)
        for b in buckets:
            await self._bucket(keys=[f"{p}:bucket:{b.key}"],
                               args=[b.rate, b.size, b.want, b.give], client=pipe)
        for q in quotas:
            await self._quota(keys=[f"{p}:quota:{q.account}:{q.period}"],
                              args=[q.limit, q.want, q.give, q.init, QUOTA_TTL, q.claim],
                              client=pipe)
        for m in money:
            await self._money(keys=[f"{p}:money:{m.account}", f"{p}:stores:{m.account}",
                                    f"{p}:epoch"],
                              args=[self.store_id, m.ledger_sum, m.held, m.want,
                                    int(m.rejoin)], client=pipe)
        if not (buckets or quotas or money):
            await pipe.ping()
        replies: list[Any] = await pipe.execute()
        nb, nq = len(buckets), len(quotas)
        return ([int(r) for r in replies[:nb]],
                [(int(t), int(left)) for t, left in replies[nb:nb + nq]],
                [(int(t), int(a), int(f), int(b))
                 for t, a, f, b in replies[nb + nq:nb + nq + len(money)]])

    async def take_bind(self, account: str, token: str, limit: int, ttl: float) -> bool:
        """A slot among ``limit`` binds of ``account`` over every process, named
        ``token`` and live ``ttl`` s unless kept; False when all are taken."""
        got = await self._bind(keys=[f"{self._prefix}:binds:{account}"],
                               args=[limit, ttl, token])
        return bool(int(got))

    async def keep_binds(self, tokens: dict[str, list[str]], ttl: float) -> None:
        """Every live bind of this process (per account) lapses ``ttl`` s from now."""
        pipe = self._redis.pipeline(transaction=False)
        for account, held in tokens.items():
            await self._keep(keys=[f"{self._prefix}:binds:{account}"], args=[ttl, *held],
                             client=pipe)
        await pipe.execute()

    async def drop_bind(self, account: str, token: str) -> None:
        await self._redis.zrem(f"{self._prefix}:binds:{account}", token)

    # --- receipts and MO for a session bound to another router (issue 16) ----------

    async def advertise(self, receiving: list[str], stopped: list[str], ttl: float) -> None:
        """The accounts this router has a receiving session of (for ``ttl`` s), and
        those it no longer has."""
        p, until = self._prefix, time.time() + ttl
        pipe = self._redis.pipeline(transaction=False)
        for account in receiving:
            pipe.zadd(f"{p}:rx:{account}", {self.store_id: until})
            pipe.expire(f"{p}:rx:{account}", int(ttl) + 60)
        for account in stopped:
            pipe.zrem(f"{p}:rx:{account}", self.store_id)
        await pipe.execute()

    async def received_elsewhere(self, accounts: list[str]) -> list[str]:
        """Those of ``accounts`` another router has a receiving session of now."""
        p, now = self._prefix, time.time()
        pipe = self._redis.pipeline(transaction=False)
        for account in accounts:
            pipe.zrangebyscore(f"{p}:rx:{account}", now, "+inf")
        found: list[list[bytes]] = await pipe.execute()
        me = self.store_id.encode()
        return [account for account, routers in zip(accounts, found, strict=True)
                if any(router != me for router in routers)]

    async def offer(self, account: str, items: list[tuple[int, int, bytes]]) -> None:
        """(key, attempts, body) of queued deliver_sm for whichever router has a
        receiving session of ``account``."""
        pipe = self._redis.pipeline(transaction=False)
        for key, attempts, body in items:
            pipe.xadd(f"{self._prefix}:out:{account}",
                      {"o": self.store_id, "k": key, "n": attempts, "b": body},
                      maxlen=STREAM_LENGTH, approximate=True)
        await pipe.execute()

    async def take_offers(self, accounts: list[str], count: int) -> list[Offer]:
        """Up to ``count`` offers per account not taken by any router yet (one read
        over every account's stream)."""
        p = self._prefix
        for account in accounts:
            if account not in self._groups:
                try:
                    await self._redis.xgroup_create(f"{p}:out:{account}", "chapar", id="0",
                                                    mkstream=True)
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                self._groups.add(account)
        if not accounts:
            return []
        reply: Any = await self._redis.xreadgroup(
            "chapar", self.store_id, {f"{p}:out:{a}": ">" for a in accounts}, count=count)
        head = len(f"{p}:out:")
        return [Offer(stream.decode()[head:], entry.decode(), fields[b"o"].decode(),
                      int(fields[b"k"]), int(fields[b"n"]), fields[b"b"])
                for stream, entries in reply or () for entry, fields in entries]

    async def settle_offers(self, offers: list[Offer]) -> None:
        """Offers this router delivered (or gave up): taken off the stream, and their
        origin told, which closes them in its durable queue."""
        p = self._prefix
        pipe = self._redis.pipeline(transaction=False)
        for offer in offers:
            pipe.xack(f"{p}:out:{offer.account}", "chapar", offer.entry)
            pipe.xadd(f"{p}:done:{offer.origin}", {"k": offer.key}, maxlen=STREAM_LENGTH,
                      approximate=True)
        await pipe.execute()

    async def settled(self, after: str, count: int) -> tuple[list[int], str]:
        """Keys of this router's offers that another router settled since ``after`` (a
        stream id), and the id to read after next time."""
        got: Any = await self._redis.xread({f"{self._prefix}:done:{self.store_id}": after},
                                           count=count)
        keys: list[int] = []
        for _, entries in got or ():
            for entry, fields in entries:
                keys.append(int(fields[b"k"]))
                after = entry.decode()
        return keys, after

    async def available(self, account: str) -> int:
        """What no process holds of ``account``'s balance (tests, operators)."""
        value = await self._redis.get(f"{self._prefix}:money:{account}")
        return int(value or 0)

    async def close(self) -> None:
        await self._redis.aclose()
