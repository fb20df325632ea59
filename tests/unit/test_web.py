"""router/web.py: what both HTTP listeners answer when a handler fails: aiohttp's own
errors as JSON, a store that cannot answer now as 503 (try again), a bug as 500.  Over a
real loopback socket (aiohttp's TestServer)."""

from __future__ import annotations

import asyncio
import sqlite3

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from router.store.errors import StoreError
from router.store.rows import DB_ERRORS
from router.web import Handler, json_errors


def _app(raises: BaseException) -> web.Application:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await json_errors(request, handler, DB_ERRORS)

    async def fails(request: web.Request) -> web.Response:
        raise raises

    app = web.Application(middlewares=[guard])
    app.router.add_get("/x", fails)
    return app


def _get(app: web.Application, path: str = "/x") -> tuple[int, object]:
    async def run() -> tuple[int, object]:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as client, \
                    client.get(server.make_url(path)) as response:
                body = await response.json() if response.content_type == \
                    "application/json" else await response.text()
                return response.status, body
        finally:
            await server.close()

    return asyncio.run(run())


def test_a_store_that_cannot_answer_is_503() -> None:
    """A database that goes away (PostgreSQL's StoreError, a locked SQLite file) gets a
    clear answer the client can act on, never a bare 500."""
    for raised in (StoreError("postgres: not connected (reconnecting)"),
                   sqlite3.OperationalError("database is locked")):
        status, body = _get(_app(raised))
        assert status == 503, raised
        assert body == {"error": "the store cannot answer now: try again"}


def test_aiohttp_errors_are_json_and_bugs_stay_500() -> None:
    status, body = _get(_app(KeyError("bug")))
    assert status == 500
    status, body = _get(_app(KeyError("bug")), "/nowhere")
    assert (status, body) == (404, {"error": "Not Found"})
