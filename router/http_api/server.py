"""Starts and stops the HTTP API in the router's event loop."""

from __future__ import annotations

import structlog
from aiohttp import web

from router.http_api.api import HttpSources, make_app
from router.tls import ServerTls
from router.web import start_site

log = structlog.get_logger("chapar.http_api")


class HttpApiServer:
    def __init__(self, sources: HttpSources) -> None:
        self.sources = sources
        self.port = 0
        self.tls: ServerTls | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        cfg = self.sources.settings
        self._runner, self.port, self.tls = await start_site(make_app(self.sources), cfg)
        log.info("http_api_listening", host=cfg.host, port=self.port, tls=self.tls is not None,
                 keys=len(self.sources.keys.book))

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
