"""Builds Chapar from its config, starts the parts in order and stops them in reverse.

Start: journal (and what the last run left) -> receipt relay -> dispatch pool and
carriers (or the built-in simulator) -> re-dispatch of unfinished messages -> listener.
SIGTERM: stop accepting, let in-flight batches commit and be answered, unbind every
ESME, give queued messages ``shutdown_timeout`` to reach a carrier, unbind carriers,
close the journal.  A second signal exits at once (the journal is already committed).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from pathlib import Path

import structlog

from router.app.seed import seed_registry
from router.config import Config
from router.dlr.relay import ReceiptRelay
from router.model.lines import Line, LineBook
from router.model.messages import Outcome
from router.policy.auth import Authenticator
from router.policy.lists import ListRegistry
from router.policy.mo import MoHandler
from router.policy.numbers import Operators
from router.policy.pipeline import Pipeline
from router.server.changes import RegistryWatcher
from router.server.esme import EsmeConnection, ServerState
from router.server.intake import Intake
from router.store.ids import MessageIds
from router.store.journal import SqliteJournal
from router.store.lines import LineStore
from router.store.registry import Registry
from router.store.writer import RegistryWriter
from router.upstream.pool import Pool
from router.upstream.settings import UpstreamSettings
from router.upstream.simulator import Simulator

log = structlog.get_logger("chapar")


class App:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.port = 0
        self.state = ServerState()
        self._stop = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._simulator: Simulator | None = None
        self._journal: SqliteJournal | None = None
        self._intake: Intake | None = None
        self._pool: Pool | None = None
        self._auth: Authenticator | None = None
        self._registry: Registry | None = None
        self._lines: LineStore | None = None
        self._writer: RegistryWriter | None = None
        self._pipeline: Pipeline | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        journal = self._journal = SqliteJournal(Path(cfg.store.path), cfg.store.durability)
        journal.start_checkpoints()
        recovery = journal.recover(cfg.dispatch.receipt_wait)
        relay = ReceiptRelay(cfg.dispatch.receipt_queue_limit,
                             max_attempts=cfg.dispatch.max_attempts, call_later=loop.call_later)
        for carrier_id, message_id, account in recovery.delivered_to_carrier:
            relay.remember(carrier_id, message_id, account)
        auth, pipeline, mo = self._open_policy(relay)

        def record(outcomes: list[Outcome]) -> None:
            assert self._intake is not None
            self._intake.record_outcomes(outcomes)

        pool = self._pool = Pool(cfg.dispatch, relay, record, self._pressure, loop.call_later,
                                 mo.on_mo)
        intake = self._intake = Intake(journal, MessageIds(recovery.last_id), pool)
        if cfg.simulator.enabled:
            sim = cfg.simulator
            self._simulator = Simulator(sim)
            port = await self._simulator.start()
            pool.add_upstream(UpstreamSettings(name="simulator", host=sim.host, port=port))
        for upstream in cfg.upstreams:
            pool.add_upstream(upstream)
        pool.start()
        if recovery.pending:
            log.info("redispatching", messages=len(recovery.pending))
            pool.enqueue(recovery.pending)

        assert self._registry is not None and self._lines is not None
        self._watcher = loop.create_task(RegistryWatcher(
            self._registry, auth, self.state, self._lines, pipeline,
            self.flush_violations).run())
        hosts = [h.strip() for h in cfg.listen.host.split(",") if h.strip()]
        self._server = await loop.create_server(
            lambda: EsmeConnection(self.state, cfg.smpp, auth, pipeline, intake, relay),
            hosts if len(hosts) > 1 else hosts[0], cfg.listen.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("listening", host=cfg.listen.host, port=self.port, pid=os.getpid(),
                 journal=str(journal.path), upstreams=[c.name for c in pool.connectors])
        # What exists now lives as long as the process: keep the collector off it, and
        # collect the young generation less often (full collections paused the loop for
        # up to 63 ms under load with the defaults).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 100)

    def _open_policy(self, relay: ReceiptRelay) -> tuple[Authenticator, Pipeline, MoHandler]:
        """Accounts, ranges, lines and lists from the registry; the deciders built on them."""
        cfg = self.config
        registry = self._registry = Registry(Path(cfg.store.registry_path))
        lines = self._lines = LineStore(Path(cfg.store.registry_path))
        seed_registry(cfg, registry, lines)
        auth = self._auth = Authenticator(registry, cfg.auth, self.state.live_binds)
        for registered in registry.accounts():
            if registered.demo and registered.status == "active":
                log.warning("demo_account_enabled", system_id=registered.system_id,
                            note="embedded default; configure real accounts for production")
        if auth.ranges is None:
            log.warning("no_domestic_ranges", note="only accounts exempt from the domestic "
                        "check can bind; run `chapar ranges import FILE`")
        self._writer = RegistryWriter(lines.path)
        snapshot = lines.load_snapshot()
        pipeline = self._pipeline = Pipeline(
            LineBook(lines.lines()), ListRegistry(snapshot), cfg.policy,
            Operators.load(cfg.policy.prefix_folder()), self._line_violated)
        log.info("lines_loaded", lines=len(pipeline.lines.by_number),
                 blacklist=len(snapshot.blacklist), whitelists=len(snapshot.whitelists))
        mo = MoHandler(lambda: pipeline.lines, lambda: pipeline.lists, pipeline.number_of,
                       cfg.policy.optout_keywords, cfg.policy.optin_keywords,
                       self._persist_optout, relay.enqueue)
        return auth, pipeline, mo

    def _line_violated(self, line: Line) -> None:
        """A service line reached the violations threshold: demote or suspend it (the
        registry watcher then applies the change, like any operator change)."""
        assert self._writer is not None
        policy = self.config.policy
        status = "demoted" if policy.violations_action == "demote" else "suspended"
        reason = (f"{policy.violations_threshold} sends to non-customers within "
                  f"{policy.violations_window:g} s")
        log.warning("line_" + status, line=line.number, account=line.account, reason=reason)
        self._writer.submit(f"{status} line {line.number}", lambda store: store.update_line(
            line.number, status=status, status_reason=reason))

    def _persist_optout(self, line: str, number: int, opted_out: bool) -> None:
        assert self._writer is not None
        if opted_out:
            self._writer.submit(f"opt-out on {line}", lambda s: s.add_optout(line, number))
        else:
            self._writer.submit(f"opt-in on {line}", lambda s: s.remove_optout(line, number))

    def flush_violations(self) -> None:
        """Hand the counted violations to the writer (periodically and at stop)."""
        if self._pipeline is None or self._writer is None:
            return
        pending = self._pipeline.violations.take_pending()
        if pending:
            self._writer.submit("violations", lambda s: s.record_violations(pending))

    def _pressure(self, on: bool) -> None:
        self.state.paused = on
        for conn in self.state.connections:
            conn.pause_reading() if on else conn.resume_reading()

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
        if self._intake is not None:
            self._intake.flush()  # answer what is already accepted before unbinding
        connections = list(self.state.connections)
        for conn in connections:
            conn.start_unbind()
        if connections:
            await asyncio.wait([c.closed for c in connections], timeout=timeout)
            for conn in connections:
                conn.close_now()
        pool = self._pool
        if pool is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while pool.queued and loop.time() < deadline and any(c.ready for c in pool.connectors):
                await asyncio.sleep(0.02)
            await pool.stop()
        if self._intake is not None:
            self._intake.close()
        if self._simulator is not None:
            await self._simulator.stop()
        if self._watcher is not None:
            self._watcher.cancel()
        if self._auth is not None:
            self._auth.close()
        if self._registry is not None:
            self._registry.close()
        self.flush_violations()
        if self._writer is not None:
            self._writer.close()
        if self._lines is not None:
            self._lines.close()
        if self._journal is not None:
            self._journal.close()
        log.info("stopped", queued_left=pool.queued if pool else 0)
