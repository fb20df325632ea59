"""A real PostgreSQL for the store tests: one cluster per test session, started by
pytest-postgresql's process fixture from Debian's binaries (tests/pg_ctl.sh runs them as
the ``postgres`` user when the tests run as root) on 127.0.0.1, a free port, under the
session's temp folder, stopped at the end; a fresh database per test."""

from __future__ import annotations

import asyncio
import glob
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pytest_postgresql import factories

from router.store.settings import Place, StoreSettings

ROOT = Path(__file__).resolve().parent.parent

HAVE_POSTGRES = bool(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))

postgresql_cluster = factories.postgresql_proc(
    executable=str(ROOT / "tests" / "pg_ctl.sh"), host="127.0.0.1", port=None,
    postgres_options="-c fsync=off -c full_page_writes=off")
postgresql_outage_cluster = factories.postgresql_proc(
    executable=str(ROOT / "tests" / "pg_ctl.sh"), host="127.0.0.1", port=None)
"""A cluster of its own for the test that stops it under load."""


def _admin(cluster: Any, sql: str) -> None:
    async def run() -> None:
        for _ in range(100):  # a cluster a test restarted may still be starting (10 s)
            try:
                conn = await asyncpg.connect(host=cluster.host, port=cluster.port,
                                             user=cluster.user, database="postgres")
                break
            except asyncpg.CannotConnectNowError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("PostgreSQL did not accept connections within 10 s")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
    asyncio.run(run())


def _database(request: pytest.FixtureRequest, fixture: str) -> Iterator[tuple[Any, str]]:
    if not HAVE_POSTGRES:
        pytest.skip("PostgreSQL binaries missing (tests/run.sh installs Debian's postgresql)")
    cluster = request.getfixturevalue(fixture)
    name = f"t_{uuid.uuid4().hex[:12]}"
    _admin(cluster, f"CREATE DATABASE {name}")
    yield cluster, f"postgresql://{cluster.user}@{cluster.host}:{cluster.port}/{name}"
    if cluster.running():
        _admin(cluster, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_dsn(request: pytest.FixtureRequest) -> Iterator[str]:
    """A DSN to a database of this test's own."""
    for _, dsn in _database(request, "postgresql_cluster"):
        yield dsn


@pytest.fixture
def pg_outage(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    """(cluster, DSN) on a cluster the test may stop and start."""
    yield from _database(request, "postgresql_outage_cluster")


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``store:`` overrides for a router config: each test runs on both backends."""
    if request.param == "sqlite":
        return {}
    return {"backend": "postgres", "dsn": request.getfixturevalue("pg_dsn")}


def _settings(tmp_path: Path, backend: dict[str, Any]) -> StoreSettings:
    return StoreSettings(path=str(tmp_path / "journal.db"),
                         registry_path=str(tmp_path / "registry.db"), **backend)


@pytest.fixture
def registry_place(tmp_path: Path, store_backend: dict[str, Any]) -> Place:
    """Where the registry is on each backend in turn (``store_backend``): a file, or
    the test's PostgreSQL database."""
    return _settings(tmp_path, store_backend).registry()


@pytest.fixture
def journal_place(tmp_path: Path, store_backend: dict[str, Any]) -> Place:
    """Where the ledger and the quarantine are on each backend in turn."""
    return _settings(tmp_path, store_backend).journal()
