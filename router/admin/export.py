"""Lawful export over the API: ``GET /api/export?msisdn=|account=|line=&from=&to=
&format=csv|jsonl&redact=1`` writes the same file and manifest as `chapar export` (on a
thread, under ``exports/`` beside the registry), then streams the file; the manifest's
row count and SHA-256 come as headers (``X-Chapar-Rows``, ``X-Chapar-SHA256``) and the
manifest stays beside the file."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from aiohttp import web

from router.admin.common import error, sources
from router.store.errors import StoreError
from router.store.records import export as exporting
from router.store.records.export import Format
from router.store.records.open import every_store

routes = web.RouteTableDef()
FORMATS = ("csv", "jsonl")


def _instant(name: str, text: str | None, default: float) -> float:
    if not text:
        return default
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"{name}: an ISO date or time (2026-11-30, 2026-11-30T12:00Z)"
                         ) from None


def query_of(params: dict[str, str]) -> tuple[exporting.Query, Format, bool]:
    """The export asked for, checked (ValueError names the parameter)."""
    unknown = sorted(set(params) - {"msisdn", "account", "line", "from", "to", "format",
                                    "redact"})
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown parameter")
    msisdn, account, line = (params.get(k) or None for k in ("msisdn", "account", "line"))
    if not (msisdn or account or line):
        raise ValueError("name what to export: msisdn, account or line")
    if msisdn is not None and not msisdn.lstrip("+").isdigit():
        raise ValueError("msisdn: digits in international form")
    fmt: Format = "jsonl" if params.get("format") == "jsonl" else "csv"
    if params.get("format", "csv") not in FORMATS:
        raise ValueError("format: csv or jsonl")
    query = exporting.Query(msisdn, account, line, _instant("from", params.get("from"), 0.0),
                            _instant("to", params.get("to"), float("inf")))
    if query.since >= query.until:
        raise ValueError("from: must be before to")
    return query, fmt, params.get("redact", "") in ("1", "true", "yes")


@routes.get("/api/export")
async def export(request: web.Request) -> web.StreamResponse:
    try:
        query, fmt, redact = query_of(dict(request.query))
    except ValueError as exc:
        return error(400, str(exc))
    s = sources(request)
    folder = s.exports
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / time.strftime(f"export-%Y%m%dT%H%M%SZ-{id(request):x}.{fmt}", time.gmtime())

    def write() -> exporting.Manifest:
        stores = every_store(s.store_settings, s.record_settings)
        try:
            return exporting.export(exporting.Combined([st for _, st in stores]), query, path,
                                    fmt, redact)
        finally:
            for _, store in stores:
                store.close()

    try:
        manifest = await asyncio.to_thread(write)
    except FileNotFoundError as exc:
        return error(404, str(exc))
    except (OSError, StoreError) as exc:
        return error(503, f"records: {exc}")
    return web.FileResponse(path, headers={
        "Content-Type": "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson",
        "Content-Disposition": f'attachment; filename="{path.name}"',
        "X-Chapar-Rows": str(manifest.rows), "X-Chapar-SHA256": manifest.sha256})


