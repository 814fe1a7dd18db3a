"""A small TCP proxy between the client and the S3 server that breaks chosen requests. It runs its own
asyncio loop in a thread and parses the client's HTTP/1.1 requests (request line, headers,
Content-Length body), so faults are keyed by request even on kept-alive connections: the nth request
whose request line matches a pattern (e.g. r"partNumber=2\\b") is reset (RST), stalled, has its
response cut mid-way, has a byte of its body changed on the way, or is answered "503 Slow Down" or
"400 InvalidArgument" without reaching the server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_XML = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
SLOW_DOWN = b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\n"
SLOW_DOWN += b"Content-Length: %d\r\n\r\n%s" % (len(_XML), _XML)
_REFUSED_XML = b"<Error><Code>InvalidArgument</Code><Message>Unsupported header.</Message></Error>"
REFUSED = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nConnection: close\r\n"
REFUSED += b"Content-Length: %d\r\n\r\n%s" % (len(_REFUSED_XML), _REFUSED_XML)
CHUNK = 256 * 1024


@dataclass
class Fault:
    """Do `kind` to the matching requests number nth .. nth+times-1 (times=0: every one from nth on)."""

    kind: str  # reset | stall | cut | slowdown | refuse (400) | corrupt (a body byte changed) | none
    # | drop_header (header lines starting with `header` removed: only for servers that check no signature)
    match: str = ""  # regex searched in the request line: "PUT /bucket/key?uploadId=..&partNumber=2 HTTP/1.1"
    header: str = ""  # regex the request's header lines must contain too (case-insensitive)
    nth: int = 1
    times: int = 1
    seconds: float = 60.0  # stall: hold the request this long at most (release() ends it sooner)
    cut_after: int = 20  # cut: bytes of the response forwarded before the connection is dropped
    seen: int = 0

    def wants(self, request_line: str, headers: str = "") -> bool:
        if not re.search(self.match, request_line) or not re.search(self.header, headers, re.IGNORECASE):
            return False
        self.seen += 1
        return self.seen >= self.nth and (not self.times or self.seen < self.nth + self.times)


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.faults: list[Fault] = []
        self.requests: list[str] = []  # every request line seen, in order of arrival
        self._lock = threading.RLock()
        self._seen = threading.Condition(self._lock)  # notified on every request
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="faultproxy", daemon=True)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._released = asyncio.Event()  # set, and replaced, by release()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def release(self) -> None:
        """Stop stalling: drop the stall faults and let every held request through now."""
        with self._lock:
            self.faults = [f for f in self.faults if f.kind != "stall"]
        self._loop.call_soon_threadsafe(self._release_now)

    def count(self, pattern: str) -> int:
        with self._lock:
            return sum(1 for line in self.requests if re.search(pattern, line))

    def wait_seen(self, pattern: str, count: int = 1, timeout: float = 60) -> None:
        """Block until `count` requests matching pattern have arrived (a stalled one counts)."""
        with self._seen:
            ok = self._seen.wait_for(lambda: self.count(pattern) >= count, timeout)
        assert ok, f"{count} request(s) matching {pattern!r} not seen in {timeout} s: {self.requests}"

    # --- the rest runs in the proxy's own loop ---

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _release_now(self) -> None:
        self._released.set()
        self._released = asyncio.Event()

    def _record(self, request_line: str, headers: str) -> Fault:
        with self._lock:
            self.requests.append(request_line)
            self._seen.notify_all()
            wanted = [
                f for f in self.faults if f.wants(request_line, headers)
            ]  # every rule counts its matches
        return wanted[0] if wanted else Fault("none")

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._tasks.add(task := asyncio.current_task())  # type: ignore[arg-type]
        try:
            await self._upstream(client_r, client_w)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a peer went away (the server was killed, the client gave up): close both sides
        finally:
            self._tasks.discard(task)
            client_w.close()

    async def _upstream(self, client_r: Any, client_w: Any) -> None:
        server_w: asyncio.StreamWriter | None = None
        down: asyncio.Task[None] | None = None
        cut: list[int] = []  # armed with a byte count once a request whose answer is cut was sent
        try:
            while True:
                try:
                    head = await client_r.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return  # the client closed its connection between requests
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
                assert "chunked" not in headers.get("transfer-encoding", ""), "chunked: not supported"
                length = int(headers.get("content-length", "0"))
                fault = self._record(request_line, "\r\n".join(lines))
                if fault.kind == "reset":
                    sock = client_w.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    client_w.transport.abort()  # closed with SO_LINGER 0: the client gets a RST
                    return
                if fault.kind in ("slowdown", "refuse"):
                    if headers.get("expect", "").lower() != "100-continue":  # else no body comes
                        await self._forward(client_r, length, None)
                    client_w.write(SLOW_DOWN if fault.kind == "slowdown" else REFUSED)
                    await client_w.drain()
                    return
                if fault.kind == "stall":
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._released.wait(), fault.seconds)
                if server_w is None:  # connected only now: a held request goes to the server of now
                    server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
                    down = asyncio.create_task(self._downstream(server_r, client_w, cut))
                # A cut is armed as the request's last byte goes out: it hits the final response,
                # not the "100 Continue" the server sends before the body.
                arm = functools.partial(cut.extend, [fault.cut_after] if fault.kind == "cut" else [])
                if not length:
                    arm()
                if fault.kind == "drop_header":
                    head = re.sub(rb"(?im)^(?:" + fault.header.encode() + rb")[^\r\n]*\r\n", b"", head)
                server_w.write(head)
                await server_w.drain()
                await self._forward(client_r, length, server_w, arm, corrupt=fault.kind == "corrupt")
        finally:
            if down is not None:
                down.cancel()
                await asyncio.gather(down, return_exceptions=True)
            if server_w is not None:
                server_w.close()

    async def _forward(
        self,
        reader: Any,
        length: int,
        writer: Any,
        at_end: Callable[[], object] | None = None,
        *,
        corrupt: bool = False,
    ) -> None:
        """Pass one request body on (writer None: drop it; corrupt: with its first byte changed)."""
        while length:
            data = await reader.read(min(length, CHUNK))
            if not data:
                raise asyncio.IncompleteReadError(b"", length)
            if corrupt:
                data, corrupt = bytes([data[0] ^ 0x20]) + data[1:], False
            length -= len(data)
            if not length and at_end is not None:
                at_end()
            if writer is not None:
                writer.write(data)
                await writer.drain()

    async def _downstream(self, server_r: Any, client_w: Any, cut: list[int]) -> None:
        with contextlib.suppress(OSError):
            while data := await server_r.read(CHUNK):
                client_w.write(data[: cut[0]] if cut else data)
                await client_w.drain()
                if cut:
                    client_w.transport.abort()  # the rest of the response never arrives
                    return
        client_w.close()  # the server closed or failed: so does the proxy, after the last byte
