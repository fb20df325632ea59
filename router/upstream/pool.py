"""The carrier connections that drain the outbound queue.

Whenever messages wait or a window opens, each ready connection takes what its window
and its pace allow (``Connector.sendable``), round-robin over the connections.  What
carriers answer goes to dispatch's ``CarrierReports`` a read batch at a time; the pool
keeps no message of its own.
"""

from __future__ import annotations

import asyncio

from router.dispatch.outbound import Outbound
from router.dispatch.ports import CarrierReports
from router.tls import ClientTls
from router.upstream.connector import Connector
from router.upstream.settings import UpstreamSettings


class Pool:
    def __init__(self, outbound: Outbound, reports: CarrierReports) -> None:
        self._outbound = outbound
        self._reports = reports
        self.connectors: list[Connector] = []
        self.tls: dict[str, ClientTls] = {}
        """Per upstream name: the TLS context its connections open with (SIGHUP reloads)."""
        self._turn = 0
        outbound.attach(self)

    def add_upstream(self, settings: UpstreamSettings) -> None:
        tls = None
        if settings.tls:
            tls = self.tls[settings.name] = ClientTls(
                settings.tls_ca, settings.tls_server_name or settings.host)
        for i in range(settings.connections):
            self.connectors.append(Connector(f"{settings.name}#{i}", settings, self._reports,
                                             self, tls))

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
        connectors = self.connectors
        n_conn = len(connectors)
        for i in range(n_conn):
            connector = connectors[(self._turn + i) % n_conn]
            free = connector.sendable()
            if free > 0:
                connector.send(outbound.take(free))
                if not outbound.queued:
                    break
        self._turn += 1

    def lowest_in_flight(self) -> int | None:
        lowest: int | None = None
        for connector in self.connectors:
            for message in connector.in_flight():
                if lowest is None or message.id < lowest:
                    lowest = message.id
        return lowest
