"""The HTTP API's routes (aiohttp, in the router's own event loop).

Every ``/v1/`` request needs ``Authorization: Bearer <api key>``: an unknown key is 401,
a key of an account that may not send from the request's address (allow list, domestic
ranges, suspended, locked out) is 403; both are audited and count towards lockout as
failed binds do.  Errors are JSON ``{"error": "<field>: <what is wrong>"}`` with a 4xx.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from router.dispatch.operations import Operations
from router.http_api import openapi
from router.http_api.request import (
    RequestError,
    SendRequest,
    check_segments,
    parse,
    submits,
)
from router.http_api.sending import Sender
from router.http_api.settings import HttpApiSettings
from router.model.accounts import Account
from router.model.wallets import Wallets
from router.policy.api_keys import ApiKeys
from router.policy.auth import UNKNOWN_API_KEY, Authenticator
from router.smpp.pdu import MessageState
from router.store.client_refs import PENDING, ClientRefStore
from router.store.rows import DB_ERRORS
from router.web import Handler, error, json_errors

routes = web.RouteTableDef()


@dataclass(slots=True)
class HttpSources:
    settings: HttpApiSettings
    auth: Authenticator
    keys: ApiKeys
    sender: Sender
    wallets: Wallets
    billing: bool
    client_refs: ClientRefStore
    operations: Operations
    """query_sm's answers: a message's state from Chapar's own queue and journal."""


SOURCES = web.AppKey("sources", HttpSources)
ACCOUNT = "chapar.account"


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status,
                        content_type="application/json")


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/v1/") and request.path != "/v1/openapi.json":
        sources = request.app[SOURCES]
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        key = sources.keys.book.match(presented.strip()) if scheme.lower() == "bearer" \
            else None
        peer = request.transport.get_extra_info("peername") if request.transport else None
        verdict = sources.auth.check_api_key(key, (peer[0], peer[1]) if peer else ("", 0))
        if not verdict.accepted:
            if verdict.reason == UNKNOWN_API_KEY:
                return error(401, "missing or unknown API key")
            return error(403, f"not allowed: {verdict.reason}")
        request[ACCOUNT] = verdict.account
    return await json_errors(request, handler, DB_ERRORS)


def _account(request: web.Request) -> Account:
    account: Account = request[ACCOUNT]
    return account


@routes.post("/v1/messages")
async def send_messages(request: web.Request) -> web.Response:
    sources = request.app[SOURCES]
    settings = sources.settings
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return error(400, "body: not valid JSON")
    try:
        wanted = parse(body, settings.max_recipients)
        segments = check_segments(wanted, settings.max_segments)
    except RequestError as exc:
        return error(400, str(exc))
    account = _account(request)
    ref = wanted.client_ref
    if ref is not None:
        stored = sources.client_refs.claim(account.system_id, ref)
        if stored == PENDING:
            return error(409, "client_ref: a request with it is in flight, or its outcome "
                              "was not recorded (the router stopped meanwhile): see the "
                              "messages' status; nothing was sent again")
        if stored is not None:
            return _answer(stored, replay=True)
    task = asyncio.ensure_future(_send(sources, account, wanted, segments))
    try:
        return _answer(await asyncio.wait_for(asyncio.shield(task), settings.answer_timeout))
    except TimeoutError:
        return error(503, "the journal did not answer in time: the outcome is not known "
                          "yet; ask again with the same client_ref")
    except Exception:
        if ref is not None:
            sources.client_refs.release(account.system_id, ref)
        raise


async def _send(sources: HttpSources, account: Account, wanted: SendRequest,
                segments: int) -> bytes:
    """The answer's body; stored under the request's client_ref once known (also when
    the client gave up waiting)."""
    results = await sources.sender.send(account.system_id, account.status_style,
                                        wanted.source, wanted.recipients, submits(wanted))
    accepted = sum(r["status"] == "accepted" for r in results)
    body = orjson.dumps({"accepted": accepted, "refused": len(results) - accepted,
                         "segments_each": segments, "messages": results})
    if wanted.client_ref is not None:
        sources.client_refs.answer(account.system_id, wanted.client_ref, body)
    return body


def _answer(body: bytes, replay: bool = False) -> web.Response:
    """200 when any number was accepted, else 422; a replay says so in a header."""
    accepted = orjson.loads(body)["accepted"]
    headers = {"Idempotent-Replayed": "true"} if replay else None
    return web.Response(body=body, status=200 if accepted else 422, headers=headers,
                        content_type="application/json")


_STATES = {int(state): state.name for state in MessageState}


async def _status(sources: HttpSources, account: str, message_id: str) -> dict[str, Any]:
    answer = await sources.operations.query(account, message_id, "")
    if answer.status:
        return {"id": message_id, "state": "UNKNOWN", "error": "no such message of this "
                "account"}
    found: dict[str, Any] = {"id": message_id, "state": _STATES.get(answer.state, "UNKNOWN")}
    if answer.final_date:
        found.update(final_date=answer.final_date, error_code=answer.error_code)
    return found


@routes.get("/v1/messages/{id}")
async def message_status(request: web.Request) -> web.Response:
    """One message (part) by the id a send answered: ENROUTE while queued or with a
    carrier, then its final state (DELIVERED, UNDELIVERABLE, EXPIRED, REJECTED…)."""
    wanted = request.match_info["id"]
    if not (wanted.isascii() and wanted.isalnum()) or len(wanted) > 20:
        return error(400, "id: a message id as a send answered it")
    found = await _status(request.app[SOURCES], _account(request).system_id, wanted)
    return _json(found, status=404 if found["state"] == "UNKNOWN" else 200)


@routes.get("/v1/messages")
async def messages_by_ref(request: web.Request) -> web.Response:
    """A send by its client_ref: the answer it got, each number's parts with their
    state now."""
    ref = request.query.get("client_ref", "")
    if not ref or len(ref) > 64 or not ref.isprintable():
        return error(400, "client_ref: required (at most 64 printable characters)")
    sources = request.app[SOURCES]
    account = _account(request).system_id
    stored = sources.client_refs.claim(account, ref, peek=True)
    if stored is None or stored == PENDING:
        return error(404, f"client_ref: no answered send with {ref!r}")
    answer = orjson.loads(stored)
    for message in answer["messages"]:
        message["parts"] = [await _status(sources, account, i) for i in message.get("ids", ())]
    return _json({"client_ref": ref, **answer})


@routes.get("/v1/balance")
async def balance(request: web.Request) -> web.Response:
    sources = request.app[SOURCES]
    account = _account(request)
    if not sources.billing:
        return _json({"account": account.system_id, "billing": False, "balance": None})
    return _json({"account": account.system_id, "billing": True,
                  "balance": sources.wallets.balance(account.system_id)})


@routes.get("/v1/openapi.json")
async def get_openapi(request: web.Request) -> web.Response:
    from importlib.metadata import version

    return _json(openapi.document(version("chapar")))


def make_app(sources: HttpSources) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=sources.settings.max_body_bytes)
    app[SOURCES] = sources
    app.add_routes(routes)
    return app
