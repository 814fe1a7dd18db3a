"""How many parts are in flight: a controller that follows the link (pure logic, the clock is passed in).

Throughput to S3 is parts in flight x what one connection carries, up to what the path as a whole
takes (the server's CPU, a shared uplink, throttling). The right number of parts is unknown
in advance and differs by 10x between loopback and a distant region, so it is measured, TCP Vegas
style, from how long each full-size part takes to send:

- Every acknowledged part gives its seconds per byte. The fastest recently seen is the *base*: what
  one connection does when it does not share a bottleneck.
- If parts take no longer than the base while more are in flight, each connection has its own lane
  (latency- or per-connection-bound): another part in flight adds throughput, so the window grows.
- If they take longer, they queue behind a shared bottleneck: with `sending` parts each q times slower
  than the base, `sending x (1 - 1/q)` of them are queued there and add nothing but memory. The
  window is kept where one to two parts queue (the bottleneck never starves, memory is not wasted),
  and cut back at once to the point of saturation when more queue.
- A part that needed retries (throttling, 5xx, resets) cuts the window by 30%.

Start: until the first full-size part is acknowledged nothing is known, so while every part of the
window is busy the window opens one part per STARTUP_STEP_S; then it doubles per round trip of a
part until queueing shows, as TCP slow start does. On loopback
the first acknowledgements come within a few hundred milliseconds and stop the growth early; over
a distant link the window has opened several parts by the time the first part lands.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from async_ingest.pipeline.budget import MemoryBudget

START_PARTS = 2  # one part sending while the next is filled: enough on loopback, where most runs start
# Before any part has landed, once the first has been sending this long (a loopback or in-region part
# lands sooner), one more part in flight per STARTUP_STEP_S while every buffer is busy.
STARTUP_WAIT_S = 0.5
STARTUP_STEP_S = 0.05
QUEUED_LOW = 1.0  # parts queued at the bottleneck below which the window grows
QUEUED_HIGH = 2.5  # ... above which it is cut back to the saturation point
# ... and only while parts take at most this much longer than the base: at a few parts in flight,
# one part queued is already a third of them, which the queued count alone lets pass.
GROW_BELOW_SLOWDOWN = 1.25
RETRY_CUT = 0.7  # window kept after a part needed a retry
BASE_MEMORY_S = 30.0  # a base older than this is forgotten (the path may have changed)
RECENT_SAMPLES = 5  # acknowledgements whose median says how long parts take now
CUT_EVIDENCE = 3  # ... at least this many of them before the window is cut (one slow part is noise)
CUT_FLOOR = 0.5  # one cut keeps at least this share of the window
FILLING_PARTS = 1  # the window also holds the part being filled while the others are sent
TICK_S = 0.05
# A part that lands this soon after it was sent means a fast path: a round trip costs little, so the
# window grows one part at a time, each step kept only if it paid (below), instead of doubling.
FAST_ROUND_S = 1.0
# A step up is kept only if the delivered rate rose by at least this share of what one more part
# would add were the parts not queued (1/window); otherwise it is undone, and the next try waits
# twice as long (PROBE_WAIT_S up to PROBE_WAIT_MAX_S).
PROBE_GAIN = 0.5
PROBE_WAIT_S = 2.0
PROBE_WAIT_MAX_S = 32.0
PROBE_SETTLE_PARTS = 3  # a step is judged after this many part times (at least RATE_SPAN_MIN_S)
RATE_SPAN_MIN_S = 1.0
RATE_MIN_LANDINGS = 4


@dataclass(frozen=True)
class PartSample:
    """One acknowledged full-size part."""

    size: int
    seconds: float  # from the first byte sent to the answer
    sending: float  # parts being sent meanwhile (mean of the counts at its start and its end)
    retried: bool
    sent_at: float  # clock time when the part started sending
    landed_at: float


@dataclass(frozen=True)
class Probe:
    """A step up on trial: the window before it, when it began, the delivered rate before it."""

    from_window: float
    at: float
    rate_before: float


@dataclass
class FlightController:
    """The window: how many part buffers (filling or sending) the run may hold, between min_parts and
    max_parts (the memory ceiling). Feed it part_started / part_landed and tick(); read `window`."""

    max_parts: int
    min_parts: int = 1
    start_parts: int = START_PARTS
    now: float = 0.0
    window_f: float = field(init=False)
    startup: bool = field(default=True, init=False)  # slow start: no queueing seen yet
    sending: int = field(default=0, init=False)
    _last_step: float = field(init=False)
    _first_sent: float | None = field(default=None, init=False)
    _changed_at: float = field(init=False)  # parts sent before this measure an older window
    _bases: deque[tuple[float, float]] = field(default_factory=deque, init=False)  # (time, s per byte)
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_SAMPLES), init=False)
    _delivered: deque[tuple[float, int]] = field(default_factory=deque, init=False)  # (landed, bytes)
    _seconds: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_SAMPLES), init=False)
    _probe: Probe | None = field(default=None, init=False)
    _probe_wait: float = field(default=PROBE_WAIT_S, init=False)
    _next_probe: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.min_parts = max(1, min(self.min_parts, self.max_parts))
        self.window_f = float(min(max(self.start_parts, self.min_parts), self.max_parts))
        self._last_step = self._changed_at = self.now

    @property
    def window(self) -> int:
        return int(self.window_f)

    @property
    def base(self) -> float | None:
        """Seconds per byte of an unqueued part, or None before the first sample (the deque is kept
        increasing, so its first entry is the minimum)."""
        return self._bases[0][1] if self._bases else None

    def part_started(self, now: float) -> None:
        self.sending += 1
        if self._first_sent is None:
            self._first_sent = now
        self.tick(now, busy=True)

    def part_ended(self) -> None:
        """A part's send ended (landed, failed or cancelled); landed parts also call part_landed."""
        self.sending = max(0, self.sending - 1)

    def tick(self, now: float, *, busy: bool) -> None:
        """Time passes. busy: every buffer of the window is in use (parts wait for one), so the
        window, not the reading, is what limits the run."""
        self.now = max(self.now, now)
        waited = self.now - self._first_sent if self._first_sent is not None else 0.0
        if not (self.startup and self.base is None and busy and waited >= STARTUP_WAIT_S):
            self._last_step = self.now
            return
        while self.now - self._last_step >= STARTUP_STEP_S:
            self._last_step += STARTUP_STEP_S
            self._set(self.window_f + 1)

    def part_landed(self, sample: PartSample, *, busy: bool) -> None:
        """A full-size part was acknowledged. busy: as for tick().

        One decision per round trip of a part: only a part sent after the window last changed
        measures the window as it is now (TCP Vegas' rule)."""
        self.now = max(self.now, sample.landed_at)
        first = self.base is None
        self._remember_base(sample)
        self._remember_delivery(sample)
        if sample.retried:
            self._cut(max(self.min_parts, self.window_f * RETRY_CUT))
            return
        base = self.base
        if first or base is None:
            self.startup = sample.seconds >= FAST_ROUND_S
            return  # the first part is its own base
        if self._probe is not None:
            self._judge_probe()
        if self.startup and busy and sample.seconds / sample.size <= GROW_BELOW_SLOWDOWN * base:
            # Slow start: this many parts went unqueued, so twice as many may (whichever window
            # they were sent under): the window doubles per round trip of a part.
            self._set(max(self.window_f, 2 * sample.sending))
            return
        if sample.sent_at < self._changed_at:
            return  # sent under an older window: says nothing about this one
        self._recent.append(sample.seconds / sample.size)
        queued = self.queued(sample.sending)
        if queued > QUEUED_HIGH and len(self._recent) >= CUT_EVIDENCE:
            target = self._saturation(sample.sending) + QUEUED_LOW + FILLING_PARTS
            self._cut(max(target, self.window_f * CUT_FLOOR))
        elif (
            queued < QUEUED_LOW
            and self.slowdown() <= GROW_BELOW_SLOWDOWN
            and busy
            and self._probe is None
            and self.now >= self._next_probe
        ):
            before = self.rate(self.now - self._rate_span())
            if before is not None:  # one more part per round trip, on trial
                self._probe = Probe(self.window_f, self.now, before)
                self._set(self.window_f + 1)

    def rate(self, since: float) -> float | None:
        """Bytes per second acknowledged since then, from the first landing in that span to the
        last; None with fewer than RATE_MIN_LANDINGS landings (a span that began before the first
        part landed would count the start as slowness)."""
        landings = [(at, size) for at, size in self._delivered if since <= at <= self.now]
        if len(landings) < RATE_MIN_LANDINGS or landings[-1][0] <= landings[0][0]:
            return None
        return sum(size for _, size in landings[1:]) / (landings[-1][0] - landings[0][0])

    def _rate_span(self) -> float:
        part_s = statistics.median(self._seconds) if self._seconds else 0.0
        return max(RATE_SPAN_MIN_S, PROBE_SETTLE_PARTS * part_s)

    def _judge_probe(self) -> None:
        probe = self._probe
        assert probe is not None
        part_s = statistics.median(self._seconds) if self._seconds else 0.0
        if self.now < probe.at + part_s + self._rate_span():
            return
        rate_after = self.rate(probe.at + part_s)
        if rate_after is None:
            return
        wanted = probe.rate_before * (1 + PROBE_GAIN / max(1.0, probe.from_window))
        self._probe = None
        if rate_after >= wanted:
            self._probe_wait = PROBE_WAIT_S
            return
        self._set(probe.from_window)
        self._next_probe = self.now + self._probe_wait
        self._probe_wait = min(PROBE_WAIT_MAX_S, self._probe_wait * 2)

    def _cut(self, window: float) -> None:
        self.startup = False
        self._probe = None
        self._next_probe = self.now + self._probe_wait
        self._set(window)

    def _remember_delivery(self, sample: PartSample) -> None:
        self._delivered.append((sample.landed_at, sample.size))
        self._seconds.append(sample.seconds)
        horizon = sample.landed_at - 4 * PROBE_WAIT_MAX_S
        while self._delivered and self._delivered[0][0] < horizon:
            self._delivered.popleft()

    def slowdown(self) -> float:
        """How many times longer than the base parts take now (1.0: no queueing seen)."""
        base = self.base
        if base is None or not self._recent:
            return 1.0
        return max(1.0, statistics.median(self._recent) / base)

    def queued(self, sending: float) -> float:
        """Parts waiting at the bottleneck (Vegas' diff): sending x (1 - base / now)."""
        return sending * (1.0 - 1.0 / self.slowdown())

    def _saturation(self, sending: float) -> float:
        """Parts in flight that just keep the bottleneck busy: sending / q."""
        return sending / self.slowdown()

    def _remember_base(self, sample: PartSample) -> None:
        per_byte = sample.seconds / sample.size
        while self._bases and self._bases[0][0] < sample.landed_at - BASE_MEMORY_S:
            self._bases.popleft()
        # Keep the deque increasing in value: an older, slower base can never be the minimum again.
        while self._bases and self._bases[-1][1] >= per_byte:
            self._bases.pop()
        self._bases.append((sample.landed_at, per_byte))

    def _set(self, window: float) -> None:
        window = min(float(self.max_parts), max(float(self.min_parts), window))
        if int(window) != self.window:
            self._changed_at = self.now
            self._recent.clear()
        self.window_f = window


class RetryCounter(Protocol):
    """The S3 face: how many requests so far needed a retry."""

    retried_requests: int


@dataclass
class SendTicket:
    size: int
    started: float
    sending_at_start: int
    retries_at_start: int


@dataclass
class PartsInFlight:
    """The controller wired to the run: it times every part sent, moves the memory budget's limit
    with the window (window x part size), and ticks while parts wait for budget."""

    controller: FlightController
    budget: MemoryBudget
    part_size: int
    retries: RetryCounter | None = None
    clock: Callable[[], float] = time.monotonic
    on_change: Callable[[int], None] = lambda window: None

    def __post_init__(self) -> None:
        self._apply()

    def started(self, size: int) -> SendTicket:
        now = self.clock()
        ticket = SendTicket(size, now, self.controller.sending, self._retries())
        self.controller.part_started(now)
        self._apply()
        return ticket

    def ended(self, ticket: SendTicket, *, landed: bool) -> None:
        """A part's send is over; landed: acknowledged by the server."""
        self.controller.part_ended()
        if not landed or ticket.size < self.part_size:
            return  # a short part (a file's last, a small file) is all latency: it says nothing of rate
        now = self.clock()
        sample = PartSample(
            size=ticket.size,
            seconds=max(now - ticket.started, 1e-6),
            sending=(ticket.sending_at_start + 1 + self.controller.sending + 1) / 2,
            retried=self._retries() > ticket.retries_at_start,
            sent_at=ticket.started,
            landed_at=now,
        )
        self.controller.part_landed(sample, busy=self.budget.waiting)
        self._apply()

    def tick(self) -> None:
        self.controller.tick(self.clock(), busy=self.budget.waiting)
        self._apply()

    async def run_ticker(self, every_s: float = TICK_S) -> None:
        """Tick until cancelled (the window opens with time before any part has landed)."""
        while True:
            await asyncio.sleep(every_s)
            self.tick()

    def _retries(self) -> int:
        return self.retries.retried_requests if self.retries is not None else 0

    def _apply(self) -> None:
        limit = self.controller.window * self.part_size
        if limit != self.budget.limit:
            self.budget.set_limit(limit)
            self.on_change(self.controller.window)
