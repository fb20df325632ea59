"""Real HTTP against a running router's customer API (stdlib http.client: it can pick
the source address, so a test can call from 127.0.0.2)."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

from router.store.api_keys import ApiKeyStore
from tests.conftest import RouterProcess


def api_port(router: RouterProcess) -> int:
    port: int = next(e["port"] for e in router.events() if e.get("event") == "http_api_listening")
    return port


def new_key(router: RouterProcess, system_id: str = "esme1") -> str:
    with ApiKeyStore(Path(router.config["store"]["registry_path"])) as store:
        return store.add(system_id, "test")[1]


def call(port: int, method: str, path: str, body: object = None, key: str | None = None,
         raw: bytes | None = None, source: str = "127.0.0.1") -> tuple[int, Any]:
    """(status, parsed JSON) of one request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15,
                                      source_address=(source, 0))
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                        else None)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(text)
    except ValueError:
        return resp.status, text
