"""One memory budget shared by every file in flight: part buffers are paid for before they are filled,
and reused once sent."""

from __future__ import annotations

import asyncio
import os
from collections import deque

# Smaller buffers come from the allocator's heap and cost nothing to reuse; larger ones are fresh
# mapped memory each time: 2,048 page faults and a zeroing per 8 MiB part (measured: ~1.5 s of
# kernel time per GiB uploaded), which a pooled buffer does not pay.
POOLED_MIN = 1024 * 1024


class MemoryBudget:
    """A byte-counting semaphore, first come first served (a big request is not starved by small ones).

    acquire() before filling a buffer; release() (synchronous, so it can run in a task's done
    callback, even for a task cancelled before it started) when the buffer is acknowledged. A request
    larger than the limit is clamped to it, so one huge part can still proceed, alone.

    capacity is the ceiling (--max-memory); limit, at most the capacity, is what may be in use now:
    the parts-in-flight controller moves it with the link (set_limit). A lower limit takes effect as
    buffers come back; nothing in use is taken away.
    """

    def __init__(self, capacity: int, limit: int | None = None) -> None:
        if capacity <= 0:
            raise ValueError("memory budget must be positive")
        self.capacity = capacity
        self.limit = capacity if limit is None else min(max(limit, 1), capacity)
        self.in_use = 0
        # Read-ahead (ParallelFiller's segment slots): paid from the capacity, granted only when free
        # right now and within the limit, never waited for; parts wait for it to come back only as
        # far as the capacity needs (see lend).
        self.lent = 0
        self._waiters: deque[tuple[int, asyncio.Future[int]]] = deque()
        self.peak_in_use = 0
        self._pool: list[bytearray] = []  # sent part buffers, kept for the next part of their size
        self._pooled = 0  # their bytes: free budget, but still memory

    async def take_buffer(self, size: int) -> bytearray:
        """A buffer of exactly size bytes, paid for: a pooled one if there is one, else a new one.

        Memory held by part buffers (in use plus pooled) never exceeds the limit by more than what is
        in use: before a new buffer is made, pooled buffers of other sizes are dropped as needed.
        """
        await self.acquire(size)
        for index in range(len(self._pool) - 1, -1, -1):
            if len(self._pool[index]) == size:
                self._pooled -= size
                return self._pool.pop(index)
        self._trim_pool(self.limit - size)
        return bytearray(size)

    def return_buffer(self, buffer: bytearray) -> None:
        """Give back a buffer from take_buffer() (synchronous, like release()). Pooled before the
        budget is released, so the waiter woken by the release finds it."""
        if len(buffer) >= POOLED_MIN and self.in_use + self._pooled <= self.limit:
            self._pool.append(buffer)
            self._pooled += len(buffer)
        self.release(len(buffer))

    @property
    def pooled(self) -> int:
        return self._pooled

    @property
    def waiting(self) -> bool:
        """Someone waits for budget: the limit, not the work, is what holds the run back now."""
        return any(not granted.done() for _, granted in self._waiters)

    def set_limit(self, limit: int) -> None:
        self.limit = min(max(limit, 1), self.capacity)
        self._trim_pool(self.limit - self.in_use)
        self._wake()

    async def acquire(self, size: int) -> int:
        """Wait until size bytes (clamped to the limit) are free; return the amount taken."""
        size = min(max(size, 1), self.limit)
        if not self._waiters and (self._fits(size) or self.in_use == 0):
            self._take(size)
            return size
        granted: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append((size, granted))
        try:
            return await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release(granted.result())  # granted just as we were cancelled: give it back
            self._wake()
            raise

    def lend(self, size: int, beside: int) -> bool:
        """Read-ahead: take size bytes if they fit the capacity now beside what is in use and `beside`
        more (a part of the borrowing file's own), and all loans together fit the limit. Never waits
        (False: no read-ahead). A part of the borrower is never stopped by its own loan: parts wait
        while what is in use, plus what is lent, exceeds the capacity, but never when nothing is in
        use (parts in flight always come back).

        Loans within the limit: the limit is what the parts-in-flight window lets the run hold, and
        files beyond it only wait for a part buffer; lent up to the capacity instead, 12 files each
        held a read-ahead (96 MiB, 16 x 16 MiB Windows-1252 files on loopback: 225 MB peak RSS, not
        ~130). Pooled buffers are memory too: dropped as needed to make room for the loan."""
        if self.lent + size > self.limit or self.in_use + self.lent + size + beside > self.capacity:
            return False
        self._trim_pool(self.capacity - self.in_use - self.lent - size)
        self.lent += size
        self.peak_in_use = max(self.peak_in_use, self.in_use + self.lent)
        return True

    def give_back(self, size: int) -> None:
        """Return what lend() took (synchronous, on the event loop's thread)."""
        self.lent = max(0, self.lent - size)
        self._wake()

    def release(self, size: int) -> None:
        self.in_use = max(0, self.in_use - size)
        self._wake()

    def _take(self, size: int) -> None:
        self.in_use += size
        self.peak_in_use = max(self.peak_in_use, self.in_use + self.lent)

    def _fits(self, size: int) -> bool:
        return self.in_use + size <= self.limit and self.in_use + self.lent + size <= self.capacity

    def _trim_pool(self, room: int) -> None:
        """Drop pooled buffers until they fit in room bytes."""
        while self._pool and self._pooled > max(0, room):
            self._pooled -= len(self._pool.pop())

    def _wake(self) -> None:
        while self._waiters:
            size, granted = self._waiters[0]
            if granted.done():  # cancelled waiter
                self._waiters.popleft()
                continue
            # A request larger than a lowered limit is clamped to it, as at acquire().
            size = min(size, self.limit)
            if not self._fits(size) and self.in_use > 0:
                return
            self._waiters.popleft()
            self._take(size)
            granted.set_result(size)


def physical_memory() -> int | None:
    """Bytes of RAM in this machine, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
