"""Shared fixtures: real router processes on loopback, real carriers (simulator or the
C sink), accounts with real argon2id hashes; registry files and rejection reports for
the line and list tests.  ESME clients are in tests/clients.py."""

from __future__ import annotations

import copy
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from pytest_redis import factories

from router.store.settings import Postgres

# tests/clients.py asserts too: let pytest explain its failures as it does the tests'.
pytest.register_assert_rewrite("tests.clients")

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(os.environ.get("CHAPAR_TOOLS", ROOT / ".tools"))
SMPPSINK = TOOLS / "smppsink"
SMPPLOAD = TOOLS / "smppload"

REDIS_SERVER = "/usr/bin/redis-server"  # Debian's redis-server, installed by tests/run.sh
redis_server = factories.redis_proc(executable=REDIS_SERVER, host="127.0.0.1", port=None)
"""pytest-redis's process fixture: one redis-server for the session on 127.0.0.1, a free
port, its data in a temp folder; stopped at the end."""

PASSWORD = "secret12"  # 8 characters: the SMPP 3.4 maximum, which aiosmpplib enforces
# Advertising lines seeded for the test accounts (the first is each account's default).
LINES = {"esme1": ("98100", "1000", "3000", "30001234", "12345"), "esme2": ("98200",)}


@pytest.fixture(scope="session")
def password_hash() -> str:
    from router.policy.auth import hash_password

    return hash_password(PASSWORD)


def free_port(span: int = 1) -> int:
    """A port free on both 127.0.0.1 and ::1 (tests listen on both), and the ``span`` - 1
    after it too (``--workers`` puts worker i's admin API on ``admin.port + i``)."""
    while True:
        with socket.socket() as v4:
            v4.bind(("127.0.0.1", 0))
            port: int = v4.getsockname()[1]
        if all(_free(port + offset) for offset in range(span)):
            return port


def _free(port: int) -> bool:
    try:
        with socket.socket() as v4, socket.socket(socket.AF_INET6) as v6:
            v4.bind(("127.0.0.1", port))
            v6.bind(("::1", port))
    except OSError:
        return False
    return True


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class RouterProcess:
    """``chapar run --config`` in a child process, logging JSON to a file."""

    workdir: Path
    config: dict[str, Any]
    args: tuple[str, ...] = ()
    """More ``chapar run`` arguments (``--workers 2``)."""
    ready: int = 1
    """How many ``listening`` events mean started (one per worker)."""
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "router.log"

    def start(self, timeout: float = 40.0) -> RouterProcess:
        cfg_path = self.workdir / "chapar.yaml"
        cfg_path.write_text(yaml.safe_dump(self.config))
        self.port = self.config["listen"]["port"]
        since = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "router.cli", "run", "--config", str(cfg_path), *self.args],
            cwd=self.workdir, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"router exited {self.proc.returncode}: {self.log_text()}")
            if sum(e.get("event") == "listening" for e in self.events(since)) >= self.ready:
                return self
            time.sleep(0.05)
        raise TimeoutError(f"router did not start: {self.log_text()}")

    def log_text(self, since: int = 0) -> str:
        """The log (from byte ``since``: what this start wrote)."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        out = []
        for line in self.log_text(since).splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def wait_event(self, name: str, timeout: float = 10.0,
                   where: Callable[[dict[str, Any]], bool] = lambda e: True) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events():
                if e.get("event") == name and where(e):
                    return e
            time.sleep(0.05)
        raise TimeoutError(f"no {name} event in: {self.log_text()[-3000:]}")

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


def wait_for(check: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    """Poll ``check`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def events(router: RouterProcess, name: str) -> list[dict[str, Any]]:
    """The router's log events called ``name``, in order."""
    return [e for e in router.events() if e.get("event") == name]


def router_config(tmp: Path, password_hash: str, **overrides: Any) -> dict[str, Any]:
    """Accounts ``esme1``/``esme2`` (PASSWORD, loopback, exempt from the domestic check,
    vendor statuses so that tests see the precise refusal) and the in-process simulator."""
    cfg: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": free_port()},
        "store": {"path": str(tmp / "var" / "chapar.db"),
                  "registry_path": str(tmp / "var" / "registry.db")},
        # the follower in a thread: a second Python process per router would double
        # the start-up cost of every test (tests of the process mode ask for it)
        "records": {"path": str(tmp / "var" / "records.db"), "writer": "thread"},
        "accounts": [{"system_id": name, "password_hash": password_hash,
                      "allowed_ips": ["127.0.0.0/8", "::1"], "domestic_exempt": True,
                      "status_style": "vendor"}
                     for name in ("esme1", "esme2")],
        "lines": [{"number": number, "account": account, "kind": "advertising"}
                  for account, numbers in LINES.items() for number in numbers],
        "simulator": {"enabled": True, "receipt_delay": 0.05},
        "dispatch": {"shutdown_timeout": 3.0, "retry_delay": 0.2},
        "log": {"level": "debug"},
        "admin": {"port": free_port()},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


@pytest.fixture
def make_router(tmp_path: Path, password_hash: str
                ) -> Iterator[Callable[..., RouterProcess]]:
    started: list[RouterProcess] = []

    def make(cli_args: tuple[str, ...] = (), ready: int = 1, **overrides: Any) -> RouterProcess:
        for attempt in range(3):
            router = RouterProcess(tmp_path, router_config(tmp_path, password_hash, **overrides),
                                   cli_args, ready)
            started.append(router)
            try:
                return router.start()
            except RuntimeError as e:
                # A port picked free can be taken by some connection's ephemeral port before
                # the router binds it: pick fresh ports, unless the test fixed them.
                if "address already in use" not in str(e) or attempt == 2:
                    raise
                router.log_path.unlink()
        raise AssertionError("unreachable")

    yield make
    for router in started:
        if router.proc is not None and router.proc.poll() is None:
            router.stop()


@pytest.fixture
def router(make_router: Callable[..., RouterProcess]) -> RouterProcess:
    """A router on the built-in simulator, accounts esme1 and esme2."""
    return make_router()


@pytest.fixture
def router_each_store(make_router: Callable[..., RouterProcess],
                      store_backend: dict[str, Any]) -> RouterProcess:
    """``router`` on each store backend in turn: SQLite, then a real PostgreSQL."""
    return make_router(store=store_backend)


@dataclass
class Sink:
    proc: subprocess.Popen[bytes]
    port: int
    record: Path | None

    def stats(self) -> dict[str, Any]:
        """Stop the sink and return its JSON summary."""
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=10)
        line: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return line

    def records(self, pause: float = 0.3) -> list[dict[str, Any]]:
        """What the sink recorded so far (``record=True``): it flushes on SIGUSR1 and is
        given ``pause`` seconds to do so; a last line it is still writing is left out."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(pause)
        assert self.record is not None
        if not self.record.exists():
            return []
        complete = self.record.read_text().rpartition("\n")[0]  # the sink may be mid-line
        return [json.loads(line) for line in complete.splitlines() if line]


@pytest.fixture
def make_sink(tmp_path: Path) -> Iterator[Callable[..., Sink]]:
    """The C carrier sink from ../shared/tools (built by tests/run.sh)."""
    sinks: list[Sink] = []

    def make(*args: str, record: bool = False, duration: int = 120) -> Sink:
        if not SMPPSINK.exists():
            pytest.fail(f"{SMPPSINK} missing: run tests through tests/run.sh")
        port_file = tmp_path / f"sink{len(sinks)}.port"
        rec = tmp_path / f"sink{len(sinks)}.jsonl" if record else None
        cmd = [str(SMPPSINK), "--port", "0", "--port-file", str(port_file),
               "--duration", str(duration), *args]
        if rec is not None:
            cmd += ["--record", str(rec)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not port_file.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("smppsink did not start")
            time.sleep(0.02)
        sink = Sink(proc, int(port_file.read_text()), rec)
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        if sink.proc.poll() is None:
            sink.proc.kill()
            sink.proc.wait()


P = TypeVar("P", bound="Path | Postgres")


def seed_registry(path: P) -> P:
    """A registry at ``path`` (a file, or PostgreSQL) with accounts ``acme`` and ``bank``
    (placeholder hashes: nothing binds), for the line and list tests."""
    from router.model.accounts import Account
    from router.store.registry import Registry

    reg = Registry(path)
    for sid in ("acme", "bank"):
        reg.add_account(Account(system_id=sid, password_hash="$argon2id$x"))
    reg.close()
    return path


def read_report(path: Path) -> list[tuple[int, str, str]]:
    """The rows of a rejection report (router.ingest.report): row, value, reason."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["row", "value", "reason"]
    return [(int(r[0]), r[1], r[2]) for r in rows[1:]]


def check_report(path: Path, expected: list[tuple[int, str, str]]) -> None:
    """Every rejected row in order: row number, value as written, words of the reason."""
    got = read_report(path)
    assert [(r, v) for r, v, _ in got] == [(r, v) for r, v, _ in expected], got
    for (row, _, reason), (_, _, words) in zip(got, expected, strict=True):
        assert words in reason, (row, reason, words)


from tests.postgres import (  # noqa: E402
    journal_place,
    pg_dsn,
    pg_outage,
    postgresql_cluster,
    postgresql_outage_cluster,
    registry_place,
    store_backend,
)

__all__ = ["journal_place", "pg_dsn", "pg_outage", "postgresql_cluster",
           "postgresql_outage_cluster", "registry_place", "store_backend"]


@dataclass
class SharedRedis:
    """The session's redis-server and a key prefix of this test's own."""

    server: Any
    prefix: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.server.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.server.port, socket_timeout=5)


@pytest.fixture
def shared_redis(request: pytest.FixtureRequest) -> Iterator[SharedRedis]:
    """Redis for one test (keys under a prefix of its own); a test that stopped the
    server leaves it started again."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip(f"{REDIS_SERVER} missing: tests/run.sh installs Debian's redis-server")
    server = request.getfixturevalue("redis_server")
    shared = SharedRedis(server, f"t{os.getpid()}{time.monotonic_ns()}")
    yield shared
    if not server.running():
        server.start()


Pair = tuple[RouterProcess, RouterProcess]


@pytest.fixture
def make_pair(make_router: Callable[..., RouterProcess], tmp_path: Path,
              shared_redis: SharedRedis) -> Iterator[Callable[..., Pair]]:
    """Router A (``make_router``) and router B: the same config and registry, a journal
    (and so a ledger) and ports of its own, both on the test's Redis keys.  With
    ``store={"backend": "postgres", …}`` they are two nodes on one PostgreSQL: one
    registry, a journal schema each."""
    started: list[RouterProcess] = []

    def make(redis: dict[str, Any] | None = None, **overrides: Any) -> Pair:
        settings = {"url": shared_redis.url, "prefix": shared_redis.prefix, **(redis or {})}
        a = make_router(redis=settings, **overrides)
        workdir = tmp_path / "b"
        workdir.mkdir()
        cfg = copy.deepcopy(a.config)
        cfg["listen"]["port"] = free_port()
        cfg["admin"]["port"] = free_port()
        cfg["store"]["path"] = str(workdir / "var" / "chapar.db")
        if cfg["store"].get("backend") == "postgres":
            cfg["store"]["journal_schema"] = "node_b"
        if "records" in cfg:  # records follow a journal: B's of its own
            cfg["records"]["path"] = str(workdir / "var" / "records.db")
        b = RouterProcess(workdir, cfg)
        started.append(b)
        b.start(timeout=60)  # two routers and a Redis on a busy machine
        for router in (a, b):
            router.wait_event("limits_shared", timeout=30)
        return a, b

    yield make
    for router in started:
        if router.proc is not None and router.proc.poll() is None:
            router.stop(timeout=60)
