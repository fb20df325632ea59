"""A connection to PostgreSQL used from synchronous code: asyncpg on a loop of its own
thread, each call waited for with a deadline.

The journal's commit is synchronous on the router's loop (the ESMEs are answered after
it returns), exactly as SQLite's is; here the wait is for the server's answer.  While
the server is unreachable, calls fail at once (``StoreError``) and the link reconnects
in the background every ``retry`` seconds, so an outage costs refusals, never a stalled
loop; the first call after it is back succeeds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import asyncpg
import structlog

from router.store.errors import Conflict, StoreError

log = structlog.get_logger("chapar.postgres")
T = TypeVar("T")
Work = Callable[[asyncpg.Connection], Awaitable[T]]
_LOST = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
         asyncpg.CannotConnectNowError, ConnectionError, asyncpg.InternalClientError)
"""The connection is gone or unusable.  InternalClientError: a server lost in the middle
of a COPY can leave the protocol mid-operation, and the transaction's ROLLBACK then
fails with "cannot switch to state …" instead of the loss itself (a CI run)."""


class PgLink:
    def __init__(self, dsn: str, timeout: float = 5.0, retry: float = 0.5,
                 name: str = "postgres", schema: str = "") -> None:
        """``schema``: searched first (a journal of its own, StoreSettings.journal_schema);
        tables not there (the registry's) are found in the default ones."""
        self.dsn = dsn
        self._settings = {"search_path": f'{schema}, "$user", public'} if schema else {}
        self._timeout = timeout
        self._retry = retry
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"chapar-{name}")
        self._thread.start()
        self._conn: asyncpg.Connection | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self.failures = 0
        self.run(self._connect_now())  # at start: fail loudly if the server is not there

    async def _connect_now(self) -> None:
        self._conn = await asyncpg.connect(self.dsn, timeout=self._timeout,
                                           server_settings=self._settings)

    def call(self, work: Work[T]) -> T:
        """``work(connection)`` on the link's loop; StoreError when it cannot be done."""
        return self.wait(self.submit(work))

    def submit(self, work: Work[T]) -> concurrent.futures.Future[T]:
        """``work(connection)`` started on the link's loop; ``wait`` for its answer (the
        caller prepares its next work meanwhile: calls run in the order submitted)."""
        return asyncio.run_coroutine_threadsafe(self._call(work), self._loop)

    def wait(self, future: concurrent.futures.Future[T]) -> T:
        """What submitted work answered; StoreError when it could not be done."""
        try:
            return future.result(self._timeout * 2)
        except (TimeoutError, concurrent.futures.TimeoutError) as exc:  # one in 3.11
            future.cancel()  # done already when the work itself timed out
            raise StoreError("postgres: no answer within the timeout") from exc

    def stream(self, work: Work[T]) -> concurrent.futures.Future[T]:
        """``work(connection)`` started on the link's loop without a deadline (a long
        COPY out whose data ``work`` hands over as it comes); its future."""
        return asyncio.run_coroutine_threadsafe(self._call(work, None), self._loop)

    async def _call(self, work: Work[T], timeout: float | None = -1.0) -> T:
        conn = self._conn
        if conn is None or conn.is_closed():
            self._lost(None)
            raise StoreError("postgres: not connected (reconnecting)")
        try:
            return await asyncio.wait_for(work(conn),
                                          self._timeout if timeout == -1.0 else timeout)
        except _LOST as exc:
            self._lost(exc)
            raise StoreError(f"postgres: connection lost: {exc}") from exc
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(f"postgres: {exc}") from exc
        except asyncpg.PostgresError as exc:
            raise StoreError(f"postgres: {exc}") from exc

    def _lost(self, exc: BaseException | None) -> None:
        if self._conn is not None and not self._conn.is_closed():
            self._conn.terminate()
        self._conn = None
        if self._reconnecting is None or self._reconnecting.done():
            if exc is not None:
                log.error("postgres_connection_lost", error=str(exc))
            self._reconnecting = self._loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        tries = 0
        while self._conn is None:
            tries += 1
            try:
                await self._connect_now()
                log.warning("postgres_reconnected", tries=tries)
            except (TimeoutError, *_LOST, asyncpg.PostgresError):
                await asyncio.sleep(self._retry)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro,
                                                                                self._loop)
        try:
            return future.result(timeout if timeout is not None else self._timeout * 2)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        async def closing() -> None:
            if self._reconnecting is not None:
                self._reconnecting.cancel()
            if self._conn is not None:
                await self._conn.close(timeout=self._timeout)

        try:
            self.run(closing())
        except Exception as exc:  # closing a broken link: nothing more to do
            log.warning("postgres_close_failed", error=str(exc))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self._timeout)


def describe(dsn: str) -> str:
    """The DSN without its password (for logs)."""
    from urllib.parse import urlsplit, urlunsplit
    parts = urlsplit(dsn)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return dsn


