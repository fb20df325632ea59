"""Which journals a worker layout leaves behind, and how a refusal names them (SQLite
files in a temp folder; the refusal itself on real router processes:
tests/integration/app/test_layout.py)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from router.app import layout
from router.app.workers import for_worker, with_retired
from router.config import Config, ConfigError, parse
from router.model.wallets import LedgerRow
from router.store.journal import SqliteJournal
from router.store.journals import journals
from router.store.ledger import Ledger, retired_sums


def _config(tmp_path: Path, workers: int) -> Config:
    base = Config()
    config = dataclasses.replace(base, store=dataclasses.replace(
        base.store, path=str(tmp_path / "chapar.db"),
        registry_path=str(tmp_path / "registry.db")))
    for index in range(workers):
        SqliteJournal(Path(for_worker(config, index).store.path)).close()
    return config


def test_each_layout_leaves_the_journals_it_does_not_replay(tmp_path: Path) -> None:
    config = _config(tmp_path, 3)
    SqliteJournal(Path(config.store.path)).close()
    names = {n: [j.name for j in layout.outside(config.store, n)] for n in (1, 2, 3, 4)}
    assert names == {1: ["w0", "w1", "w2"], 2: ["own", "w2"], 3: ["own"], 4: ["own"]}
    # the ledgers counted besides its own: worker journals only (the own is worker 0's
    # front)
    assert layout.retired(config.store, 1) == tuple(
        str(tmp_path / f"chapar.w{i}.db") for i in range(3))
    assert layout.retired(config.store, 2) == (str(tmp_path / "chapar.w2.db"),)
    assert with_retired(config, 3).store.retired == ()
    assert for_worker(config, 0, 2).store.retired == (str(tmp_path / "chapar.w2.db"),)
    assert for_worker(config, 1, 2).store.retired == ()
    found = journals(config.store)
    assert layout.command(found[0], found) == "`chapar run` without --workers"
    assert layout.command(found[2], found) == "`chapar run --workers 3`"


def test_a_journal_never_written_is_not_made_by_looking(tmp_path: Path) -> None:
    config = _config(tmp_path, 2)
    assert [j.name for j in layout.outside(config.store, 2)] == []
    assert not Path(config.store.path).exists()


def test_an_idle_journal_does_not_refuse_and_its_ledger_still_counts(tmp_path: Path) -> None:
    """requirements §5: the charges of a journal left behind stay in the balance."""
    config = _config(tmp_path, 2)
    journal = SqliteJournal(Path(for_worker(config, 1).store.path))
    journal.add_ledger([LedgerRow(time.time(), "esme1", "topup", 50, "", b"[]")])
    journal.commit()
    journal.close()
    assert layout.refusal(config, 1) is None
    left = layout.leftover(config, journals(config.store)[2])
    assert not left.busy and left.counts() == ""
    with Ledger(Path(for_worker(config, 1).store.path)) as ledger:
        assert ledger.balance("esme1") == 50
    assert retired_sums(with_retired(config, 1).store.retired_journals()) == {"esme1": 50}


def test_a_config_file_cannot_set_what_the_layout_sets() -> None:
    with pytest.raises(ConfigError, match=r"store\.front and store\.retired"):
        parse({"store": {"retired": ["x.db"]}, "simulator": {"enabled": True}}, "c.yaml")
