"""Quarantine review over the API: the same store and the same decision as
`chapar quarantine` (``QuarantineStore.decide``); the running router's poll
(``app/held.py``) then dispatches a released message or sends the REJECTD receipt."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from router.admin.common import error, sources
from router.admin.held import STATES, held_json, parse_id
from router.store.quarantine import Held, QuarantineStore
from router.store.settings import Place

routes = web.RouteTableDef()


def _listing(path: Place, state: str, limit: int) -> list[dict[str, Any]]:
    store = QuarantineStore(path)
    try:
        return [held_json(h) for h in store.held(None if state == "all" else state, limit)]
    finally:
        store.close()


def _decide(path: Place, message_id: int, state: str) -> tuple[bool, Held | None]:
    """Whether it was decided now, and the message (None when there is none)."""
    store = QuarantineStore(path)
    try:
        return store.decide(message_id, state) > 0, store.get(message_id)
    finally:
        store.close()


@routes.get("/api/quarantine")
async def get_quarantine(request: web.Request) -> web.Response:
    state = request.query.get("state", "held")
    if state not in STATES:
        return error(400, f"state: one of {', '.join(STATES)}")
    raw_limit = request.query.get("limit", "200")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        return error(400, "limit: 1 to 1000")
    path = sources(request).quarantine_path
    found = await asyncio.to_thread(_listing, path, state, int(raw_limit))
    return web.json_response({"messages": found})


async def _decision(request: web.Request, state: str) -> web.Response:
    raw = request.match_info["id"]
    try:
        message_id = parse_id(raw)
    except ValueError:
        return error(400, f"id: not a message id: {raw!r}")
    path = sources(request).quarantine_path
    decided, held = await asyncio.to_thread(_decide, path, message_id, state)
    if held is None:
        return error(404, f"no held message {raw}")
    if not decided:
        return error(409, f"{raw} is not held (it is {held.state})")
    return web.json_response({"id": raw, "state": held.state})


@routes.post("/api/quarantine/{id}/release")
async def release(request: web.Request) -> web.Response:
    return await _decision(request, "released")


@routes.post("/api/quarantine/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    return await _decision(request, "rejected")
