"""The admin HTTP API (aiohttp, in the router's own event loop).

Every ``/api/`` request needs ``Authorization: Bearer <token>``; without it, or with a
wrong one, the answer is 401 and nothing is done.  Errors are JSON ``{"error": …}``
with a 4xx status.  ``/metrics`` needs no token on loopback; ``/healthz`` never does.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from router.admin import console, export, list_imports, openapi, quarantine, views
from router.admin.common import SOURCES, error
from router.admin.common import sources as _sources
from router.admin.explain import ExplainError, Question
from router.admin.sources import Sources
from router.admin.token import token_matches
from router.store.rows import DB_ERRORS
from router.web import Handler, json_errors

TOKEN = web.AppKey("token", str)
METRICS = web.AppKey("metrics", CollectorRegistry)
OPEN_METRICS = web.AppKey("open_metrics", bool)
routes = web.RouteTableDef()
"""Every route but /metrics, the quarantine and the console ones (the OpenAPI document
lists the /api/ ones)."""


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The token for /api/ (and for /metrics off loopback); JSON for every error."""
    path = request.path
    needs_token = path.startswith("/api/") or (
        path == "/metrics" and not request.app[OPEN_METRICS])
    if needs_token and not token_matches(request.app[TOKEN],
                                         request.headers.get("Authorization")):
        return error(401, "missing or wrong bearer token")
    return await json_errors(request, handler, DB_ERRORS)


@routes.get("/api/sessions")
async def get_sessions(request: web.Request) -> web.Response:
    return web.json_response({"sessions": views.sessions(_sources(request).state)})


@routes.post("/api/sessions/{id}/unbind")
async def unbind_session(request: web.Request) -> web.Response:
    wanted = request.match_info["id"]
    conn = views.find_session(_sources(request).state, wanted)
    if conn is None:
        return error(404, f"no session {wanted!r}")
    conn.cut_off("unbound by admin")
    return web.json_response({"unbound": wanted, "account": conn.account or None})


@routes.get("/api/accounts")
async def get_accounts(request: web.Request) -> web.Response:
    s = _sources(request)
    return web.json_response({"accounts": [views.account(a, s.state.live_binds(a.system_id))
                                           for a in s.registry.accounts()]})


@routes.get("/api/accounts/{system_id}")
async def get_account(request: web.Request) -> web.Response:
    s = _sources(request)
    system_id = request.match_info["system_id"]
    found = s.registry.get_account(system_id)
    if found is None:
        return error(404, f"no account {system_id!r}")
    return web.json_response(views.account(found, s.state.live_binds(system_id)))


@routes.get("/api/lines")
async def get_lines(request: web.Request) -> web.Response:
    book = _sources(request).rules.lines
    owner = request.query.get("account")
    chosen = book.of_account(owner) if owner else list(book.by_number.values())
    return web.json_response({"lines": [views.line(x) for x in
                                        sorted(chosen, key=lambda x: x.number)]})


@routes.get("/api/lines/{number}")
async def get_line(request: web.Request) -> web.Response:
    number = request.match_info["number"]
    found = _sources(request).rules.lines.get(number)
    if found is None:
        return error(404, f"no line {number!r}")
    return web.json_response(views.line(found))


@routes.get("/api/lists")
async def get_lists(request: web.Request) -> web.Response:
    snapshot = _sources(request).rules.lists.snapshot()
    return web.json_response(views.lists(snapshot, time.time()))


@routes.get("/api/lists/lookup")
async def lookup(request: web.Request) -> web.Response:
    raw = request.query.get("number", "")
    if not raw.isascii() or not raw.isdigit():
        return error(400, "number: digits in international form, e.g. 989121234567")
    snapshot = _sources(request).rules.lists.snapshot()
    return web.json_response(views.membership(snapshot, int(raw), request.query.get("line"),
                                              time.time()))


@routes.post("/api/reload")
async def reload(request: web.Request) -> web.Response:
    return web.json_response({"reloaded": _sources(request).reloader.reload()})


_FIELDS: dict[str, tuple[type, bool]] = {
    "account": (str, True), "line": (str, True), "destination": (str, True),
    "text": (str, False), "dest_ton": (int, False), "dest_npi": (int, False),
    "data_coding": (int, False),
}


def fields_of(body: object, wanted: dict[str, tuple[type, bool]]) -> dict[str, Any]:
    """A JSON object's fields checked by name, type and presence (ValueError names the
    field)."""
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    unknown = sorted(set(body) - set(wanted))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown field")
    values: dict[str, Any] = {}
    for name, (kind, required) in wanted.items():
        value = body.get(name)
        if value is None:
            if required:
                raise ValueError(f"{name}: required")
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{name}: expected {'a string' if kind is str else 'an integer'}")
        values[name] = value
    return values


def question(body: object) -> Question:
    """The explain request, checked field by field (ValueError names the field)."""
    return Question(**fields_of(body, _FIELDS))


@routes.post("/api/explain")
async def explain(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        return error(400, "body: not valid JSON")
    try:
        answer = _sources(request).explainer.explain(question(body))
    except (ValueError, ExplainError) as exc:
        return error(400, str(exc))
    return web.json_response(answer)


@routes.get("/api/routes")
async def get_routes(request: web.Request) -> web.Response:
    """The routing table in use: groups (strategy, upstreams, weights), rules in order,
    the default group."""
    table = _sources(request).routes()
    if table is None:
        return error(404, "no routing table (the router is starting)")
    return web.json_response(views.route_table(table))


_ROUTE_FIELDS: dict[str, tuple[type, bool]] = {
    "account": (str, True), "from": (str, True), "to": (str, True)}


@routes.post("/api/routes/test")
async def test_route(request: web.Request) -> web.Response:
    """The group a message would take now and why, rule by rule (as `chapar routes test`;
    nothing is sent)."""
    try:
        body = await request.json()
    except ValueError:
        return error(400, "body: not valid JSON")
    try:
        values = fields_of(body, _ROUTE_FIELDS)
    except ValueError as exc:
        return error(400, str(exc))
    s = _sources(request)
    table = s.routes()
    if table is None:
        return error(404, "no routing table (the router is starting)")
    line = s.rules.lines.get(values["from"])
    kind = line.effective_kind if line is not None and line.account == values["account"] \
        else ""
    answer = table.explain(values["account"], values["from"], values["to"], kind, time.time())
    return web.json_response({"group": answer.group or None,
                              "rule": answer.rule.index + 1 if answer.rule else None,
                              "rule_name": answer.rule.name if answer.rule else None,
                              "steps": answer.steps})


@routes.get("/api/openapi.json")
async def get_openapi(request: web.Request) -> web.Response:
    from importlib.metadata import version

    return web.json_response(openapi.document(version("chapar")))


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app(sources: Sources, token: str, registry: CollectorRegistry | None,
             open_metrics: bool) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
    app[SOURCES] = sources
    app[TOKEN] = token
    app[OPEN_METRICS] = open_metrics
    app.add_routes(routes)
    app.add_routes(quarantine.routes)
    app.add_routes(list_imports.routes)
    app.add_routes(export.routes)
    app.add_routes(console.routes)
    if registry is not None:
        app[METRICS] = registry
        app.router.add_get("/metrics", metrics)
    return app
