"""The registry: accounts, change feed, locks, audit; on each backend (SQLite, and a
real PostgreSQL: ``registry_place``)."""

from __future__ import annotations

import ipaddress
import threading

import pytest

from router.model.accounts import Account, AuditEntry
from router.model.ranges import ParsedFile
from router.store.registry import Registry, RegistryError
from router.store.settings import Place


def test_accounts_round_trip_and_changes(registry_place: Place) -> None:
    reg = Registry(registry_place)
    other = Registry(registry_place)  # the router's connection
    version = other.data_version()
    reg.add_account(Account(system_id="a", password_hash="$argon2id$x", max_binds=2,
                            allowed_ips=("127.0.0.1/32", "::1/128"), bind_types=("tx",)))
    got = other.get_account("a")
    assert got is not None and got.allowed_ips == ("127.0.0.1/32", "::1/128")
    assert got.bind_types == ("tx",) and got.max_binds == 2
    assert other.data_version() != version  # the watcher's cheap signal
    reg.update_account("a", status="suspended")
    assert [(k, key) for _, k, key in other.changes_since(0)] == [("account", "a")] * 2
    with pytest.raises(RegistryError, match="exists"):
        reg.add_account(Account(system_id="a", password_hash="h"))


def test_terminated_is_final(registry_place: Place) -> None:
    reg = Registry(registry_place)
    reg.add_account(Account(system_id="a", password_hash="h"))
    reg.update_account("a", status="terminated")
    with pytest.raises(RegistryError, match="terminated"):
        reg.update_account("a", status="active")
    with pytest.raises(RegistryError, match="no account"):
        reg.update_account("zz", status="active")


def test_seed_does_not_overwrite(registry_place: Place) -> None:
    reg = Registry(registry_place)
    assert reg.seed_accounts([Account(system_id="a", password_hash="h1")]) == ["a"]
    reg.update_account("a", password_hash="h2")
    assert reg.seed_accounts([Account(system_id="a", password_hash="h1")]) == []
    got = reg.get_account("a")
    assert got is not None and got.password_hash == "h2"


class _LateToLook(Registry):
    """A worker that looked before another worker's insert and inserts after it."""

    def __init__(self, path: Place) -> None:
        super().__init__(path)
        self.looked = False

    def get_account(self, system_id: str) -> Account | None:
        if not self.looked:
            self.looked = True
            return None
        return super().get_account(system_id)


def test_two_workers_seeding_at_once_both_start(registry_place: Place) -> None:
    """--workers: each worker seeds the shared registry at start; the one that loses the
    race for an account finds it seeded and goes on (it raised "exists already" and died)."""
    first = Registry(registry_place)
    late = _LateToLook(registry_place)
    assert first.seed_accounts([Account(system_id="a", password_hash="h1")]) == ["a"]
    assert late.seed_accounts([Account(system_id="a", password_hash="h1")]) == []
    with pytest.raises(RegistryError, match="exists already"):
        first.add_account(Account(system_id="a", password_hash="h1"))  # still an error


def test_locks_and_audit(registry_place: Place) -> None:
    reg = Registry(registry_place)
    reg.set_lock("ip:1.2.3.4", 200.0, "5 failures")
    assert reg.locks(100.0) == {"ip:1.2.3.4": 200.0}
    assert reg.locks(300.0) == {}
    assert reg.clear_lock("ip:1.2.3.4") and not reg.clear_lock("ip:1.2.3.4")
    reg.audit([AuditEntry(1.0, "127.0.0.1:5", "a", "trx", "refused", "wrong password",
                          0x0D, "v1")])
    assert [e.reason for e in reg.audit_log(5)] == ["wrong password"]


def test_a_change_committed_late_is_not_skipped(registry_place: Place) -> None:
    """Change seqs become visible in commit order: while one writer's transaction holds
    its change, another writer waits, so a watcher that read up to seq N never sees a
    smaller seq commit after it (PostgreSQL: the change_version row's lock; SQLite: its
    one writer at a time)."""
    first, second, watcher = (Registry(registry_place) for _ in range(3))
    first.add_account(Account(system_id="a", password_hash="h"))
    first.add_account(Account(system_id="b", password_hash="h"))
    seen = watcher.last_change()
    done = threading.Event()

    def later() -> None:
        second.update_account("b", status="suspended")
        done.set()

    with first._tx() as db:
        first._changed(db, "account", "a")
        thread = threading.Thread(target=later)
        thread.start()
        assert not done.wait(0.5)  # waits for the first transaction
        assert watcher.changes_since(seen) == []
    thread.join(10)
    assert done.is_set()
    assert [key for _, _, key in watcher.changes_since(seen)] == ["a", "b"]
    for reg in (first, second, watcher):
        reg.close()


def test_domestic_ranges_versions(registry_place: Place) -> None:
    """Each import is a new version, the newest in use; its change reaches the router."""
    reg = Registry(registry_place)
    assert reg.current_ranges() is None
    seen = reg.last_change()
    lo, hi = (int(ipaddress.IPv4Address(ip)) for ip in ("5.0.0.0", "5.0.0.255"))
    files = [ParsedFile("delegated-ripencc", "ripencc", "20261130", "", [(lo, hi)], [])]
    version = reg.save_ranges(files, ["IR"])
    again = reg.save_ranges(files, ["IR"])  # within the same second: replaced, not two
    ranges = reg.current_ranges()
    assert ranges is not None and ranges.version == again
    assert "5.0.0.7" in ranges and "5.0.1.7" not in ranges
    assert [(v, c, n4, n6) for v, _, c, n4, n6 in reg.ranges_versions()] == [
        (v, "IR", 1, 0) for v in dict.fromkeys([version, again])]
    assert [(k, key) for _, k, key in reg.changes_since(seen)] == [
        ("ranges", version), ("ranges", again)]
    reg.close()
