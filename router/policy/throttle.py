"""The throttle stage (requirements §6): token buckets per account, per line and per
account x operator, and daily / monthly quotas per account counted in segments.

A whole read batch is decided at once: each bucket it touches is refilled once for the
batch, then every submit takes one token from each of its buckets (and its segments from
the quota) or is refused at once: ESME_RTHROTTLED over a rate, ``quota_spent`` when the
quota is used up.  Nothing waits in a hidden queue.  A submit refused here, or by a later
stage (``release``), takes nothing.  Accounts with no limits cost one dict lookup a batch.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from router.model.limits import SCOPES, Limit, LimitBook, bucket_size, operator_key
from router.model.status import REFUSALS
from router.policy.addresses import Addresses
from router.policy.batch import BatchFacts, counts
from router.policy.settings import PolicySettings
from router.policy.sizing import segments_of
from router.policy.stage import Refused, Snapshot
from router.smpp.session import Submit
from router.store.writer import RegistryWriter

_THROTTLED = REFUSALS["throttled"]
_QUOTA = REFUSALS["quota_spent"]


class Bucket:
    __slots__ = ("rate", "size", "stamp", "tokens")

    def __init__(self, limit: Limit, now: float) -> None:
        self.rate = limit.rate
        self.size = bucket_size(limit)
        self.tokens = self.size
        self.stamp = now

    def fill(self, now: float) -> float:
        if now > self.stamp:
            tokens = self.tokens + (now - self.stamp) * self.rate
            self.tokens = tokens if tokens < self.size else self.size
            self.stamp = now
        return self.tokens

    def retune(self, limit: Limit) -> None:
        self.rate = limit.rate
        self.size = bucket_size(limit)
        self.tokens = min(self.tokens, self.size)

    @property
    def fill_ratio(self) -> float:
        return self.tokens / self.size if self.size else 1.0


def _blocked(buckets: tuple[Bucket, ...]) -> bool:  # a loop: any() + a generator cost more
    for bucket in buckets:  # noqa: SIM110
        if bucket.tokens < 1.0:
            return True
    return False


Keys = tuple[tuple[str, str], tuple[str, str]]
"""An account's (account, day) and (account, month) counters."""


class Quotas:
    """Segments counted per (account, period); periods are local days and months."""

    def __init__(self, timezone: str, used: dict[tuple[str, str], int] | None = None) -> None:
        self._tz = ZoneInfo(timezone)
        self.used: Counter[tuple[str, str]] = Counter(used or {})
        self.pending: Counter[tuple[str, str]] = Counter()
        self._cache = (-1, ("", ""))
        self._keys: dict[str, Keys] = {}
        """Per account, its counters' keys in the current periods (built once, not per
        batch)."""

    def periods(self, wall: float) -> tuple[str, str]:
        minute = int(wall // 60)
        if minute != self._cache[0]:
            local = datetime.fromtimestamp(wall, self._tz)
            periods = (f"d:{local:%Y-%m-%d}", f"m:{local:%Y-%m}")
            if periods != self._cache[1]:
                self._keys = {}
            self._cache = (minute, periods)
        return self._cache[1]

    def keys(self, account: str, wall: float) -> Keys:
        day, month = self.periods(wall)
        keys = self._keys.get(account)
        if keys is None:
            keys = self._keys[account] = ((account, day), (account, month))
        return keys

    def left(self, account: str, limit: Limit, wall: float) -> float:
        return self.left_of(self.keys(account, wall), limit)

    def left_of(self, keys: Keys, limit: Limit) -> float:
        left = float("inf")
        if limit.daily:
            left = limit.daily - self.used[keys[0]]
        if limit.monthly:
            left = min(left, limit.monthly - self.used[keys[1]])
        return left

    def add(self, account: str, wall: float, segments: int) -> None:
        self.add_to(self.keys(account, wall), segments)

    def add_to(self, keys: Keys, segments: int) -> None:
        day, month = keys
        used, pending = self.used, self.pending
        used[day] += segments
        used[month] += segments
        pending[day] += segments
        pending[month] += segments

    def take_pending(self) -> list[tuple[str, str, int]]:
        pending, self.pending = self.pending, Counter()
        return [(a, p, n) for (a, p), n in pending.items() if n]


def _counted(count: int, segments: list[int] | None, quota: float | None) -> int | None:
    """The segments a batch counts against the quota, None when it has not that many
    left."""
    if quota is None:
        return 0
    counted = count if segments is None else sum(segments)
    return counted if counted <= quota else None


class _Plan:
    """What one account's batches take from under one limit book, resolved once: its
    limit, its bucket, its operator buckets by operator name (no key built and looked
    up per bucket and batch)."""

    __slots__ = ("operators", "own", "prefix", "quota", "routes", "with_ops")

    def __init__(self, account: str, limit: Limit | None, own: Bucket | None,
                 with_ops: bool) -> None:
        self.own = own
        self.quota = limit if limit is not None and (limit.daily or limit.monthly) else None
        """The limit, when it has a quota."""
        self.with_ops = with_ops
        self.prefix = operator_key(account, "")
        """Of its operator limits' keys."""
        self.operators: dict[str, Bucket | None] = {}
        self.routes: dict[tuple[str, str], tuple[Bucket, ...]] = {}
        """By (line, operator): every bucket a submit of the account takes from."""


class ThrottleStage:
    name = "throttle"

    def __init__(self, settings: PolicySettings, addresses: Addresses,
                 writer: RegistryWriter | None, quotas: Quotas | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 bucket_type: type[Bucket] = Bucket) -> None:
        self._addresses = addresses
        self._writer = writer
        self.quotas = quotas or Quotas(settings.timezone)
        self._clock = clock
        self._bucket_type = bucket_type
        """``LeasedBucket`` when the limits are shared through Redis (policy/leases.py)."""
        self._book: LimitBook | None = None
        self._op_accounts: frozenset[str] = frozenset()
        self.buckets: dict[tuple[str, str], Bucket] = {}
        self._plans: dict[str, _Plan | None] = {}
        """Per account, for ``_book``; None: no limit applies to it."""
        self._lines: dict[str, Bucket | None] = {}
        """Line buckets by source, for ``_book``."""

    def _sync(self, book: LimitBook) -> None:
        """New limits: retune the buckets that still have one, drop the others."""
        self._book = book
        self._op_accounts = book.with_operators()
        self._plans = {}
        self._lines = {}
        for (scope, key), bucket in list(self.buckets.items()):
            limit = book.by_scope(scope).get(key)
            if limit is None or not limit.rate:
                del self.buckets[scope, key]
            else:
                bucket.retune(limit)

    def prepare(self, book: LimitBook) -> None:
        """A bucket for every limit with a rate, before any batch needs it: leased
        buckets (policy/leases.py) are filled in the background, not on first use."""
        if book is not self._book:
            self._sync(book)
        now = self._clock()
        for scope in SCOPES:
            limits = book.by_scope(scope)
            for key in limits:
                self._bucket(scope, key, limits, now)

    def _bucket(self, scope: str, key: str, limits: dict[str, Limit], now: float
                ) -> Bucket | None:
        bucket = self.buckets.get((scope, key))
        if bucket is None:
            limit = limits.get(key)
            if limit is None or not limit.rate:
                return None
            bucket = self.buckets[scope, key] = self._bucket_type(limit, now)
        bucket.fill(now)
        return bucket

    def _plan(self, account: str, book: LimitBook) -> _Plan | None:
        limit = book.accounts.get(account)
        with_ops = account in self._op_accounts
        if limit is None and not book.lines and not with_ops:
            return None
        own = self._bucket("account", account, book.accounts, self._clock())
        return _Plan(account, limit, own, with_ops)

    def _keys(self, submit: Submit, account: str, with_ops: bool) -> list[tuple[str, str]]:
        keys = [("account", account), ("line", submit.source_addr)]
        if with_ops:
            operator = self._addresses.operator_of(submit.destination_addr,
                                                   submit.dest_addr_ton, submit.dest_addr_npi)
            keys.append(("operator", operator_key(account, operator)))
        return keys

    def decide(self, submits: list[Submit], snapshot: Snapshot
               ) -> tuple[list[Submit], Refused]:
        book = snapshot.limits
        if book is not self._book:
            self._sync(book)
        account = snapshot.account
        try:
            plan = self._plans[account]
        except KeyError:
            plan = self._plans[account] = self._plan(account, book)
        if plan is None or not submits:
            return submits, []
        now = self._clock()
        quotas = self.quotas
        keys = quota = None
        if plan.quota is not None:
            keys = quotas.keys(account, snapshot.wall)
            quota = quotas.left_of(keys, plan.quota)
        facts = snapshot.facts
        operators = facts.operators(submits, self._addresses) if plan.with_ops else None
        segments = facts.segments(submits) if keys is not None else None
        taken = self._whole(submits, plan, book, now, operators, segments, quota, facts)
        if taken is not None:
            if keys is not None and taken:
                quotas.add_to(keys, taken)
            return submits, []
        if plan.own is not None:
            plan.own.fill(now)
        accepted, refused, counted = self._each(submits, account, book, now, plan.own,
                                                operators, segments, quota)
        if keys is not None and counted:
            quotas.add_to(keys, counted)
        return accepted, refused

    def _whole(self, submits: list[Submit], plan: _Plan, book: LimitBook, now: float,
               operators: list[str] | None, segments: list[int] | None, quota: float | None,
               facts: BatchFacts) -> int | None:
        """The fast path: when every bucket and the quota cover the whole batch, take
        the counts per key at once.  Returns the segments counted, None to decide
        submit by submit."""
        count = len(submits)
        sources = facts.sources(submits)
        if len(sources) == 1 and (operators is None or operators.count(operators[0]) == count):
            route = self._route(plan, book, next(iter(sources)),
                                operators[0] if operators is not None else "", now)
            for bucket in route:
                if bucket.tokens < count:
                    return None
            counted = _counted(count, segments, quota)
            if counted is not None:
                for bucket in route:
                    bucket.tokens -= count
            return counted
        takes: list[tuple[Bucket, int]] = []
        own = plan.own
        if own is not None:
            if own.fill(now) < count:
                return None
            takes.append((own, count))
        if book.lines and not self._covers(takes, sources, self._lines, "line", "",
                                           book.lines, now):
            return None
        if operators is not None and not self._covers(
                takes, counts(operators), plan.operators, "operator", plan.prefix,
                book.operators, now):
            return None
        counted = _counted(count, segments, quota)
        if counted is not None:
            for bucket, n in takes:
                bucket.tokens -= n
        return counted

    def _route(self, plan: _Plan, book: LimitBook, source: str, operator: str, now: float
               ) -> tuple[Bucket, ...]:
        """The buckets a submit of the plan's account from ``source`` to ``operator``
        takes from, found once per limit book (filled)."""
        route = plan.routes.get((source, operator))
        if route is None:
            if plan.own is not None:
                plan.own.fill(now)
            line = self._bucket("line", source, book.lines, now)
            to = (self._bucket("operator", plan.prefix + operator, book.operators, now)
                  if plan.with_ops else None)
            route = plan.routes[source, operator] = tuple(
                bucket for bucket in (plan.own, line, to) if bucket is not None)
        else:
            for bucket in route:
                bucket.fill(now)
        return route

    def _covers(self, takes: list[tuple[Bucket, int]], counted: dict[str, int],
                known: dict[str, Bucket | None], scope: str, prefix: str,
                limits: dict[str, Limit], now: float) -> bool:
        """Whether each key's bucket holds its count of the batch (noted in ``takes``);
        ``known``: the buckets by key found so far under this limit book."""
        for key, n in counted.items():
            if key in known:
                bucket = known[key]
                if bucket is not None:
                    bucket.fill(now)
            else:
                bucket = known[key] = self._bucket(scope, prefix + key, limits, now)
            if bucket is not None:
                if bucket.tokens < n:
                    return False
                takes.append((bucket, n))
        return True

    def _each(self, submits: list[Submit], account: str, book: LimitBook, now: float,
              own: Bucket | None, operators: list[str] | None, segments: list[int] | None,
              quota: float | None) -> tuple[list[Submit], Refused, int]:
        """Some bucket or the quota runs out within the batch: submit by submit."""
        by_source: dict[str, tuple[Bucket, ...]] = {}
        by_operator: dict[str, Bucket | None] = {}
        accepted: list[Submit] = []
        refused: Refused = []
        counted = 0
        for i, submit in enumerate(submits):
            source = submit.source_addr
            buckets = by_source.get(source)
            if buckets is None:
                line = self._bucket("line", source, book.lines, now)
                buckets = by_source[source] = tuple(b for b in (own, line) if b is not None)
            if operators is not None:
                operator = operators[i]
                if operator not in by_operator:
                    by_operator[operator] = self._bucket(
                        "operator", operator_key(account, operator), book.operators, now)
                extra = by_operator[operator]
                if extra is not None:
                    buckets = (*buckets, extra)
            if _blocked(buckets):
                refused.append((submit, _THROTTLED))
                continue
            if quota is not None:
                parts = 1 if segments is None else segments[i]
                if parts > quota:
                    refused.append((submit, _QUOTA))
                    continue
                quota -= parts
                counted += parts
            for b in buckets:
                b.tokens -= 1.0
            accepted.append(submit)
        return accepted, refused, counted

    def release(self, submits: list[Submit], snapshot: Snapshot) -> None:
        """Submits this stage let through but a later stage refused: give back what
        they took."""
        book = snapshot.limits
        account = snapshot.account
        limit = book.accounts.get(account)
        with_ops = account in self._op_accounts
        counted = 0
        for submit in submits:
            for key in self._keys(submit, account, with_ops):
                bucket = self.buckets.get(key)
                if bucket is not None:
                    bucket.tokens = min(bucket.size, bucket.tokens + 1.0)
            if limit is not None and (limit.daily or limit.monthly):
                counted += segments_of(submit)
        if counted:
            self.quotas.add(account, snapshot.wall, -counted)

    def fill_ratio(self, account: str) -> float:
        """How full the account's bucket is (1.0 without one): for congestion_state."""
        bucket = self.buckets.get(("account", account))
        return bucket.fill_ratio if bucket is not None else 1.0

    def flush(self) -> None:
        pending = self.quotas.take_pending()
        if pending and self._writer is not None:
            self._writer.submit("quota usage", lambda s: s.limits.add_usage(pending))
