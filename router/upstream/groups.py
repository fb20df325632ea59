"""Upstream groups: which of a group's carriers takes the messages routed to it.

failover: the first upstream that is up (a connection bound) takes everything its
windows allow; the next one only while those before it are down, and traffic returns
when the first is back (each change logged once).  round_robin: every connection of
every upstream up takes what its window allows, starting one further each time.
weighted: each upstream up is allowed its share of everything the group has sent since
the set of upstreams up last changed (``ceil(total * weight / sum)`` minus what it
sent): the split holds within a window whatever the carriers' speeds, and a slow
upstream holds back the group rather than lose its share.
"""

from __future__ import annotations

import math
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
        return any(c.ready for c in self.connectors)


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
        self._up: tuple[str, ...] = ()
        self._shares: dict[str, int] = {}
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
        up = [(u, w) for u, w in zip(self.upstreams, self.weights, strict=True) if u.ready]
        names = tuple(u.name for u, _ in up)
        if names != self._up:  # shares count from the last change of who is up
            self._up = names
            self._shares = dict.fromkeys(names, 0)
        if not up:
            return
        shares = self._shares
        total = sum(shares.values()) + outbound.queued_in(self.name)
        weight_sum = sum(w for _, w in up)
        for upstream, weight in up:
            allowance = math.ceil(total * weight / weight_sum) - shares[upstream.name]
            if allowance > 0:
                shares[upstream.name] += self._fill(upstream, outbound, allowance)

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
