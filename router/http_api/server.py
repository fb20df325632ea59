"""Starts and stops the HTTP API in the router's event loop."""

from __future__ import annotations

import asyncio
import time

import structlog
from aiohttp import web

from router.http_api.api import HttpSources, make_app
from router.store.rows import DB_ERRORS
from router.tls import ServerTls
from router.web import start_site

log = structlog.get_logger("chapar.http_api")
PURGE_EVERY = 600.0


class HttpApiServer:
    def __init__(self, sources: HttpSources) -> None:
        self.sources = sources
        self.port = 0
        self.tls: ServerTls | None = None
        self._runner: web.AppRunner | None = None
        self._purging: asyncio.Task[None] | None = None

    async def start(self) -> None:
        cfg = self.sources.settings
        self._runner, self.port, self.tls = await start_site(make_app(self.sources), cfg)
        self._purging = asyncio.get_running_loop().create_task(self._purge())
        log.info("http_api_listening", host=cfg.host, port=self.port, tls=self.tls is not None,
                 keys=len(self.sources.keys.book))

    async def _purge(self) -> None:
        """client_refs past their TTL, every PURGE_EVERY seconds."""
        refs, ttl = self.sources.client_refs, self.sources.settings.client_ref_ttl
        while True:
            try:
                purged = refs.purge(time.time() - ttl)
            except DB_ERRORS as exc:  # a locked or unreachable registry: next time
                log.warning("client_refs_purge_failed", error=str(exc))
            else:
                if purged:
                    log.info("client_refs_purged", rows=purged)
            await asyncio.sleep(PURGE_EVERY)

    async def stop(self) -> None:
        if self._purging is not None:
            self._purging.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.sources.client_refs.close()
