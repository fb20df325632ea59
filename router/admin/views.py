"""The JSON the admin API answers with, built from the parts (no secrets: password hashes
never leave the registry)."""

from __future__ import annotations

import time
from typing import Any

from router.model.accounts import Account
from router.model.lines import Line, format_hours
from router.model.numbersets import ListSnapshot
from router.server.esme import EsmeConnection
from router.server.state import ServerState
from router.upstream.routing import RouteTable


def session_id(conn: EsmeConnection) -> str:
    return f"{id(conn):x}"


def sessions(state: ServerState) -> list[dict[str, Any]]:
    now = time.time()
    return [{"id": session_id(c), "account": c.account or None, "peer": c.peer,
             "state": c.session.state.name, "submitted": c.submitted,
             "opened_at": round(c.opened_at, 3), "age": round(now - c.opened_at, 3)}
            for c in sorted(state.connections, key=lambda c: c.opened_at)]


def find_session(state: ServerState, wanted: str) -> EsmeConnection | None:
    return next((c for c in state.connections if session_id(c) == wanted), None)


def account(a: Account, live: int) -> dict[str, Any]:
    return {"system_id": a.system_id, "status": a.status, "bind_types": list(a.bind_types),
            "max_binds": a.max_binds, "allowed_ips": list(a.allowed_ips),
            "domestic_exempt": a.domestic_exempt, "status_style": a.status_style,
            "id_lockout": a.id_lockout, "demo": a.demo, "live_binds": live,
            "created_at": a.created_at, "updated_at": a.updated_at}


def line(x: Line) -> dict[str, Any]:
    return {"number": x.number, "account": x.account, "kind": x.kind,
            "effective_kind": x.effective_kind, "exemption": x.exemption or None,
            "status": x.status, "status_reason": x.status_reason or None,
            "hours": format_hours(x.hours) or None, "purpose": x.purpose,
            "operator": x.operator}


def lists(snapshot: ListSnapshot, now: float) -> dict[str, Any]:
    return {
        "blacklist": len(snapshot.blacklist),
        "whitelists": {ln: {"entries": len(w), "active": w.active_count(now)}
                       for ln, w in sorted(snapshot.whitelists.items())},
        "optouts": {ln: len(o) for ln, o in sorted(snapshot.optouts.items())},
        "signature_optouts": {f"{ln}/{sig}": len(o) for (ln, sig), o
                              in sorted(snapshot.signature_optouts.items())},
    }


def membership(snapshot: ListSnapshot, number: int, line_number: str | None,
               now: float) -> dict[str, Any]:
    out: dict[str, Any] = {"number": str(number),
                           "blacklisted": snapshot.is_blacklisted(number)}
    if line_number:
        white = snapshot.whitelists.get(line_number)
        out["line"] = line_number
        out["in_whitelist"] = snapshot.in_whitelist(line_number, number, now)
        expiry = white.expiry_of(number) if white is not None else None
        out["whitelist_expires"] = expiry
        out["opted_out"] = snapshot.is_opted_out(line_number, number)
    return out


def route_table(table: RouteTable) -> dict[str, Any]:
    settings = table.settings
    return {
        "groups": [{"name": name, "strategy": group.strategy,
                    "upstreams": list(group.upstreams), "weights": list(group.weights)}
                   for name, group in table.groups.items()],
        "rules": [{"index": rule.index + 1, "name": rule.name, "group": rule.group,
                   "accounts": sorted(rule.accounts or ()), "sources": sorted(rule.sources or ()),
                   "line_kinds": sorted(rule.kinds or ()), "prefixes": list(rule.prefixes),
                   "operators": sorted(rule.operators or ()),
                   "hours": settings.rules[rule.index].hours or None}
                  for rule in table.rules],
        "default": table.default,
    }
