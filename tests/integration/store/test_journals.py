"""``store/journals.py``: the CLI's ledger and quarantine commands find every journal of
a config, its own and those of ``chapar run --workers`` (worker I's file or schema is
made by ``for_worker``), on both backends."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from router.app.workers import for_worker
from router.config import Config
from router.store.journals import journals
from router.store.ledger import Ledger
from router.store.settings import Postgres, StoreSettings


def test_every_journal_of_the_workers_is_found(tmp_path: Path,
                                               store_backend: dict[str, Any]) -> None:
    """Worker journals are found by the names ``--workers`` gives them (w0…w11, in
    number order), whichever exist; a name that only looks alike is not one."""
    store = StoreSettings(path=str(tmp_path / "chapar.db"), **store_backend)
    config = Config(store=store)
    assert [j.name for j in journals(store)] == ["own"]
    for index in (0, 1, 11):
        Ledger(for_worker(config, index).store.journal()).close()  # the schema or file
    decoy = dataclasses.replace(store, path=str(tmp_path / "chapar.wx.db"),
                                journal_schema="chapar_wx")
    Ledger(decoy.journal()).close()
    found = journals(store)
    assert [j.name for j in found] == ["own", "w0", "w1", "w11"]
    assert found[3][1] == for_worker(config, 11).store.journal()
    if store_backend:
        assert isinstance(found[1][1], Postgres) and found[1][1].schema == "chapar_w0"


def test_only_worker_0_reads_the_configs_own_ledger() -> None:
    """The topups `chapar billing topup` writes to the config's own ledger are read by
    exactly one process: worker 0 (``front``), else they would count once a worker."""
    config = Config(store=StoreSettings(path="var/chapar.db"))
    assert for_worker(config, 0).store.front_journal() == Path("var/chapar.db")
    assert for_worker(config, 1).store.front_journal() is None
    assert config.store.front_journal() is None
