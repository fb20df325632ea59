"""The registry watcher's poll (router/app/changes.py) when the registry stops answering
half-way: no change is lost, the one that failed included."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from router.app.changes import RegistryWatcher
from router.server.state import ServerState
from router.store.errors import StoreError


class _Registry:
    def __init__(self) -> None:
        self.version = 1
        self.changes = [(1, "account", "a"), (2, "account", "b"), (3, "line", "1000")]

    def data_version(self) -> int:
        return self.version

    def last_change(self) -> int:
        return 0

    def changes_since(self, seq: int) -> list[tuple[int, str, str]]:
        return [c for c in self.changes if c[0] > seq]


def test_a_change_that_failed_is_applied_at_the_next_poll() -> None:
    registry = _Registry()
    watcher = RegistryWatcher(SimpleNamespace(registry=registry),  # type: ignore[arg-type]
                              ServerState())
    applied: list[str] = []
    failing = {"b"}

    def apply(kind: str, key: str) -> None:
        if key in failing:
            failing.discard(key)
            raise StoreError("postgres: not connected (reconnecting)")
        applied.append(key)

    watcher.apply = apply  # type: ignore[method-assign]
    registry.version = 2  # the CLI committed three changes
    with pytest.raises(StoreError):
        watcher.poll()
    watcher.poll()  # the same version: the watcher has not seen it through yet
    assert applied == ["a", "b", "1000"]
    watcher.poll()
    assert applied == ["a", "b", "1000"]  # nothing twice once seen through
