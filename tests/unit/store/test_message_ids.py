"""Message ids: unique across the workers of ``chapar run --workers N`` taking ids at the
same moments (each in its own milliseconds' blocks), consecutive within a batch."""

from __future__ import annotations

import time

from router.store.ids import BLOCK, MessageIds


def test_workers_taking_ids_at_once_never_share_one() -> None:
    """requirements §4 (a record per message, found by its id): two or three workers
    issuing batches in the same milliseconds give every message an id of its own."""
    for count in (2, 3):
        workers = [MessageIds(0, index, count) for index in range(count)]
        taken: list[set[int]] = [set() for _ in workers]
        deadline = time.monotonic() + 0.05
        sizes = [1, 7, 64, 300, 4000]
        rounds = 0
        while time.monotonic() < deadline or rounds < 50:
            for index, ids in enumerate(workers):
                size = sizes[(rounds + index) % len(sizes)]
                first = ids.take(size)
                assert (first >> 16) % count == index
                assert (first % BLOCK) + size <= BLOCK  # one block: never another's
                taken[index].update(range(first, first + size))
            rounds += 1
        everything = set().union(*taken)
        assert len(everything) == sum(len(t) for t in taken), f"{count} workers shared ids"


def test_one_process_keeps_its_ids_as_before() -> None:
    """Single mode: consecutive ids from the clock's floor, resuming above the last."""
    ids = MessageIds(0)
    first = ids.take(10)
    assert ids.take(5) == first + 10
    assert abs((first >> 16) - time.time() * 1000) < 1000
    ahead = MessageIds(first + 10 ** 9)
    assert ahead.take(1) == first + 10 ** 9 + 1


def test_a_worker_resumes_above_its_journal_in_a_block_of_its_own() -> None:
    last = (int(time.time() * 1000) + 10_000) << 16  # the counter had run ahead
    ids = MessageIds(last, 1, 2)
    first = ids.take(3)
    assert first > last and (first >> 16) % 2 == 1
    assert ids.peek() == first + 3
