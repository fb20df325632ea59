"""Starts and stops the admin API (and /metrics) in the router's event loop."""

from __future__ import annotations

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from router.admin.api import make_app
from router.admin.metrics import RouterCollector
from router.admin.settings import AdminSettings
from router.admin.sources import Sources
from router.admin.token import check_bind, is_loopback, resolve_token
from router.tls import ServerTls
from router.web import start_site

log = structlog.get_logger("chapar.admin")


class AdminServer:
    def __init__(self, settings: AdminSettings, sources: Sources) -> None:
        self.settings = settings
        self.sources = sources
        self.port = 0
        self._runner: web.AppRunner | None = None
        self.tls: ServerTls | None = None

    async def start(self) -> None:
        cfg = self.settings
        token, origin = resolve_token(cfg)
        check_bind(cfg, token)
        registry: CollectorRegistry | None = None
        if cfg.metrics:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(RouterCollector(self.sources, cfg.top_accounts))
        app = make_app(self.sources, token, registry, open_metrics=is_loopback(cfg.host))
        self._runner, self.port, self.tls = await start_site(app, cfg)
        log.info("admin_listening", host=cfg.host, port=self.port, tls=self.tls is not None,
                 metrics=cfg.metrics, token_from=origin)

    async def stop(self) -> None:
        self.sources.imports.close()  # a queued import is dropped; a running one finishes
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
