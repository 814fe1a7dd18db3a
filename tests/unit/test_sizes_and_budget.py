import asyncio

import pytest

from async_ingest.pipeline.budget import MemoryBudget
from async_ingest.units import MiB, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [("8MiB", 8 * MiB), ("8M", 8 * MiB), ("8 mb", 8 * MiB), ("5242880", 5 * MiB), ("1.5k", 1536)],
)
def test_human_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_bad_size() -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


async def test_budget_blocks_until_released() -> None:
    budget = MemoryBudget(10)
    assert await budget.acquire(6) == 6
    waiter = asyncio.create_task(budget.acquire(6))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    budget.release(6)
    assert await asyncio.wait_for(waiter, 1) == 6
    assert budget.peak_in_use == 6
    # More than the whole budget is clamped, so a huge part still proceeds alone.
    budget.release(6)
    assert await budget.acquire(100) == 10


async def test_a_cancelled_waiter_does_not_hold_budget() -> None:
    budget = MemoryBudget(10)
    await budget.acquire(10)
    waiter = asyncio.create_task(budget.acquire(4))
    await asyncio.sleep(0.01)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    budget.release(10)
    assert budget.in_use == 0
    assert await budget.acquire(10) == 10


async def test_waiters_are_served_in_order() -> None:
    budget = MemoryBudget(10)
    await budget.acquire(10)
    big = asyncio.create_task(budget.acquire(8))
    await asyncio.sleep(0)
    small = asyncio.create_task(budget.acquire(1))
    await asyncio.sleep(0.01)
    budget.release(2)  # enough for small, but big asked first
    await asyncio.sleep(0.01)
    assert not big.done() and not small.done()
    budget.release(8)
    assert await big == 8 and await small == 1
