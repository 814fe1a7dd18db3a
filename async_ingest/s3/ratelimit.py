"""--bwlimit: one token bucket shared by every upload of the process (bytes per second, in total).

Pure arithmetic on an injected clock: the S3 layer asks how long to wait before writing each slice of
a request body, then sleeps that long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Slices of a throttled body: about 1/8 s of the rate, so each wait is short (the stall watchdog sees
# the body move between slices) and the rate holds from the first second on.
SLICES_PER_SECOND = 8
MIN_SLICE = 256


def slice_size(rate: int, largest: int) -> int:
    """The bytes written at a time under a limit of rate bytes per second."""
    return max(MIN_SLICE, min(largest, rate // SLICES_PER_SECOND))


@dataclass
class TokenBucket:
    """rate tokens (bytes) a second, at most burst saved up. A request for more than is there is
    granted at once and paid for by waiting: the tokens go negative, and every later request waits
    behind that debt too, so concurrent uploads share the rate in the order they asked."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 0:
            raise ValueError("rate must be positive and burst not negative")
        self._tokens = self.burst
        self._stamp = self.clock()

    def take(self, amount: int) -> float:
        """Take amount tokens; the seconds to wait before sending them (0: at once)."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= amount
        return max(0.0, -self._tokens / self.rate)
