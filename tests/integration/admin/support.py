"""Real HTTP against a running router's admin API (stdlib only, every call bounded)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

TOKEN = "test-token-0123456789"


def call(port: int, method: str, path: str, body: object = None,
         token: str | None = TOKEN, raw: bytes | None = None) -> tuple[int, Any]:
    """(status, parsed JSON or text) for one request."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                        else None)
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def admin_port(events: list[dict[str, Any]]) -> int:
    port: int = next(e["port"] for e in events if e.get("event") == "admin_listening")
    return port
