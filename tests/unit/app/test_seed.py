"""router.app.seed on a registry file in a temporary directory (no sockets): the demo
account lives on the embedded defaults only."""

from __future__ import annotations

from pathlib import Path

import pytest

from router import config as config_mod
from router.app.seed import is_embedded_default, retire_demo, seed_registry
from router.app.workers import for_worker
from router.config import Config
from router.store.lines import LineStore
from router.store.registry import Registry

DEMO_HASH = "$argon2id$v=19$m=65536,t=3,p=4$placeholder"  # never verified here


def file_config(registry: Path, **extra: object) -> Config:
    return config_mod.parse({
        "store": {"registry_path": str(registry)},
        "accounts": [{"system_id": "esme1", "password_hash": DEMO_HASH}],
        "simulator": {"enabled": True},
        **extra,
    }, source="test.yaml")


def seed(config: Config, path: Path) -> Registry:
    registry = Registry(path)
    lines = LineStore(path)
    seed_registry(config, registry, lines)
    lines.close()
    return registry


def test_embedded_default_is_recognised(tmp_path: Path) -> None:
    assert is_embedded_default(config_mod.embedded_default(DEMO_HASH))
    assert not is_embedded_default(file_config(tmp_path / "r.db"))
    assert not is_embedded_default(Config(simulator=config_mod.SimulatorSettings(enabled=True)))
    # --workers: a worker's share (its own paths) is still the embedded default
    assert is_embedded_default(for_worker(config_mod.embedded_default(DEMO_HASH), 1, 2))
    with pytest.raises(config_mod.ConfigError, match="embedded"):
        config_mod.parse({"embedded": True, "simulator": {"enabled": True}})


def test_config_file_suspends_the_demo_an_embedded_run_left(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    registry = seed(config_mod.embedded_default(DEMO_HASH), path)
    demo = registry.get_account("demo")
    assert demo is not None and demo.demo and demo.status == "active"
    registry.close()

    registry = seed(file_config(path), path)
    demo = registry.get_account("demo")
    assert demo is not None and demo.status == "suspended"
    esme = registry.get_account("esme1")
    assert esme is not None and esme.status == "active"
    assert retire_demo(registry, file_config(path)) == []  # already suspended
    registry.close()

    # the embedded defaults again: the demo stays suspended (an operator resumes it)
    registry = seed(config_mod.embedded_default(DEMO_HASH), path)
    demo = registry.get_account("demo")
    assert demo is not None and demo.status == "suspended"
    registry.close()


def test_config_file_does_not_create_a_demo_account(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    config = file_config(path, accounts=[
        {"system_id": "esme1", "password_hash": DEMO_HASH},
        {"system_id": "demo", "password_hash": DEMO_HASH, "demo": True},
    ])
    registry = seed(config, path)
    assert registry.get_account("demo") is None
    assert [a.system_id for a in registry.accounts()] == ["esme1"]
    registry.close()
