"""The bind decision without sockets: a real registry file, real argon2id, the real
registry writer (D8)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from router import config as config_mod
from router.app.seed import seed_registry
from router.model.accounts import Account
from router.policy.auth import Authenticator, hash_password
from router.policy.settings import AuthSettings
from router.smpp.pdu import CommandId
from router.store.lines import LineStore
from router.store.registry import Registry
from router.store.writer import RegistryWriter

TRX = CommandId.BIND_TRANSCEIVER
PASSWORD = "right123"


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


class Setup:
    def __init__(self, path: Path, password_hash: str, **auth: object) -> None:
        self.registry = Registry(path)
        for sid, id_lockout in (("shop", True), ("bank", False)):
            self.registry.add_account(Account(system_id=sid, password_hash=password_hash,
                                              allowed_ips=("10.0.0.1", "10.0.0.2"),
                                              domestic_exempt=True, id_lockout=id_lockout))
        self.writer = RegistryWriter(path)
        settings = AuthSettings(**{"lockout_failures": 3, **auth})  # type: ignore[arg-type]
        self.auth = Authenticator(self.registry, settings, lambda _: 0, self.writer)
        self.jobs: list[str] = []
        submit = self.writer.submit

        def counting(what: str, job):  # type: ignore[no-untyped-def]
            self.jobs.append(what)
            return submit(what, job)

        self.writer.submit = counting  # type: ignore[method-assign]

    async def bind(self, system_id: str, password: str, ip: str) -> tuple[int, str]:
        verdict = await self.auth.check(TRX, system_id, password, (ip, 40000))
        return verdict.status, verdict.reason

    def close(self) -> None:
        self.auth.close()
        self.writer.close()
        self.registry.close()


@pytest.fixture
def setup(tmp_path: Path, password_hash: str) -> Iterator[Setup]:
    s = Setup(tmp_path / "registry.db", password_hash)
    yield s
    s.close()


def test_refusals_outside_the_allow_list_count_towards_the_lockout(setup: Setup) -> None:
    async def run() -> list[tuple[int, str]]:
        return [await setup.bind("shop", "guess", f"192.0.2.{n}") for n in range(3)] + [
            await setup.bind("shop", PASSWORD, "10.0.0.1")]

    results = asyncio.run(run())
    assert results[0][1] == "source ip not in the account's allow list"
    assert results[-1] == (0x0D, "locked out (sid)")


def test_per_system_id_lockout_is_optional_per_account(setup: Setup) -> None:
    async def run(sid: str) -> tuple[int, str]:
        for _ in range(3):
            assert (await setup.bind(sid, "wrong", "10.0.0.2"))[1] == "wrong password"
        assert await setup.bind(sid, PASSWORD, "10.0.0.2") == (0x0D, "locked out (ip)")
        setup.auth.lockout.unlock("ip:10.0.0.2")
        return await setup.bind(sid, PASSWORD, "10.0.0.1")

    assert asyncio.run(run("shop")) == (0x0D, "locked out (sid)")
    assert asyncio.run(run("bank")) == (0, "ok")  # id_lockout off: only the address locks
    assert "sid:bank" not in setup.auth.lockout.locks()


def test_unknown_system_ids_cost_a_hash_like_a_wrong_password(tmp_path: Path,
                                                             password_hash: str) -> None:
    s = Setup(tmp_path / "r.db", password_hash, verify_cache_ttl=0, lockout_failures=100)
    hashed: list[str] = []
    import router.policy.auth as auth_mod

    real = auth_mod._verify

    def spy(password_hash: str, password: str) -> bool:
        hashed.append(password_hash)
        return real(password_hash, password)

    auth_mod._verify = spy
    try:
        assert asyncio.run(s.bind("ghost", "guess", "10.0.0.1"))[1] == "unknown system_id"
        assert asyncio.run(s.bind("shop", "guess", "10.0.0.9"))[0] == 0x0D  # not allowed
    finally:
        auth_mod._verify = real
        s.close()
    assert len(hashed) == 2 and hashed[0].startswith("$argon2id$")
    assert hashed[0] != password_hash  # the dummy, with the parameters of new hashes


def test_the_bind_audit_is_batched_through_the_writer(setup: Setup) -> None:
    """Attempts audited within AUDIT_EVERY go to the registry as one writer job.  The
    storm comes from a locked-out address: refused before any hash, so all 20 end within
    one loop turn whatever the machine's load (hashed binds end one hash apart)."""
    setup.auth.lockout.lock("ip:192.0.2.1", time.time() + 60)

    async def storm() -> None:
        await asyncio.gather(*(setup.bind("ghost", f"pw{n}", "192.0.2.1")
                               for n in range(20)))
        await asyncio.sleep(0.3)

    asyncio.run(storm())
    setup.writer.close()  # finishes the queued jobs
    assert setup.jobs.count("bind audit") == 1, setup.jobs
    assert len(setup.registry.audit_log(100)) == 20


def test_a_registry_from_before_id_lockout_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE accounts (system_id TEXT PRIMARY KEY, password_hash TEXT NOT "
               "NULL, status TEXT NOT NULL DEFAULT 'active', bind_types TEXT NOT NULL DEFAULT "
               "'tx,rx,trx', max_binds INTEGER NOT NULL DEFAULT 0, allowed_ips TEXT NOT NULL "
               "DEFAULT '[]', domestic_exempt INTEGER NOT NULL DEFAULT 0, status_style TEXT "
               "NOT NULL DEFAULT 'standard', demo INTEGER NOT NULL DEFAULT 0, created_at REAL "
               "NOT NULL, updated_at REAL NOT NULL)")
    db.execute("INSERT INTO accounts (system_id, password_hash, created_at, updated_at) "
               "VALUES ('old', 'h', 0, 0)")
    db.commit()
    db.close()
    reg = Registry(path)
    old = reg.get_account("old")
    assert old is not None and old.id_lockout
    reg.add_account(Account(system_id="new", password_hash="h", id_lockout=False))
    assert reg.update_account("old", id_lockout=False).id_lockout is False
    assert [a.id_lockout for a in reg.accounts()] == [False, False]
    reg.close()


def test_yaml_key_seeds_the_account(tmp_path: Path, password_hash: str) -> None:
    config = config_mod.parse({"simulator": {"enabled": True}, "accounts": [
        {"system_id": "a", "password_hash": password_hash, "id_lockout": False},
        {"system_id": "b", "password_hash": password_hash}]})
    registry = Registry(tmp_path / "r.db")
    lines = LineStore(tmp_path / "r.db")
    seed_registry(config, registry, lines)
    assert [(a.system_id, a.id_lockout) for a in registry.accounts()] == [("a", False),
                                                                            ("b", True)]
    registry.close()
    lines.close()
