"""A link emulator for the benchmark (issue 12): a TCP proxy that gives every connection a round-trip
time and a bandwidth cap, and all connections together an optional aggregate cap.

`tc netem` is not available on these machines, so the link is emulated in user space. For each
accepted connection:

* connect: the first bytes flow one RTT after the accept (SYN, SYN-ACK), so a request reaches the
  server 1.5 RTT after connect() and its first answer is back after 2 RTT, as over TCP;
* each direction delays the data by RTT/2 (a delay line: a chunk read at t is delivered at t + RTT/2
  while reading goes on);
* each direction is shaped by a token bucket of the per-connection rate, and by one token bucket per
  direction shared by all connections (the aggregate cap). The reader waits until a chunk's tokens
  are paid before it reads the next one, so the client's writes block as they would on a slow link;
  at most about RTT x rate + 256 KiB is queued per direction (memory stays bounded).

The proxy runs its own event loop in a thread, so synchronous code (the bench, pytest fixtures) can
use it::

    with LinkProxy(("127.0.0.1", s3_port), parse_link("wan")) as proxy:
        upload_to(proxy.endpoint_url)
        proxy.stats.max_concurrent

By hand: ``python bench/linkproxy.py --upstream 127.0.0.1:8333 --link wan --port 9333``.
MB = 10^6 bytes. The rates hold for payload bytes; TCP/IP headers are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

MB = 1_000_000
KiB = 1024
MiB = 1024 * KiB
CHUNK = 64 * KiB  # one read from a socket; all per-chunk work is a few dict/deque operations
SLACK = 256 * KiB  # queued per direction beyond one RTT's worth of bytes
UNCAPPED_INFLIGHT = 8 * MiB  # per direction when no rate is set: a window of 8 MiB per RTT
SOCKET_BUFFER = 256 * KiB  # receive buffers of the proxy's sockets: little hidden buffering
MIN_SLEEP_S = 0.0005  # below this a wait is skipped (the loop's timers are not finer)

_T = TypeVar("_T")


# --- profiles -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkProfile:
    """A link: round-trip time, and caps in MB/s (10^6 bytes) per direction; None: no cap."""

    rtt_ms: float = 0.0
    conn_mbps: float | None = None  # each connection, each direction
    total_mbps: float | None = None  # all connections together, each direction
    name: str = ""

    @property
    def is_loopback(self) -> bool:
        """Nothing to emulate: connect to the server directly."""
        return self.rtt_ms == 0 and self.conn_mbps is None and self.total_mbps is None

    @property
    def one_way_s(self) -> float:
        return self.rtt_ms / 2000

    def describe(self) -> str:
        if self.is_loopback:
            return "loopback (no proxy)"
        parts = [f"RTT {self.rtt_ms:g} ms"]
        if self.conn_mbps is not None:
            parts.append(f"{self.conn_mbps:g} MB/s per connection")
        if self.total_mbps is not None:
            parts.append(f"{self.total_mbps:g} MB/s in all")
        return f"{self.name} ({', '.join(parts)})"


PROFILES = {
    "loopback": LinkProfile(0, None, None, "loopback"),
    "wan": LinkProfile(60, 6, None, "wan"),
    "far": LinkProfile(150, 2, None, "far"),
    "capped": LinkProfile(30, 12, 30, "capped"),
}
_KEYS = {"rtt": "rtt_ms", "conn": "conn_mbps", "total": "total_mbps"}


def parse_link(text: str) -> LinkProfile:
    """'wan' (a profile name) or 'rtt=60,conn=6,total=30' (any of the keys; rtt in ms, caps in MB/s).

    Raises ValueError with a one-line message on anything else."""
    name = text.strip().lower()
    if name in PROFILES:
        return PROFILES[name]
    expected = f"expected one of {', '.join(PROFILES)} or rtt=MS,conn=MBPS,total=MBPS"
    values: dict[str, float] = {}
    for item in name.split(","):
        key, sep, raw = (s.strip() for s in item.partition("="))
        if not sep or key not in _KEYS:
            raise ValueError(f"--link {text!r}: {item.strip()!r} is not understood; {expected}")
        if key in values:
            raise ValueError(f"--link {text!r}: {key} is given twice")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"--link {text!r}: {key}={raw!r} is not a number") from None
        if not (value >= 0 if key == "rtt" else value > 0) or value == float("inf"):
            raise ValueError(f"--link {text!r}: {key} must be {'>= 0' if key == 'rtt' else '> 0'}")
        values[key] = value
    canonical = ",".join(f"{k}={values[k]:g}" for k in _KEYS if k in values)
    return LinkProfile(name=canonical, **{_KEYS[k]: v for k, v in values.items()})


# --- the arithmetic (pure: tests drive it with a simulated clock) ---------------------------------------


class TokenBucket:
    """A rate in bytes/s with a burst allowance. reserve() lets the tokens go negative and answers
    when the debt is paid: a sender that waits until then never gets ahead of the rate by more than
    the burst, and senders sharing one bucket are served in the order they asked."""

    def __init__(self, rate: float, burst: float, now: float = 0.0) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = now

    def reserve(self, size: int, now: float) -> float:
        """Take size bytes at time now; returns the time (>= now) at which they are paid for."""
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
        self._tokens -= size
        return now if self._tokens >= 0 else now + -self._tokens / self.rate


@dataclass(frozen=True)
class Slot:
    """When a chunk read at some time has left the sender (read the next one then) and when it arrives."""

    sent_at: float
    deliver_at: float


@dataclass
class LinkSchedule:
    """One direction of one connection: its own bucket, an optional shared one, and the one-way delay."""

    delay_s: float
    own: TokenBucket | None = None
    shared: TokenBucket | None = None

    def schedule(self, size: int, now: float) -> Slot:
        sent = now
        for bucket in (self.own, self.shared):
            if bucket is not None:
                sent = max(sent, bucket.reserve(size, now))
        return Slot(sent, sent + self.delay_s)


def burst_bytes(rate: float) -> float:
    """20 ms of the rate, at least two chunks: the rate holds over short spans, and a reader woken a
    few ms late (a loaded machine) catches up instead of losing the time."""
    return max(2.0 * CHUNK, rate * 0.020)


def inflight_limit(profile: LinkProfile) -> int:
    """Bytes queued per direction of a connection before the proxy stops reading: one RTT of the
    tightest rate plus some slack (the delay line holds RTT/2 of it when the link is busy)."""
    rates = [r * MB for r in (profile.conn_mbps, profile.total_mbps) if r is not None]
    window = min(rates) * profile.rtt_ms / 1000 if rates else UNCAPPED_INFLIGHT
    return int(min(window, UNCAPPED_INFLIGHT)) + SLACK


class DelayLine(Generic[_T]):
    """A FIFO of items due at non-decreasing times, with the bytes it holds."""

    def __init__(self) -> None:
        self._items: deque[tuple[float, _T, int]] = deque()
        self.queued = 0

    def __len__(self) -> int:
        return len(self._items)

    def push(self, at: float, item: _T, size: int) -> None:
        if self._items and at < self._items[-1][0]:
            at = self._items[-1][0]  # never overtake: the bytes of a stream stay in order
        self._items.append((at, item, size))
        self.queued += size

    def next_at(self) -> float | None:
        return self._items[0][0] if self._items else None

    def pop(self) -> tuple[_T, int]:
        """The first item and its size; the caller calls done(size) once it is delivered."""
        _, item, size = self._items.popleft()
        return item, size

    def done(self, size: int) -> None:
        self.queued -= size


# --- the proxy --------------------------------------------------------------------------------------------


@dataclass
class LinkStats:
    connections: int = 0  # accepted
    current: int = 0
    max_concurrent: int = 0
    bytes_up: int = 0  # client -> server, delivered
    bytes_down: int = 0  # server -> client, delivered
    cpu_s: float = 0.0  # the proxy thread's CPU since the last reset (filled in by snapshots)
    first_up_at: float = 0.0  # loop clock of the first and last upload chunk delivered
    last_up_at: float = 0.0

    @property
    def up_mbps(self) -> float | None:
        """MB/s delivered to the server between its first and last upload chunk."""
        span = self.last_up_at - self.first_up_at
        return self.bytes_up / MB / span if span > 0 else None


class _Pipe:
    """One direction of one connection: read, shape, delay, write."""

    def __init__(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        schedule: LinkSchedule,
        limit: int,
        count: Callable[[int], None],
        fail: Callable[[], None],
    ) -> None:
        self.src, self.dst, self.schedule, self.limit = src, dst, schedule, limit
        self.count, self.fail = count, fail
        self.line: DelayLine[bytes | None] = DelayLine()
        self.wake = asyncio.Event()  # the writer has something to do
        self.room = asyncio.Event()  # the reader may read again

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:  # one failing cancels the other
                group.create_task(self._read())
                group.create_task(self._write())
        except* (OSError, asyncio.IncompleteReadError):
            self.fail()  # a reset on one side resets the other: the client sees the failure

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while self.line.queued >= self.limit:
                self.room.clear()
                await self.room.wait()
            data = await self.src.read(CHUNK)
            slot = self.schedule.schedule(len(data), loop.time())
            self.line.push(slot.deliver_at, data or None, len(data))  # None: end of stream
            self.wake.set()
            if not data:
                return
            wait = slot.sent_at - loop.time()
            if wait > MIN_SLEEP_S:
                await asyncio.sleep(wait)  # back-pressure: the client's writes block meanwhile

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            at = self.line.next_at()
            if at is None:
                self.wake.clear()
                await self.wake.wait()
                continue
            wait = at - loop.time()
            if wait > MIN_SLEEP_S:
                await asyncio.sleep(wait)
            data, size = self.line.pop()
            if data is None:  # end of stream: pass the half-close on
                if not self.dst.is_closing() and self.dst.can_write_eof():
                    self.dst.write_eof()
                return
            self.dst.write(data)
            await self.dst.drain()
            self.line.done(size)
            self.count(size)
            self.room.set()


class LinkProxy:
    """The proxy, on its own event loop in a daemon thread. Use as a context manager or start()/stop()."""

    def __init__(
        self, upstream: tuple[str, int], profile: LinkProfile, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.upstream = upstream
        self.profile = profile
        self.host = host
        self.port = port
        self.stats = LinkStats()  # live; changed only on the proxy's loop
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="linkproxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._shared_up, self._shared_down = self._shared_buckets()
        self._cpu_base = 0.0  # the loop thread's CPU at the last reset

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _shared_buckets(self) -> tuple[TokenBucket | None, TokenBucket | None]:
        if self.profile.total_mbps is None:
            return None, None
        rate = self.profile.total_mbps * MB
        return TokenBucket(rate, burst_bytes(rate)), TokenBucket(rate, burst_bytes(rate))

    def start(self) -> LinkProxy:
        self._thread.start()
        self._server = self._call(self._listen())
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> LinkProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def snapshot(self, reset: bool = False) -> LinkStats:
        """A copy of the counters and the proxy thread's CPU; reset: start counting afresh (the
        maximum of concurrent connections restarts from the current count)."""
        return self._call(self._snapshot(reset))

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _snapshot(self, reset: bool) -> LinkStats:
        now = time.thread_time()
        copy = dataclasses.replace(self.stats, cpu_s=now - self._cpu_base)
        if reset:  # in place: callers may hold proxy.stats
            s = self.stats
            s.connections = s.bytes_up = s.bytes_down = 0
            s.first_up_at = s.last_up_at = 0.0
            s.max_concurrent = s.current
            self._cpu_base = now
        return copy

    async def _listen(self) -> asyncio.Server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)  # inherited by accepted ones
        sock.bind((self.host, self.port))
        return await asyncio.start_server(self._accept, sock=sock, backlog=512)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._connection(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _schedule(self, shared: TokenBucket | None) -> LinkSchedule:
        own = None
        if self.profile.conn_mbps is not None:
            rate = self.profile.conn_mbps * MB
            own = TokenBucket(rate, burst_bytes(rate), asyncio.get_running_loop().time())
        return LinkSchedule(self.profile.one_way_s, own, shared)

    async def _connection(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        stats = self.stats  # the same object for the proxy's lifetime
        stats.connections += 1
        stats.current += 1
        stats.max_concurrent = max(stats.max_concurrent, stats.current)
        writers = [client_w]
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
            writers.append(server_w)
            with contextlib.suppress(OSError):
                server_w.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER
                )
            await asyncio.sleep(max(0.0, accepted + self.profile.rtt_ms / 1000 - loop.time()))

            def abort() -> None:
                for w in writers:
                    w.transport.abort()

            limit = inflight_limit(self.profile)
            up = _Pipe(client_r, server_w, self._schedule(self._shared_up), limit, self._count_up, abort)
            down = _Pipe(
                server_r, client_w, self._schedule(self._shared_down), limit, self._count_down, abort
            )
            await asyncio.gather(up.run(), down.run())
        except OSError:
            pass  # the server refused: the client sees its connection closed
        finally:
            stats.current -= 1
            for w in writers:
                w.close()

    def _count_up(self, size: int) -> None:
        stats = self.stats
        stats.bytes_up += size
        stats.last_up_at = self._loop.time()
        if not stats.first_up_at:
            stats.first_up_at = stats.last_up_at

    def _count_down(self, size: int) -> None:
        self.stats.bytes_down += size


# --- by hand -------------------------------------------------------------------------------------------


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def _link(text: str) -> LinkProfile:
    try:
        return parse_link(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", type=_host_port, required=True, help="HOST:PORT of the S3 server")
    p.add_argument("--link", type=_link, default=PROFILES["wan"], help=", ".join(PROFILES) + " or rtt=..")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    args = p.parse_args(argv)
    with LinkProxy(args.upstream, args.link, args.host, args.port) as proxy:
        print(f"{proxy.endpoint_url} -> {args.upstream[0]}:{args.upstream[1]}, {args.link.describe()}")
        print("Ctrl-C stops", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
        s = proxy.snapshot()
    print(
        f"{s.connections} connection(s), at most {s.max_concurrent} at once; "
        f"{s.bytes_up / MB:.1f} MB up, {s.bytes_down / MB:.1f} MB down; proxy CPU {s.cpu_s:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
