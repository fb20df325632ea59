"""The carrier connections that drain the outbound queue.

Whenever messages wait or a window opens, each upstream group with messages waiting
(the routing table put them there) gives them to its upstreams by its strategy
(upstream/groups.py); without a routing table there is one group, every connection
round-robin.  What carriers answer goes to dispatch's ``CarrierReports`` a read batch at
a time; the pool keeps no message of its own.
"""

from __future__ import annotations

import asyncio

from router.dispatch.outbound import Outbound
from router.dispatch.ports import CarrierReports
from router.tls import ClientTls
from router.upstream.connector import Connector
from router.upstream.groups import Group, Upstream
from router.upstream.routing import ALL
from router.upstream.settings import RoutingSettings, UpstreamSettings


class Pool:
    def __init__(self, outbound: Outbound, reports: CarrierReports) -> None:
        self._outbound = outbound
        self._reports = reports
        self.connectors: list[Connector] = []
        self.upstreams: dict[str, Upstream] = {}
        self.tls: dict[str, ClientTls] = {}
        """Per upstream name: the TLS context its connections open with (SIGHUP reloads)."""
        self._all = Group(ALL, "round_robin", [])
        self.groups: dict[str, Group] = {ALL: self._all}
        outbound.attach(self)

    def add_upstream(self, settings: UpstreamSettings) -> list[Connector]:
        tls = None
        if settings.tls:
            tls = self.tls[settings.name] = ClientTls(
                settings.tls_ca, settings.tls_server_name or settings.host)
        added = [Connector(f"{settings.name}#{i}", settings, self._reports, self, tls)
                 for i in range(settings.connections)]
        self.connectors += added
        upstream = self.upstreams[settings.name] = Upstream(settings.name, added)
        self._all.add(upstream)
        return added

    def set_groups(self, routing: RoutingSettings) -> None:
        """The routing table's groups (at start and on reload; shares start over)."""
        groups = {ALL: self._all}
        for group in routing.groups:
            groups[group.name] = Group(group.name, group.strategy,
                                       [self.upstreams[n] for n in group.upstreams],
                                       group.weights)
        self.groups = groups

    def start(self) -> None:
        for connector in self.connectors:
            connector.start()

    async def stop(self, timeout: float) -> None:
        """Every carrier at once: wait up to ``timeout`` for outstanding answers, unbind."""
        await asyncio.gather(*(c.stop(timeout) for c in self.connectors))

    @property
    def ready(self) -> bool:
        return any(c.ready for c in self.connectors)

    # --- Carriers (what the outbound queue calls) -----------------------------------

    def pump(self) -> None:
        outbound = self._outbound
        if not outbound.queued:
            return
        groups = self.groups
        for name in outbound.waiting_groups():
            group = groups.get(name)
            if group is not None:
                group.pump(outbound)
            else:  # a group no table names any more: every upstream takes them
                self._all.pump(outbound, name)

    def lowest_in_flight(self) -> int | None:
        lowest: int | None = None
        for connector in self.connectors:
            for message in connector.in_flight():
                if lowest is None or message.id < lowest:
                    lowest = message.id
        return lowest
