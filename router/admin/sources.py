"""What the admin surface reads and acts on, handed over by the app when it builds it.
The parts keep plain counters (per batch, never per message); the admin side reads them
when asked, so scraping costs the hot path nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from router.admin.explain import Explainer
from router.dispatch.inbound import Inbound
from router.dispatch.intake import Intake
from router.dispatch.outbound import Outbound
from router.dispatch.reports import Reports
from router.model.imports import Job, ListRequest
from router.policy.auth import Authenticator
from router.policy.rules import Rules
from router.server.state import ServerState
from router.store.records.settings import RecordSettings
from router.store.registry import Registry
from router.store.settings import Place, StoreSettings
from router.upstream.pool import Pool
from router.upstream.routing import RouteTable


class Reloader(Protocol):
    def reload(self) -> dict[str, int]:
        """Read accounts, ranges, lines and lists from the registry again; counts."""


class ListImports(Protocol):
    """List import jobs (app/imports.py)."""

    max_bytes: int

    def busy(self) -> bool: ...

    def check(self, request: ListRequest) -> str | None: ...

    def upload_path(self, suffix: str) -> Path: ...

    def start(self, request: ListRequest, operator: str | None, upload: Path,
              filename: str) -> Job: ...

    def get(self, job_id: str) -> Job | None: ...

    def all(self) -> list[Job]: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class Sources:
    state: ServerState
    registry: Registry
    auth: Authenticator
    rules: Rules
    intake: Intake
    outbound: Outbound
    inbound: Inbound
    reports: Reports
    pool: Pool
    explainer: Explainer
    reloader: Reloader
    quarantine_path: Place
    """The journal's store, whose quarantine table the content filter writes."""
    imports: ListImports
    routes: Callable[[], RouteTable | None]
    """The routing table in use (SIGHUP swaps it)."""
    store_settings: StoreSettings
    record_settings: RecordSettings
    """Where the message records are (lawful export)."""
    exports: Path
    """Where exported files and their manifests are written."""
