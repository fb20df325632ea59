"""``within``: a stop's bounded wait ends on time even when the work swallows its cancel."""

from __future__ import annotations

import asyncio
import time

import pytest

from router.timer import within


async def _stubborn(ended: list[bool]) -> None:
    """Ignores the first cancel, as a client with a cancel race does, then ends."""
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        await asyncio.sleep(0.5)
        ended.append(True)


def test_work_that_ends_in_time_gives_its_result() -> None:
    async def main() -> int:
        return await within(asyncio.sleep(0.01, result=7), 1.0)

    assert asyncio.run(main()) == 7


def test_work_that_swallows_its_cancel_does_not_hold_the_caller() -> None:
    """asyncio.wait_for waits the stubborn work's 0.5 s out after the timeout; within
    returns at the timeout and lets the work end on its own."""
    ended: list[bool] = []

    async def main() -> float:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await within(_stubborn(ended), 0.1)
        took = time.monotonic() - started
        await asyncio.sleep(0.7)  # the work ends by itself, nothing left unretrieved
        return took

    assert asyncio.run(main()) < 0.4
    assert ended == [True]


def test_an_error_of_the_work_is_raised() -> None:
    async def fails() -> None:
        raise OSError("refused")

    with pytest.raises(OSError, match="refused"):
        asyncio.run(within(fails(), 1.0))


def test_the_callers_cancel_reaches_the_work() -> None:
    cancelled: list[bool] = []

    async def work() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        caller = asyncio.ensure_future(within(work(), 5.0))
        await asyncio.sleep(0.05)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await asyncio.sleep(0)

    asyncio.run(main())
    assert cancelled == [True]
