"""The OpenAPI 3.1 document served at /api/openapi.json (kept beside the routes: a test
checks that every route the API serves is in it)."""

from __future__ import annotations

from typing import Any

_ERR = {"description": "error", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}
_OK = {"description": "ok", "content": {"application/json": {}}}


def _op(summary: str, *, params: tuple[tuple[str, str, bool], ...] = (),
        body: dict[str, Any] | None = None, errors: tuple[str, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {
        "200": _OK, "401": _ERR, **{code: _ERR for code in errors}}}
    if params:
        op["parameters"] = [{"name": n, "in": where, "required": req,
                             "schema": {"type": "string"}} for n, where, req in params]
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body}}}
    return op


EXPLAIN_BODY = {
    "type": "object", "required": ["account", "line", "destination"],
    "properties": {"account": {"type": "string"}, "line": {"type": "string"},
                   "destination": {"type": "string"}, "text": {"type": "string"},
                   "dest_ton": {"type": "integer"}, "dest_npi": {"type": "integer"},
                   "data_coding": {"type": ["integer", "null"]}},
}

PATHS: dict[str, dict[str, Any]] = {
    "/api/sessions": {"get": _op("Live ESME sessions")},
    "/api/sessions/{id}/unbind": {"post": _op(
        "Unbind one session (closed within 0.5 s)", params=(("id", "path", True),),
        errors=("404",))},
    "/api/accounts": {"get": _op("Accounts (no password hashes)")},
    "/api/accounts/{system_id}": {"get": _op("One account", params=(
        ("system_id", "path", True),), errors=("404",))},
    "/api/lines": {"get": _op("Lines", params=(("account", "query", False),))},
    "/api/lines/{number}": {"get": _op("One line", params=(("number", "path", True),),
                                       errors=("404",))},
    "/api/lists": {"get": _op("List sizes: blacklist, whitelists, opt-outs")},
    "/api/lists/lookup": {"get": _op("Where one number stands", params=(
        ("number", "query", True), ("line", "query", False)), errors=("400",))},
    "/api/lists/{kind}/import": {"post": {**_op(
        "Import a list file (the body: CSV or xlsx); 202 with the job at once",
        params=(("kind", "path", True), ("line", "query", False), ("mode", "query", False),
                ("operator", "query", False), ("signature", "query", False),
                ("column", "query", False), ("sheet", "query", False),
                ("filename", "query", False)), errors=("400", "413", "429")),
        "requestBody": {"required": True, "content": {"application/octet-stream": {
            "schema": {"type": "string", "format": "binary"}}}}}},
    "/api/jobs": {"get": _op("List import jobs, newest first")},
    "/api/jobs/{id}": {"get": _op("One import job: state, rows done of total, result",
                                  params=(("id", "path", True),), errors=("404",))},
    "/api/jobs/{id}/report": {"get": _op("The job's rejection report (CSV)", params=(
        ("id", "path", True),), errors=("404", "409"))},
    "/api/reload": {"post": _op("Read accounts, ranges, lines and lists again")},
    "/api/export": {"get": _op(
        "Lawful export of message records (as chapar export), streamed; manifest row "
        "count and SHA-256 in X-Chapar-Rows / X-Chapar-SHA256",
        params=(("msisdn", "query", False), ("account", "query", False),
                ("line", "query", False), ("from", "query", False), ("to", "query", False),
                ("format", "query", False), ("redact", "query", False)),
        errors=("400", "404", "503"))},
    "/api/routes": {"get": _op("The routing table in use: groups, rules, default",
                               errors=("404",))},
    "/api/routes/test": {"post": _op(
        "The group a message would take now and why (sends nothing)", body={
            "type": "object", "required": ["account", "from", "to"], "properties": {
                "account": {"type": "string"}, "from": {"type": "string"},
                "to": {"type": "string"}}}, errors=("400", "404"))},
    "/api/explain": {"post": _op("The decision for one message, and why, without sending",
                                 body=EXPLAIN_BODY, errors=("400",))},
    "/api/openapi.json": {"get": _op("This document")},
    "/api/overview": {"get": _op("Sessions, upstreams, submit and refusal counters, queues "
                                 "at one instant (the console polls it)")},
    "/api/quarantine": {"get": _op("Messages the content filter holds", params=(
        ("state", "query", False), ("limit", "query", False)), errors=("400",))},
    "/api/quarantine/{id}/release": {"post": _op(
        "Release a held message to its carrier", params=(("id", "path", True),),
        errors=("400", "404", "409"))},
    "/api/quarantine/{id}/reject": {"post": _op(
        "Reject a held message (REJECTD receipt to the ESME)", params=(
            ("id", "path", True),), errors=("400", "404", "409"))},
}


def document(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Chapar admin API", "version": version},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error"],
                                  "properties": {"error": {"type": "string"}}}},
        },
        "security": [{"bearer": []}],
        "paths": PATHS,
    }
