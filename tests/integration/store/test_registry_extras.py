"""The registry's other stores on each backend (SQLite, and a real PostgreSQL:
``registry_place``): limits and quota usage, API keys, the HTTP API's client refs."""

from __future__ import annotations

import pytest

from router.model.limits import Limit
from router.store.api_keys import ApiKeyStore
from router.store.client_refs import PENDING, ClientRefStore
from router.store.limits import LimitStore
from router.store.registry import Registry, RegistryError
from router.store.settings import Place
from tests.conftest import seed_registry


def test_limits_seed_set_and_usage(registry_place: Place) -> None:
    store = LimitStore(registry_place)
    seen = Registry(registry_place)
    before = seen.last_change()
    assert store.seed([("account", "acme", Limit(rate=10, burst=20)),
                       ("line", "1000", Limit())]) == 1  # an empty limit is no row
    assert store.seed([("account", "acme", Limit(rate=99))]) == 0  # YAML never overwrites
    assert store.set_limit("account", "acme", daily=500) == Limit(10.0, 20, 500, 0)
    assert store.get("account", "acme") == Limit(10.0, 20, 500, 0)
    assert store.book().by_scope("account")["acme"] == Limit(10.0, 20, 500, 0)
    with pytest.raises(RegistryError, match="scope"):
        store.set_limit("planet", "x", rate=1)
    assert [k for _, k, _ in seen.changes_since(before)] == ["limits", "limits"]
    store.add_usage([("acme", "d:2026-11-30", 7), ("acme", "m:2026-11", 7)])
    store.add_usage([("acme", "d:2026-11-30", 3)])
    assert store.usage(["d:2026-11-30", "m:2026-11", "d:2026-12-01"]) == {
        ("acme", "d:2026-11-30"): 10, ("acme", "m:2026-11"): 7}
    assert store.usage([]) == {}
    store.close()
    seen.close()


def test_api_keys_and_client_refs(registry_place: Place) -> None:
    seed_registry(registry_place)
    keys = ApiKeyStore(registry_place)
    key, whole = keys.add("acme", "panel")
    assert whole and [k.key_id for k in keys.keys("acme")] == [key.key_id]
    with pytest.raises(RegistryError, match="no account"):
        keys.add("nobody")
    assert keys.revoke(key.key_id).revoked_at is not None
    with pytest.raises(RegistryError, match="revoked already"):
        keys.revoke(key.key_id)
    keys.close()
    refs = ClientRefStore(registry_place)
    assert refs.claim("acme", "r1") is None  # the first: claimed
    assert refs.claim("acme", "r1") == PENDING  # the same again before its answer
    refs.answer("acme", "r1", b'{"ok": 1}')
    assert refs.claim("acme", "r1") == b'{"ok": 1}'
    assert refs.claim("acme", "r2", peek=True) is None
    assert refs.claim("acme", "r2") is None
    refs.release("acme", "r2")
    assert refs.claim("acme", "r2", peek=True) is None
    assert refs.purge(older_than=2e9) == 1
    refs.close()
