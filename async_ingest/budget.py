"""One memory budget shared by every file in flight: part buffers are paid for before they are filled."""

from __future__ import annotations

import asyncio
from collections import deque


class MemoryBudget:
    """A byte-counting semaphore, first come first served (a big request is not starved by small ones).

    acquire() before filling a buffer; release() (synchronous, so it can run in a task's done
    callback, even for a task cancelled before it started) when the buffer is acknowledged. A request
    larger than the whole budget is clamped to it, so one huge part can still proceed, alone.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("memory budget must be positive")
        self.capacity = capacity
        self._available = capacity
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self.peak_in_use = 0

    @property
    def in_use(self) -> int:
        return self.capacity - self._available

    async def acquire(self, size: int) -> int:
        """Wait until size bytes (clamped to capacity) are free; return the amount taken."""
        size = min(max(size, 1), self.capacity)
        if not self._waiters and self._available >= size:
            self._take(size)
            return size
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((size, granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release(size)  # granted just as we were cancelled: give it back
            self._wake()
            raise
        return size

    def release(self, size: int) -> None:
        self._available = min(self.capacity, self._available + size)
        self._wake()

    def _take(self, size: int) -> None:
        self._available -= size
        self.peak_in_use = max(self.peak_in_use, self.in_use)

    def _wake(self) -> None:
        while self._waiters:
            size, granted = self._waiters[0]
            if granted.done():  # cancelled waiter
                self._waiters.popleft()
                continue
            if self._available < size:
                return
            self._waiters.popleft()
            self._take(size)
            granted.set_result(None)
