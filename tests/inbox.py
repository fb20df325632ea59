"""Shared by the receipt-queue tests: the queue as the journal has it, waiting, and a
restart of the same router."""

from __future__ import annotations

import sqlite3

from router.store import inbox
from tests.conftest import RouterProcess, wait_for


def queued_in_journal(router: RouterProcess) -> list[inbox.Queued]:
    """The receipt queue as the journal has it (read beside the running router)."""
    db = sqlite3.connect(router.config["store"]["path"], timeout=5)
    try:
        return inbox.load(db).queued
    finally:
        db.close()


def restart(router: RouterProcess) -> None:
    """Start the stopped router again (same config, same journal) and wait until this
    run listens (the log file keeps the last run's lines)."""
    runs = sum(1 for e in router.events() if e.get("event") == "listening")
    router.start()
    assert wait_for(lambda: sum(1 for e in router.events()
                                if e.get("event") == "listening") > runs, 15, 0.05)
