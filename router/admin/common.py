"""What every admin route module shares: the app keys and the JSON error."""

from __future__ import annotations

from aiohttp import web

from router.admin.sources import Sources
from router.web import error

__all__ = ["SOURCES", "error", "sources"]

SOURCES = web.AppKey("sources", Sources)




def sources(request: web.Request) -> Sources:
    return request.app[SOURCES]
