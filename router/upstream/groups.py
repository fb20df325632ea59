"""Upstream groups: which of a group's carriers takes the messages routed to it.

failover: the first upstream that is up (a connection bound) takes everything its
windows allow; the next one only while those before it are down, and traffic returns
when the first is back (each change logged once).  round_robin: every connection of
every upstream up takes what its window allows, starting one further each time.
weighted: what waits goes to the upstream furthest behind its share of everything the
group has sent since the set of upstreams up last changed (the next one behind takes
what its windows cannot): one hand-over a batch, and the split stays within about a
batch of the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from router.dispatch.outbound import Outbound
from router.upstream.connector import Connector

log = structlog.get_logger("chapar.upstream")


@dataclass(slots=True)
class Upstream:
    """One configured carrier: its connections."""

    name: str
    connectors: list[Connector] = field(default_factory=list)
    sent: int = 0
    """Messages the routing gave it (weighted share accounting and the console)."""

    @property
    def ready(self) -> bool:
        return any(connector.ready for connector in self.connectors)


class Group:
    def __init__(self, name: str, strategy: str, upstreams: list[Upstream],
                 weights: tuple[int, ...] = ()) -> None:
        self.name = name
        self.strategy = strategy
        self.upstreams = upstreams
        self.weights = weights or tuple(1 for _ in upstreams)
        self._turn = 0
        self._active: str | None = ""
        """failover: the upstream taking the traffic (None: all down, "": not yet)."""
        self._ready: list[bool] = []
        """weighted: which upstreams were up at the last pump (shares count from then)."""
        self._shares: list[int] = []
        self._weight_sum = 0
        self._connectors = [c for u in upstreams for c in u.connectors]

    def add(self, upstream: Upstream) -> None:
        self.upstreams.append(upstream)
        self.weights = (*self.weights, 1)
        self._connectors += upstream.connectors

    def pump(self, outbound: Outbound, queue: str | None = None) -> None:
        """Messages waiting in ``queue`` (the group's own by default) to the carriers."""
        if queue is not None and queue != self.name:
            self._round_robin(outbound, queue)
        elif self.strategy == "failover":
            self._failover(outbound)
        elif self.strategy == "weighted":
            self._weighted(outbound)
        else:
            self._round_robin(outbound, self.name)

    def _round_robin(self, outbound: Outbound, name: str) -> None:
        connectors = self._connectors
        count = len(connectors)
        for i in range(count):
            connector = connectors[(self._turn + i) % count]
            free = connector.sendable()
            if free > 0:
                connector.send(outbound.take(free, name))
                if not outbound.queued_in(name):
                    break
        self._turn += 1

    def _failover(self, outbound: Outbound) -> None:
        for upstream in self.upstreams:
            if upstream.ready:
                if upstream.name != self._active:
                    log.warning("route_upstream_changed", group=self.name,
                                upstream=upstream.name, was=self._active or None)
                    self._active = upstream.name
                self._fill(upstream, outbound, 1 << 30)
                return
        if self._active is not None:
            log.warning("route_group_down", group=self.name,
                        upstreams=[u.name for u in self.upstreams])
            self._active = None

    def _weighted(self, outbound: Outbound) -> None:
        """What waits goes to the upstream furthest behind its share (then the next, if
        its windows cannot take it all): one hand-over a batch, as with round-robin, and
        the split within a batch of the weights over any run."""
        queued = outbound.queued_in(self.name)
        if not queued:
            return
        ready = [u.ready for u in self.upstreams]
        if ready != self._ready:  # shares count from this change
            self._ready = ready
            self._shares = [0] * len(ready)
            self._weight_sum = sum(w for w, r in zip(self.weights, ready, strict=True) if r)
        shares = self._shares
        total = sum(shares) + queued
        left = [i for i, r in enumerate(ready) if r]
        first = True
        while left:
            behind, gap = self._furthest_behind(left, total)
            # the one furthest behind may take it all; the next ones only what they lack of
            # their share (a full window holds its share back rather than give it away)
            limit = queued if first else -(gap // self._weight_sum)
            first = False
            if limit > 0:
                shares[behind] += self._fill(self.upstreams[behind], outbound, limit)
                queued = outbound.queued_in(self.name)
                if not queued:
                    return
            left.remove(behind)

    def _furthest_behind(self, left: list[int], total: int) -> tuple[int, int]:
        """The upstream (index) furthest behind its share of ``total``, and by how much:
        shares * sum of weights - total * weight (negative: behind)."""
        shares, weights, weight_sum = self._shares, self.weights, self._weight_sum
        behind, gap = -1, 0
        for i in left:
            mine = shares[i] * weight_sum - total * weights[i]
            if behind < 0 or mine < gap:
                behind, gap = i, mine
        return behind, gap

    def _fill(self, upstream: Upstream, outbound: Outbound, limit: int) -> int:
        """Up to ``limit`` messages of this group into the upstream's windows."""
        sent = 0
        connectors = upstream.connectors
        count = len(connectors)
        self._turn += 1
        for i in range(count):
            free = min(connectors[(self._turn + i) % count].sendable(), limit - sent)
            if free > 0:
                batch = outbound.take(free, self.name)
                if not batch:
                    break
                connectors[(self._turn + i) % count].send(batch)
                sent += len(batch)
                if sent >= limit:
                    break
        upstream.sent += sent
        return sent
