"""Starts the parts in order and stops them in reverse.

Start: journal (and what the last run left) -> policy -> queues -> carriers (or the
built-in simulator) -> re-dispatch of unfinished messages -> listener.
SIGTERM: stop accepting, let in-flight batches commit and be answered, unbind every
ESME while queued messages go to a carrier, unbind carriers, close the journal: all
within ``shutdown_timeout``.  A second signal exits at once (the journal is already
committed).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from router import config as config_mod
from router.admin.server import AdminServer
from router.app.build import (
    Parts,
    admin_sources,
    apply_routes,
    build,
    http_sources,
    route_table,
    webhooks,
)
from router.app.changes import RegistryWatcher
from router.app.dealing import Dealt
from router.app.held import apply_decisions
from router.app.workers import WorkerSlot
from router.config import Config, ConfigError
from router.http_api.server import HttpApiServer
from router.http_api.webhooks import Webhooks
from router.policy.shared import GIVE_BACK_WAIT
from router.server.esme import EsmeConnection
from router.timer import within
from router.tls import ClientTls, ServerTls
from router.upstream.routing import RouteError, RouteTable, fill_addresses
from router.upstream.settings import UpstreamSettings
from router.upstream.simulator import Simulator

log = structlog.get_logger("chapar")
ESME_SHARE = 0.5
"""ESMEs get this share of ``shutdown_timeout`` to answer the unbind."""
CARRIER_SHARE = 0.2
CARRIER_SHARE_MAX = 2.0
"""The carriers' settle and unbind keep this share of the timeout (at most this many s)."""
SUPERVISOR_CHECK = 0.5
"""Seconds between a worker's looks at whether its supervisor still runs."""


class App:
    def __init__(self, config: Config, slot: WorkerSlot | None = None,
                 path: Path | None = None) -> None:
        """``slot``: this process is one of ``chapar run --workers N`` (app/workers.py);
        ``path``: the config file SIGHUP reads the routing table (and new upstreams) from."""
        self.config = config
        self.slot = slot
        self.path = path
        self.port = 0
        self.tls_port = 0
        self._tls: ServerTls | None = None
        self._servers: list[asyncio.Server | Dealt] = []
        self._stop = asyncio.Event()
        self.parts: Parts | None = None
        self._simulator: Simulator | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._supervised: asyncio.Task[None] | None = None
        self._held: asyncio.Task[None] | None = None
        self._shared: asyncio.Task[None] | None = None
        self._handoff: asyncio.Task[None] | None = None
        self.admin: AdminServer | None = None
        self.http_api: HttpApiServer | None = None
        self.webhooks: Webhooks | None = None
        self.routes: RouteTable | None = None
        """The routing table in use (SIGHUP swaps it): the admin API and explain read it."""

    async def start(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        ids_slot = (self.slot.index, self.slot.count) if self.slot else (0, 1)
        parts = self.parts = build(cfg, ids_slot)
        self.webhooks = webhooks(cfg, parts)
        if self.webhooks is not None:  # before the carriers: no receipt goes elsewhere
            await self.webhooks.start()
        pool = parts.pool
        if cfg.simulator.enabled:
            self._simulator = Simulator(cfg.simulator)
            port = await self._simulator.start()
            pool.add_upstream(UpstreamSettings(name="simulator", host=cfg.simulator.host,
                                               port=port))
        for upstream in cfg.upstreams:
            pool.add_upstream(upstream)
        table = self.routes = apply_routes(cfg, parts)
        log.info("routes_loaded", rules=len(table.rules), groups=sorted(table.groups))
        pool.start()
        parts.outbound.start_sweeps()
        if parts.records is not None:
            parts.records.start()
        if parts.recovery.pending:
            log.info("redispatching", messages=len(parts.recovery.pending))
            fill_addresses(parts.recovery.pending)
            parts.outbound.put(parts.recovery.pending)
        policy = parts.policy
        watcher = RegistryWatcher(policy, parts.state)
        self._watcher = loop.create_task(watcher.run())
        if policy.shared is not None:
            await policy.shared.tick()  # lease before the first bind when Redis is up
            self._shared = loop.create_task(policy.shared.run())
        if parts.handoff is not None:
            self._handoff = loop.create_task(parts.handoff.run())
        self._held = loop.create_task(apply_decisions(
            cfg.store.journal(), parts.intake, parts.outbound, parts.book, parts.inbound))
        hosts = [h.strip() for h in cfg.listen.host.split(",") if h.strip()]
        where = hosts if len(hosts) > 1 else hosts[0]

        def connection() -> EsmeConnection:
            return EsmeConnection(parts.state, cfg.smpp, policy.auth, policy.pipeline,
                                  parts.intake, parts.inbound, parts.services)

        await self._listen(connection, where)
        slot = self.slot
        if cfg.admin.enabled:
            self.admin = AdminServer(cfg.admin, admin_sources(cfg, parts, watcher,
                                                              lambda: self.routes))
            await self.admin.start()
        if cfg.http_api.enabled:
            sources = http_sources(cfg, parts)
            watcher.api_keys = sources.keys
            self.http_api = HttpApiServer(sources)
            await self.http_api.start()
        log.info("listening", host=cfg.listen.host, port=self.port, tls_port=self.tls_port,
                 pid=os.getpid(), worker=slot.index if slot else None,
                 journal=str(parts.journal.path), upstreams=[c.name for c in pool.connectors])
        # What exists now lives as long as the process: keep the collector off it, and
        # collect the young generation less often (full collections paused the loop for
        # up to 63 ms under load with the defaults).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 100)

    async def _listen(self, connection: Callable[[], EsmeConnection],
                      where: str | list[str]) -> None:
        """The SMPP ports (and TLS's): listened on, or dealt by the supervisor."""
        cfg, slot = self.config, self.slot
        tls: dict[str, Any] = {}
        if cfg.listen.tls_port:
            self._tls = ServerTls(cfg.listen.tls_cert, cfg.listen.tls_key)
            tls = {"ssl": self._tls.context,
                   "ssl_handshake_timeout": cfg.listen.tls_handshake_timeout}
        if slot is not None and slot.link_fd is not None:  # --share deal
            self._servers.append(Dealt(socket.socket(fileno=slot.link_fd), connection, tls))
            self.port, self.tls_port = cfg.listen.port, cfg.listen.tls_port
            return
        self.port = await self._serve(connection, where, cfg.listen.port,
                                      slot.plain_fds if slot else ())
        if tls:
            self.tls_port = await self._serve(connection, where, cfg.listen.tls_port,
                                              slot.tls_fds if slot else (), **tls)

    async def _serve(self, connection: Callable[[], EsmeConnection], where: str | list[str],
                     port: int, fds: tuple[int, ...], **tls: Any) -> int:
        """Listen on ``port`` (SO_REUSEPORT when a worker shares it so), or accept on the
        sockets the supervisor handed down; the port listened on."""
        loop = asyncio.get_running_loop()
        if fds:
            servers = [await loop.create_server(connection, sock=socket.socket(fileno=fd),
                                                **tls) for fd in fds]
        else:
            shared = self.slot is not None and self.slot.share == "reuseport"
            servers = [await loop.create_server(
                connection, where, port, reuse_address=True, reuse_port=shared or None,
                **tls)]
        self._servers += servers
        bound: int = servers[-1].sockets[0].getsockname()[1]
        return bound

    def reload_tls(self) -> None:
        """SIGHUP: read every certificate and CA file again.  One that fails to load is
        logged and keeps what it had; connections already up keep their session."""
        held: list[tuple[str, ServerTls | ClientTls]] = []
        if self._tls is not None:
            held.append(("listener", self._tls))
        if self.admin is not None and self.admin.tls is not None:
            held.append(("admin", self.admin.tls))
        if self.parts is not None:
            held += [(f"upstream {name}", tls) for name, tls in self.parts.pool.tls.items()]
        reloaded = []
        for what, tls in held:
            try:
                tls.reload()
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                log.error("tls_reload_failed", what=what, error=str(exc),
                          note="the certificates in use stay")
            else:
                reloaded.append(what)
        log.info("tls_reloaded", reloaded=reloaded)

    def reload(self) -> None:
        """SIGHUP: certificates, then the routing table and new upstreams."""
        self.reload_tls()
        self.reload_routes()

    def reload_routes(self) -> None:
        """The config file's ``routing`` (and ``upstreams`` not running yet) applied
        without closing a session: what waits is routed again by the new table.  A file
        that does not load or a table that does not compile keeps the one in use."""
        parts = self.parts
        if self.path is None or parts is None:
            return
        try:
            config = config_mod.load(self.path)
            pool = parts.pool
            new = [u for u in config.upstreams if u.name not in pool.upstreams]
            known = [*pool.upstreams, *(u.name for u in new)]
            route_table(config, parts.policy, known)  # compiles, or raises: nothing changed
        except (ConfigError, RouteError) as exc:
            log.error("routes_reload_failed", error=str(exc), note="the routes in use stay")
            return
        started = []
        for upstream in new:
            started += pool.add_upstream(upstream)
        table = self.routes = apply_routes(config, parts)
        for connector in started:
            connector.start()
        self.config = dataclasses.replace(self.config, routing=config.routing,
                                          upstreams=(*self.config.upstreams, *new))
        log.info("routes_reloaded", rules=len(table.rules), groups=sorted(table.groups),
                 new_upstreams=[u.name for u in new])

    def request_stop(self) -> None:
        if self._stop.is_set():
            log.warning("forced_exit")
            os._exit(1)
        self._stop.set()

    async def run(self) -> None:
        """Start, serve until SIGTERM/SIGINT, then stop cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        try:
            await self.start()
            if self.slot is not None and self.slot.supervisor is not None:
                self._supervised = loop.create_task(self._watch_supervisor(self.slot.supervisor))
            await self._stop.wait()
        finally:
            await self.stop()

    async def _watch_supervisor(self, pid: int) -> None:
        """A worker whose supervisor is gone (killed with -9, it cannot stop them) drains
        and exits: left running, it would hold its journal against the worker the next
        start makes of it, and with a shared port take that start's connections."""
        while os.getppid() == pid:
            await asyncio.sleep(SUPERVISOR_CHECK)
        log.warning("supervisor_gone", supervisor=pid, note="draining and exiting")
        self._stop.set()

    async def stop(self) -> None:
        """The drain, within ``dispatch.shutdown_timeout`` all told: one deadline shared by
        the phases.  ESMEs unbind while queued messages go to the carriers; the carriers
        keep the last share of the budget (CARRIER_SHARE, at most CARRIER_SHARE_MAX s) to
        settle and unbind.  What does not make it stays in the journal for the next start."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        timeout = self.config.dispatch.shutdown_timeout
        deadline = began + timeout
        log.info("stopping", shutdown_timeout=timeout)
        for server in self._servers:
            server.close()
        if self.admin is not None:
            await self.admin.stop()
        if self.http_api is not None:
            await self.http_api.stop()
        if self.webhooks is not None:
            await self.webhooks.close()
        parts = self.parts
        if parts is not None:
            parts.intake.flush()  # answer what is already accepted before unbinding
            carriers_from = deadline - min(timeout * CARRIER_SHARE, CARRIER_SHARE_MAX)
            await asyncio.gather(self._unbind_esmes(parts, began + timeout * ESME_SHARE),
                                 self._drain_queue(parts, carriers_from))
            await self._stop_handoff(parts)  # what the ESMEs took, closed at its origin
            parts.intake.store_queued()  # their carriers are answered before the unbind
            await self._unbind_carriers(parts, deadline)
            parts.intake.close()
            await self._give_back(parts)
        if self._simulator is not None:
            await self._simulator.stop()
        for task in (self._watcher, self._supervised):
            if task is not None:
                task.cancel()
        if self._held is not None:
            self._held.cancel()
        if parts is not None:
            self._close_stores(parts)
        elapsed = loop.time() - began
        log.info("stopped", queued_left=parts.outbound.queued if parts else 0,
                 seconds=round(elapsed, 3))

    @staticmethod
    async def _unbind_esmes(parts: Parts, until: float) -> None:
        """Unbind every ESME; close those that have not answered by ``until`` (an ESME
        that does not read its socket would otherwise hold the drain for the session's
        unbind timeout)."""
        connections = list(parts.state.connections)
        for conn in connections:
            conn.start_unbind()
        if connections:
            wait = max(0.0, until - asyncio.get_running_loop().time())
            _, late = await asyncio.wait([c.closed for c in connections], timeout=wait)
            if late:
                log.warning("esmes_not_unbound", sessions=len(late), waited=round(wait, 3))
            for conn in connections:
                conn.close_now()

    @staticmethod
    async def _drain_queue(parts: Parts, until: float) -> None:
        """Give queued messages until ``until`` to reach a carrier (if one is up)."""
        if parts.outbound.queued and parts.pool.ready:
            wait = max(0.0, until - asyncio.get_running_loop().time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(parts.outbound.empty.wait(), wait)
            if parts.outbound.queued:
                log.warning("shutdown_timeout_reached", queued_left=parts.outbound.queued,
                            note="left in the journal; sent after the next start")

    @staticmethod
    async def _unbind_carriers(parts: Parts, deadline: float) -> None:
        """Every carrier at once, each with half of what is left for its outstanding
        answers and half for its unbind_resp (``Connector.stop`` waits for each at most
        the time it is given), so the carriers end by ``deadline`` however many."""
        left = max(0.0, deadline - asyncio.get_running_loop().time())
        await parts.pool.stop(left / 2)

    async def _stop_handoff(self, parts: Parts) -> None:
        if parts.handoff is not None:
            await parts.handoff.close(self._handoff)

    async def _give_back(self, parts: Parts) -> None:
        """Nothing is reserved any more: what this process holds goes back to Redis."""
        if self._shared is not None:
            self._shared.cancel()
            try:  # a Redis client that swallowed the cancel cannot hold the stop
                await within(self._shared, GIVE_BACK_WAIT)
            except asyncio.CancelledError:
                pass
            except TimeoutError:
                log.warning("shared_tick_not_ended", waited=GIVE_BACK_WAIT)
        if parts.policy.shared is not None:
            await parts.policy.shared.close()

    @staticmethod
    def _close_stores(parts: Parts) -> None:
        policy = parts.policy
        policy.auth.close()
        policy.registry.close()
        policy.pipeline.flush()
        policy.writer.close()
        policy.lines.close()
        policy.limits.close()
        parts.services.operations.close()
        problem = parts.journal.close()
        if parts.records is not None:
            parts.records.close()
        if problem is not None:
            # Everything acknowledged was committed before its ESME_ROK; the stop is
            # still clean, so it is said here, once, and the exit status stays 0.
            log.error("journal_close_failed", error=problem,
                      note="the journal could not take its last write (disk full?); "
                      "nothing acknowledged is lost, messages without a recorded carrier "
                      "answer are sent again after the next start")
