"""What every admin route module shares: the app keys and the JSON error."""

from __future__ import annotations

from aiohttp import web

from router.admin.sources import Sources

SOURCES = web.AppKey("sources", Sources)


def error(status: int, message: str) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.json_response({"error": message}, status=status, headers=headers)


def sources(request: web.Request) -> Sources:
    return request.app[SOURCES]
