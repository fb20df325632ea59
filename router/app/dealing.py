"""``--share deal``: the supervisor accepts every connection and deals it to the workers
in turn, each over a Unix socket of its own (the descriptor passed with SCM_RIGHTS).

SO_REUSEPORT spreads connections by a hash of the peer's address and port, and a bulk
customer binds a handful of sessions: measured, four smppload connections to two
workers landed 3:1 in four runs of six, 2:2 in two (and 4:0 is 1 in 8), and a worker
holding three of four capped the pair at ~1.3x one worker.  Dealt in turn, four are 2:2
every time.  A worker that is gone or does not take its connection within ``SEND_WAIT``
is passed over for the next; the connection is closed only when no worker takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("chapar.workers")
LINK_ENV = "CHAPAR_WORKER_LINK"
"""How a worker finds its end of the link: a descriptor number."""
SEND_WAIT = 0.5
"""Seconds a worker's link may stay full before its connection goes to the next."""
_KINDS = {"plain": b"p", "tls": b"t"}


class Dealer:
    """The supervisor's side: a thread accepting on the listening sockets."""

    def __init__(self, listeners: dict[str, list[socket.socket]]) -> None:
        self._listeners = listeners
        self._links: dict[int, socket.socket] = {}
        self._turn = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def link(self, index: int) -> socket.socket:
        """A new link for worker ``index`` (started or restarted): the worker's end, to
        be inherited; the supervisor keeps the other."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        mine.settimeout(SEND_WAIT)
        theirs.set_inheritable(True)
        with self._lock:
            old = self._links.pop(index, None)
            self._links[index] = mine
        if old is not None:
            old.close()
        return theirs

    def unlink(self, index: int) -> None:
        with self._lock:
            link = self._links.pop(index, None)
        if link is not None:
            link.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._accepting, name="chapar-dealer",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for index in list(self._links):
            self.unlink(index)

    def _accepting(self) -> None:
        with selectors.DefaultSelector() as selector:
            for kind, socks in self._listeners.items():
                for sock in socks:
                    sock.setblocking(False)
                    selector.register(sock, selectors.EVENT_READ, kind)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.2):
                    listener: socket.socket = key.fileobj  # type: ignore[assignment]
                    with contextlib.suppress(BlockingIOError, InterruptedError):
                        conn, _ = listener.accept()
                        with conn:
                            self.deal(key.data, conn)

    def deal(self, kind: str, conn: socket.socket) -> None:
        """``conn`` to the next worker that takes it (the caller closes its copy)."""
        with self._lock:
            order = sorted(self._links.items())
            start = self._turn
            self._turn += 1
        for step in range(len(order)):
            index, link = order[(start + step) % len(order)]
            try:
                socket.send_fds(link, [_KINDS[kind]], [conn.fileno()])
            except OSError as exc:  # gone, or not reading: the next one
                log.warning("connection_not_dealt", worker=index, error=str(exc) or
                            type(exc).__name__)
                continue
            return
        log.error("connection_dropped", note="no worker took it", kind=kind)


class Dealt:
    """A worker's side: connections from the link served like accepted ones.  Stands
    where an ``asyncio.Server`` would (``close``)."""

    def __init__(self, link: socket.socket, connection: Callable[[], asyncio.Protocol],
                 tls: dict[str, Any]) -> None:
        self._link = link
        self._connection = connection
        self._tls = tls
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[Any]] = set()
        link.setblocking(False)
        self._loop.add_reader(link.fileno(), self._take)

    def _take(self) -> None:
        try:
            kinds, fds, _, _ = socket.recv_fds(self._link, 64, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.error("dealer_link_failed", error=str(exc))
            self.close()
            return
        if not kinds and not fds:  # the supervisor stops (or died): serve what is up
            log.info("dealer_closed", note="no new connections reach this worker")
            self.close()
            return
        for kind, fd in zip(kinds, fds, strict=False):
            conn = socket.socket(fileno=fd)
            extra = self._tls if kind == _KINDS["tls"][0] else {}
            task = self._loop.create_task(
                self._loop.connect_accepted_socket(self._connection, conn, **extra))
            self._tasks.add(task)
            task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("dealt_connection_failed", error=str(exc) or type(exc).__name__)

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._link.fileno())
        self._link.close()
