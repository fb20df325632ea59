"""The worker's share of the config and its place: its own journal file and admin port,
the shared registry untouched; ``--workers`` and the inherited sockets parsed."""

from __future__ import annotations

import dataclasses

import pytest

from router.app.workers import FDS_ENV, WorkerSlot, count_of, for_worker
from router.config import Config, ConfigError, parse
from router.store.settings import Postgres


def test_each_worker_has_its_journal_and_admin_port() -> None:
    base = Config()
    base = dataclasses.replace(base, store=dataclasses.replace(
        base.store, path="var/chapar.db", registry_path="var/registry.db"))
    one = for_worker(base, 1)
    assert (one.store.path, one.store.registry_path) == ("var/chapar.w1.db", "var/registry.db")
    assert one.admin.port == base.admin.port + 1
    assert for_worker(base, 0).store.path == "var/chapar.w0.db"
    free = dataclasses.replace(base, admin=dataclasses.replace(base.admin, port=0))
    assert for_worker(free, 3).admin.port == 0  # a free port each
    # a records file follows one journal (its cursor is that journal's)
    assert one.records.path == "var/records.w1.db"


def test_on_postgresql_each_worker_has_a_journal_schema_and_shares_the_registry() -> None:
    """As each worker has its journal file with SQLite: worker I's journal, records,
    ledger and quarantine are in the schema chapar_wI (or <journal_schema>_wI); the
    registry stays where the CLI writes it."""
    base = parse({"store": {"backend": "postgres", "dsn": "postgresql://u@h/d"},
                  "simulator": {"enabled": True}}, "c.yaml")
    one = for_worker(base, 1)
    assert one.store.journal() == Postgres("postgresql://u@h/d", 5.0, "chapar_w1")
    assert one.store.registry() == base.store.registry() == Postgres("postgresql://u@h/d")
    node = dataclasses.replace(base, store=dataclasses.replace(base.store,
                                                               journal_schema="node2"))
    assert for_worker(node, 0).store.journal_schema == "node2_w0"
    with pytest.raises(ConfigError, match=r"store\.journal_schema: 'a;drop' is not"):
        parse({"store": {"backend": "postgres", "dsn": "postgresql://u@h/d",
                         "journal_schema": "a;drop"}, "simulator": {"enabled": True}},
              "c.yaml")
    # a worker's schema, or the base of the default's workers: another node naming it
    # would write into that worker's journal
    for kept in ("chapar", "node2_w0", "chapar_w1"):
        with pytest.raises(ConfigError, match="kept for `chapar run --workers`"):
            parse({"store": {"backend": "postgres", "dsn": "postgresql://u@h/d",
                             "journal_schema": kept}, "simulator": {"enabled": True}}, "c.yaml")
    assert parse({"store": {"backend": "postgres", "dsn": "postgresql://u@h/d",
                            "journal_schema": "node_wx"}, "simulator": {"enabled": True}},
                 "c.yaml").store.journal_schema == "node_wx"


def test_worker_count() -> None:
    assert count_of("3") == 3
    assert count_of("auto") >= 1
    for bad in ("0", "-1", "many", "257", ""):
        with pytest.raises(ValueError, match="--workers"):
            count_of(bad)


def test_slot_from_the_command_line_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FDS_ENV, "plain=5,6;tls=7")
    slot = WorkerSlot.parse("1/4", "inherit")
    assert (slot.index, slot.count, slot.share) == (1, 4, "inherit")
    assert (slot.plain_fds, slot.tls_fds) == ((5, 6), (7,))
    monkeypatch.delenv(FDS_ENV)
    assert WorkerSlot.parse("0/2", "reuseport").plain_fds == ()
