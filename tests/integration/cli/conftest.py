"""Fixtures of the registry command tests: a registry with accounts ``acme`` and ``bank``
and a config file naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from router.store.settings import Place, StoreSettings
from tests.conftest import ROOT, seed_registry


@pytest.fixture
def registry_path(tmp_path: Path, store_backend: dict[str, Any]) -> Place:
    """The registry, on each backend in turn (SQLite, a real PostgreSQL); the name is
    older than the PostgreSQL registry."""
    return seed_registry(_store(tmp_path, store_backend).registry())


def _store(tmp_path: Path, backend: dict[str, Any]) -> StoreSettings:
    return StoreSettings(path=str(tmp_path / "var" / "chapar.db"),
                         registry_path=str(tmp_path / "var" / "registry.db"), **backend)


@pytest.fixture
def config(tmp_path: Path, registry_path: Place, store_backend: dict[str, Any]) -> Path:
    store = _store(tmp_path, store_backend)
    path = tmp_path / "chapar.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"path": store.path, "registry_path": store.registry_path,
                          **store_backend},
                "simulator": {"enabled": True},
                "policy": {"prefixes_dir": str(ROOT / "config" / "prefixes")},
            }
        )
    )
    return path
