"""Registry writes the router makes itself (line demotions, MO opt-outs, violations,
the bind audit, lockouts), done on one worker thread with connections of its own.

The decision and MO paths run on the event loop and must not wait on SQLite: a CLI
holding the registry's write lock would stall the loop for the busy timeout and, when it
expires, an exception would tear down the connection being served.  Jobs run in order;
a failure is logged and retried later (the next job still runs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from router.store.limits import LimitStore
from router.store.lines import LineStore
from router.store.registry import Registry, RegistryError
from router.store.rows import DB_ERRORS
from router.store.settings import Place

log = structlog.get_logger("chapar.writer")


@dataclass(frozen=True, slots=True)
class Stores:
    """The registry's two faces, opened on the writer's thread."""

    registry: Registry
    lines: LineStore
    limits: LimitStore


Job = Callable[[Stores], object]


class RegistryWriter:
    def __init__(self, path: Place, retries: int = 5, retry_delay: float = 1.0) -> None:
        self._path = path
        self._retries = retries
        self._retry_delay = retry_delay
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-writer")
        self._stores: Stores | None = None

    def submit(self, what: str, job: Job) -> Future[object]:
        return self._pool.submit(self._run, what, job)

    def _run(self, what: str, job: Job) -> object:
        for attempt in range(1, self._retries + 1):
            try:
                if self._stores is None:
                    self._stores = Stores(Registry(self._path), LineStore(self._path),
                                          LimitStore(self._path))
                return job(self._stores)
            except RegistryError as exc:  # the request itself is wrong: no retry helps
                log.warning("registry_write_refused", what=what, error=str(exc))
                return None
            except DB_ERRORS as exc:
                log.warning("registry_write_failed", what=what, error=str(exc),
                            attempt=attempt)
                time.sleep(self._retry_delay)
        log.error("registry_write_dropped", what=what, attempts=self._retries)
        return None

    def close(self) -> None:
        """Finish the queued jobs, then close."""
        self._pool.shutdown(wait=True)
        if self._stores is not None:
            self._stores.registry.close()
            self._stores.lines.close()
            self._stores.limits.close()
