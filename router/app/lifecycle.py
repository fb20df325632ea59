"""Starts the parts in order and stops them in reverse.

Start: journal (and what the last run left) -> policy -> queues -> carriers (or the
built-in simulator) -> re-dispatch of unfinished messages -> listener.
SIGTERM: stop accepting, let in-flight batches commit and be answered, unbind every
ESME, give queued messages ``shutdown_timeout`` to reach a carrier, unbind carriers,
close the journal.  A second signal exits at once (the journal is already committed).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal

import structlog

from router.app.build import Parts, build
from router.app.changes import RegistryWatcher
from router.config import Config
from router.server.esme import EsmeConnection
from router.upstream.settings import UpstreamSettings
from router.upstream.simulator import Simulator

log = structlog.get_logger("chapar")


class App:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.port = 0
        self._stop = asyncio.Event()
        self.parts: Parts | None = None
        self._server: asyncio.Server | None = None
        self._simulator: Simulator | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        parts = self.parts = build(cfg)
        pool = parts.pool
        if cfg.simulator.enabled:
            self._simulator = Simulator(cfg.simulator)
            port = await self._simulator.start()
            pool.add_upstream(UpstreamSettings(name="simulator", host=cfg.simulator.host,
                                               port=port))
        for upstream in cfg.upstreams:
            pool.add_upstream(upstream)
        pool.start()
        if parts.recovery.pending:
            log.info("redispatching", messages=len(parts.recovery.pending))
            parts.outbound.put(parts.recovery.pending)
        policy = parts.policy
        self._watcher = loop.create_task(RegistryWatcher(
            policy.registry, policy.auth, parts.state, policy.lines, policy.rules,
            policy.pipeline).run())
        hosts = [h.strip() for h in cfg.listen.host.split(",") if h.strip()]
        self._server = await loop.create_server(
            lambda: EsmeConnection(parts.state, cfg.smpp, policy.auth, policy.pipeline,
                                   parts.intake, parts.inbound),
            hosts if len(hosts) > 1 else hosts[0], cfg.listen.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("listening", host=cfg.listen.host, port=self.port, pid=os.getpid(),
                 journal=str(parts.journal.path), upstreams=[c.name for c in pool.connectors])
        # What exists now lives as long as the process: keep the collector off it, and
        # collect the young generation less often (full collections paused the loop for
        # up to 63 ms under load with the defaults).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 100)

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
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.stop()

    async def stop(self) -> None:
        log.info("stopping")
        timeout = self.config.dispatch.shutdown_timeout
        if self._server is not None:
            self._server.close()
        parts = self.parts
        if parts is not None:
            parts.intake.flush()  # answer what is already accepted before unbinding
            connections = list(parts.state.connections)
            for conn in connections:
                conn.start_unbind()
            if connections:
                await asyncio.wait([c.closed for c in connections], timeout=timeout)
                for conn in connections:
                    conn.close_now()
            if parts.outbound.queued and parts.pool.ready:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(parts.outbound.empty.wait(), timeout)
            await parts.pool.stop(timeout)
            parts.intake.close()
        if self._simulator is not None:
            await self._simulator.stop()
        if self._watcher is not None:
            self._watcher.cancel()
        if parts is not None:
            policy = parts.policy
            policy.auth.close()
            policy.registry.close()
            policy.pipeline.flush()
            policy.writer.close()
            policy.lines.close()
            parts.journal.close()
        log.info("stopped", queued_left=parts.outbound.queued if parts else 0)
