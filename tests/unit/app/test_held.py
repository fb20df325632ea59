"""The quarantine poll (router/app/held.py) when its store cannot answer: a decision is
acted on once, even when marking it failed, and the poll goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from router.app import held
from router.store.errors import StoreError
from router.store.quarantine import Held


def _held(message_id: int) -> Held:
    return Held(message_id, "acme", 1.0, "c", "r", b"x", "released", 2.0, False)


class _Flaky:
    """Two decisions; reads and marks fail now and then (PostgreSQL going away)."""

    def __init__(self, path: object) -> None:
        self.rows = {1: _held(1), 2: _held(2)}
        self.failures = {"undispatched": [True, False, False, False],
                         "mark": [True, True, False]}

    def _fail(self, what: str) -> None:
        if self.failures[what] and self.failures[what].pop(0):
            raise StoreError(f"postgres: {what} failed")

    def undispatched(self) -> list[Held]:
        self._fail("undispatched")
        return list(self.rows.values())

    def mark_dispatched(self, ids: list[int]) -> None:
        self._fail("mark")
        for message_id in ids:
            self.rows.pop(message_id, None)

    def close(self) -> None:
        pass


def test_a_failing_store_delays_decisions_and_never_repeats_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[list[int]] = []
    monkeypatch.setattr(held, "QuarantineStore", _Flaky)
    monkeypatch.setattr(held, "_apply",
                        lambda decided, *_: applied.append([h.message_id for h in decided]))

    async def run() -> None:
        args: list[Any] = [None] * 4
        task = asyncio.create_task(held.apply_decisions(Path("q"), *args, interval=0.001))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert applied == [[1, 2]]  # acted on once, though marking failed twice
