"""``chapar run --workers N``: a supervisor and N worker processes (design.md §3.7).

The supervisor starts the workers and keeps them: one that dies is started again after
a backoff (0.5 s doubling to 30 s; a worker that lived a minute starts the count again),
SIGHUP is passed to every worker (certificates reloaded), SIGTERM or SIGINT drains them
all (each its own shutdown) and the supervisor exits 0 when they all did.

The ports are shared one of three ways (``--share``): ``deal`` (default), the supervisor
accepts and deals each connection to the workers in turn (``dealing.py``: even, where
the others leave it to chance); ``reuseport``, each worker binds the port itself with
SO_REUSEPORT and the kernel spreads new connections over the workers by a hash of the
peer's address and port; ``inherit``, the supervisor binds and listens and the workers
accept from the one inherited socket (whichever wakes first).
Each worker has a journal of its own (``chapar.w0.db``, ``chapar.w1.db``…, or with
PostgreSQL the schema ``chapar_w0``, ``chapar_w1``…; a restarted worker replays its own)
and its admin API on ``admin.port + index``; the registry is shared (SQLite in WAL mode,
or PostgreSQL's default schema: a change made by the CLI reaches every worker).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType
from typing import Literal

import structlog

from router.app import layout
from router.app.dealing import LINK_ENV, Dealer
from router.config import Config
from router.store.settings import worker_path, worker_schema

log = structlog.get_logger("chapar.workers")

Share = Literal["reuseport", "inherit", "deal"]
FDS_ENV = "CHAPAR_WORKER_FDS"
SUPERVISOR_ENV = "CHAPAR_SUPERVISOR"
"""How a worker finds the inherited sockets: ``plain=5,6;tls=7``."""
BACKOFF_FIRST, BACKOFF_MAX, HEALTHY_AFTER = 0.5, 30.0, 60.0


@dataclass(frozen=True, slots=True)
class WorkerSlot:
    """What a worker process knows of its place."""

    index: int
    count: int
    share: Share
    plain_fds: tuple[int, ...] = ()
    tls_fds: tuple[int, ...] = ()
    link_fd: int | None = None
    """``deal``: the worker's end of its link to the supervisor."""
    supervisor: int | None = None
    """The supervisor's pid: a worker whose parent is no longer it drains and exits."""

    @classmethod
    def parse(cls, spec: str, share: Share) -> WorkerSlot:
        """``I/N`` from the command line, the inherited sockets from the environment."""
        index, _, count = spec.partition("/")
        slot = cls(int(index), int(count), share)
        fds: dict[str, tuple[int, ...]] = {}
        for part in filter(None, os.environ.get(FDS_ENV, "").split(";")):
            name, _, numbers = part.partition("=")
            fds[name] = tuple(int(n) for n in numbers.split(",") if n)
        link = os.environ.get(LINK_ENV)
        supervisor = os.environ.get(SUPERVISOR_ENV)
        return dataclasses.replace(slot, plain_fds=fds.get("plain", ()),
                                   tls_fds=fds.get("tls", ()),
                                   supervisor=int(supervisor) if supervisor else None,
                                   link_fd=int(link) if link else None)


def for_worker(config: Config, index: int, count: int | None = None) -> Config:
    """Worker ``index``'s (of ``count``) config: its own journal and records (files, or a
    PostgreSQL schema) and admin port (records follow one journal: their cursor is that
    journal's); worker 0 also counts the ledgers of the config's own journal and (with
    ``count``) of the worker journals beyond it (app/layout.py)."""
    own = config.store.journal_schema if config.store.backend == "postgres" else config.store.path
    first = index == 0
    retired = layout.retired(config.store, count) if first and count is not None else ()
    store = dataclasses.replace(config.store, path=worker_path(config.store.path, index),
                                journal_schema=worker_schema(config.store.journal_schema,
                                                             index),
                                front=own if first else None,
                                retired=retired)
    records = dataclasses.replace(config.records,
                                  path=worker_path(config.records.path, index))
    admin = dataclasses.replace(config.admin, port=config.admin.port + index
                                if config.admin.port else 0)
    return dataclasses.replace(config, store=store, records=records, admin=admin)


def with_retired(config: Config, count: int) -> Config:
    """``chapar run`` (``count`` 1) counts the ledgers of every worker journal."""
    store = dataclasses.replace(config.store, retired=layout.retired(config.store, count))
    return dataclasses.replace(config, store=store)


def count_of(text: str) -> int:
    """``--workers``: a number from 1, or ``auto`` (the CPUs this process may use)."""
    if text == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise ValueError(f"--workers: a number from 1 to 256, or auto (not {text!r})")
    return int(text)


def _listen(config: Config, port: int) -> list[socket.socket]:
    hosts = [h.strip() for h in config.listen.host.split(",") if h.strip()]
    sockets = []
    for host in hosts:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family, backlog=1024,
                                    reuse_port=False)
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


class Supervisor:
    def __init__(self, config: Config, argv: list[str], count: int, share: Share) -> None:
        """``argv``: how to start ``chapar run`` with this config (``--worker I/N`` is
        added)."""
        self._config = config
        self._argv = argv
        self._count = count
        self._share = share
        self._sockets: dict[str, list[socket.socket]] = {}
        self._workers: dict[int, subprocess.Popen[bytes]] = {}
        self._started: dict[int, float] = {}
        self._backoff: dict[int, float] = {}
        self._due: dict[int, float] = {}
        self._stopping = False
        self._hup = False
        self._dealer: Dealer | None = None

    def _environment(self, link: socket.socket | None) -> dict[str, str]:
        env = dict(os.environ)
        env[SUPERVISOR_ENV] = str(os.getpid())
        if link is not None:  # deal: the sockets stay with the supervisor
            env[LINK_ENV] = str(link.fileno())
            return env
        parts = [f"{name}={','.join(str(s.fileno()) for s in socks)}"
                 for name, socks in self._sockets.items()]
        env[FDS_ENV] = ";".join(parts)
        return env

    def _spawn(self, index: int) -> None:
        link = self._dealer.link(index) if self._dealer is not None else None
        fds = [link.fileno()] if link is not None else [
            s.fileno() for socks in self._sockets.values() for s in socks]
        proc = subprocess.Popen(
            [*self._argv, "--worker", f"{index}/{self._count}", "--share", self._share],
            pass_fds=fds, env=self._environment(link))
        if link is not None:
            link.close()  # the worker has it
        self._workers[index] = proc
        self._started[index] = time.monotonic()
        log.info("worker_started", worker=index, pid=proc.pid)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._hup = True
        else:
            self._stopping = True

    def run(self) -> int:
        cfg = self._config
        if self._share != "reuseport":
            self._sockets["plain"] = _listen(cfg, cfg.listen.port)
            if cfg.listen.tls_port:
                self._sockets["tls"] = _listen(cfg, cfg.listen.tls_port)
        if self._share == "deal":
            self._dealer = Dealer(self._sockets)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        log.info("supervisor_started", workers=self._count, share=self._share,
                 pid=os.getpid())
        for index in range(self._count):
            self._spawn(index)
        if self._dealer is not None:  # every worker has a link: none is dropped
            self._dealer.start()
        while not self._stopping:
            self._tick()
            time.sleep(0.1)
        return self._drain()

    def _tick(self) -> None:
        if self._hup:
            self._hup = False
            for proc in self._workers.values():
                proc.send_signal(signal.SIGHUP)
            log.info("workers_reloading", workers=len(self._workers))
        now = time.monotonic()
        for index, proc in list(self._workers.items()):
            code = proc.poll()
            if code is None:
                continue
            del self._workers[index]
            if self._dealer is not None:
                self._dealer.unlink(index)
            lived = now - self._started[index]
            delay = BACKOFF_FIRST if lived >= HEALTHY_AFTER else min(
                self._backoff.get(index, BACKOFF_FIRST / 2) * 2, BACKOFF_MAX)
            self._backoff[index] = delay
            self._due[index] = now + delay
            log.warning("worker_died", worker=index, pid=proc.pid, code=code,
                        lived=round(lived, 1), restart_in=delay)
        for index, due in list(self._due.items()):
            if now >= due:
                del self._due[index]
                self._spawn(index)

    def _drain(self) -> int:
        """SIGTERM to every worker; each drains within its shutdown timeout."""
        log.info("supervisor_stopping", workers=len(self._workers))
        if self._dealer is not None:
            self._dealer.stop()  # no new connection; the workers drain theirs
        for proc in self._workers.values():
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._config.dispatch.shutdown_timeout + 10
        codes = {}
        for index, proc in self._workers.items():
            try:
                codes[index] = proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[index] = proc.wait()
        for socks in self._sockets.values():
            for sock in socks:
                sock.close()
        failed = {i: c for i, c in codes.items() if c != 0}
        log.info("supervisor_stopped", workers=len(codes), failed=failed)
        return 1 if failed else 0


def run_supervisor(config: Config, config_path: str | None, count: int, share: Share) -> int:
    argv = [sys.executable, "-m", "router.cli", "run"]
    if config_path is not None:
        argv += ["--config", config_path]
    return Supervisor(config, argv, count, share).run()
