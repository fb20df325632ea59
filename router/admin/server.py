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
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self.tls = ServerTls(cfg.tls_cert, cfg.tls_key) if cfg.tls_cert and cfg.tls_key \
            else None
        context = self.tls.context if self.tls is not None else None
        site = web.TCPSite(runner, cfg.host, cfg.port, ssl_context=context,
                           reuse_address=True)
        await site.start()
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else cfg.port
        log.info("admin_listening", host=cfg.host, port=self.port, tls=context is not None,
                 metrics=cfg.metrics, token_from=origin)

    async def stop(self) -> None:
        self.sources.imports.close()  # a queued import is dropped; a running one finishes
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
