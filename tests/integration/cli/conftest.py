"""Fixtures of the registry command tests: a registry with accounts ``acme`` and ``bank``
and a config file naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, seed_registry


@pytest.fixture
def registry_path(tmp_path: Path) -> Path:
    return seed_registry(tmp_path / "var" / "registry.db")


@pytest.fixture
def config(tmp_path: Path, registry_path: Path) -> Path:
    path = tmp_path / "chapar.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "store": {
                    "path": str(tmp_path / "var" / "chapar.db"),
                    "registry_path": str(registry_path),
                },
                "simulator": {"enabled": True},
                "policy": {"prefixes_dir": str(ROOT / "config" / "prefixes")},
            }
        )
    )
    return path
