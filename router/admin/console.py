"""The web console: static files (plain HTML, CSS and ES modules shipped in the package,
no build step) and ``/api/overview``, the one call its live view polls.  Rates are
computed by the page from two polls, so the router keeps plain counters only."""

from __future__ import annotations

import time
from importlib.resources import files
from typing import Any

from aiohttp import web

from router.admin import views
from router.admin.common import sources
from router.admin.sources import Sources

STATIC = {"index.html": "text/html", "console.js": "text/javascript",
          "api.js": "text/javascript", "console.css": "text/css"}
"""Every file the console serves (a fixed set: no path from a request reaches the disk)."""
HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
           "frame-ancestors 'none'", "X-Content-Type-Options": "nosniff",
           "Cache-Control": "no-cache"}
routes = web.RouteTableDef()


def _file(name: str) -> bytes:
    return files("router.admin").joinpath("static", name).read_bytes()


@routes.get("/")
async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


@routes.get("/console/")
async def index(request: web.Request) -> web.Response:
    return web.Response(body=_file("index.html"), content_type="text/html",
                        charset="utf-8", headers=HEADERS)


@routes.get("/console/{name}")
async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    kind = STATIC.get(name)
    if kind is None:
        raise web.HTTPNotFound(reason=f"no console file {name!r}")
    return web.Response(body=_file(name), content_type=kind, charset="utf-8",
                        headers=HEADERS)


def overview(s: Sources) -> dict[str, Any]:
    """Counters and states at one instant (the page takes differences for rates)."""
    intake = s.intake
    return {
        "at": time.time(),
        "sessions": views.sessions(s.state),
        "upstreams": [{"name": c.name, "address": f"{c.config.host}:{c.config.port}",
                       "up": c.ready, "window_used": c.session.outstanding
                       if c.session is not None else 0, "window": c.config.window,
                       "sent": c.sent, "timed_out": c.timed_out,
                       "paced_rate": round(c.paced_rate, 1)} for c in s.pool.connectors],
        "submits": {"accepted": sum(intake.accepted_by_account.values()),
                    "refused": sum(intake.refused_by_reason.values()),
                    "errors": intake.refused_messages + s.state.failed_decisions},
        "refusals": dict(sorted(intake.refused_by_reason.items())),
        "queues": {"outbound": s.outbound.queued, "receipts": s.inbound.total_queued()},
        "carrier": {"accepted": s.reports.accepted, "refused": s.reports.refused,
                    "congested": s.reports.congested},
        "paused": s.state.paused,
    }


@routes.get("/api/overview")
async def get_overview(request: web.Request) -> web.Response:
    return web.json_response(overview(sources(request)))
