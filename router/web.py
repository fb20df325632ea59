"""What the two HTTP listeners (the admin API and the customers' API) share: their
settings' common keys, JSON errors, and starting a site with optional TLS (aiohttp, in
the router's own loop)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from router.tls import ServerTls

log = structlog.get_logger("chapar.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    """Loopback by default; any other address needs ``tls_cert``/``tls_key``."""
    port: int = 0
    tls_cert: str = ""
    tls_key: str = ""


def error(status: int, message: str) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.json_response({"error": message}, status=status, headers=headers)


async def json_errors(request: web.Request, handler: Handler,
                      unavailable: tuple[type[Exception], ...] = ()) -> web.StreamResponse:
    """aiohttp's own 4xx/5xx (404, 405, 413…) as JSON errors too; ``unavailable``: the
    errors of a store that cannot answer now (PostgreSQL away, a locked or full SQLite
    file), answered 503, try again, not 500 (logged: the 1st, 2nd, 4th, 8th…)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error(exc.status, exc.reason)
    except unavailable as exc:
        _unavailable[0] += 1
        count = _unavailable[0]
        if count & (count - 1) == 0:
            log.warning("http_store_unavailable", path=request.path, error=str(exc),
                        total=count)
        return error(503, "the store cannot answer now: try again")


_unavailable = [0]
"""Requests answered 503 for the store (since start)."""


async def start_site(app: web.Application, settings: ListenerSettings
                     ) -> tuple[web.AppRunner, int, ServerTls | None]:
    """The app listening as ``settings`` say: (its runner, the port, its TLS or None)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    tls = ServerTls(settings.tls_cert, settings.tls_key) \
        if settings.tls_cert and settings.tls_key else None
    site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True,
                       ssl_context=tls.context if tls is not None else None)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    return runner, sockets[0].getsockname()[1] if sockets else settings.port, tls
