"""bench/linkproxy.py, the link emulator of the benchmark: profiles, the shaping arithmetic on a
simulated clock, and real transfers through it to the SeaweedFS fixture (speed is the bench's job)."""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from async_ingest.s3.local import LocalS3Server

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from linkproxy import (
    CHUNK,
    MB,
    SLACK,
    DelayLine,
    LinkProfile,
    LinkProxy,
    LinkSchedule,
    TokenBucket,
    inflight_limit,
    parse_link,
)

# --- profiles -------------------------------------------------------------------------------------------


def test_named_profiles() -> None:
    assert parse_link("loopback").is_loopback
    assert parse_link("wan") == LinkProfile(60, 6, None, "wan")
    assert parse_link(" FAR ") == LinkProfile(150, 2, None, "far")
    assert parse_link("capped") == LinkProfile(30, 12, 30, "capped")
    assert parse_link("capped").describe() == "capped (RTT 30 ms, 12 MB/s per connection, 30 MB/s in all)"


def test_custom_profile_any_subset_of_keys() -> None:
    link = parse_link("rtt=60,conn=6,total=30")
    assert (link.rtt_ms, link.conn_mbps, link.total_mbps) == (60, 6, 30)
    assert link.name == "rtt=60,conn=6,total=30"
    assert link.one_way_s == pytest.approx(0.030)
    assert parse_link("total=2.5, rtt=5") == LinkProfile(5, None, 2.5, "rtt=5,total=2.5")
    assert parse_link("rtt=0").is_loopback
    assert not parse_link("rtt=0,conn=1").is_loopback


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lan", "'lan' is not understood; expected one of loopback, wan, far, capped or rtt="),
        ("rtt=60,bw=6", "'bw=6' is not understood"),
        ("rtt=60,rtt=70", "rtt is given twice"),
        ("rtt=fast", "rtt='fast' is not a number"),
        ("rtt=-1", "rtt must be >= 0"),
        ("conn=0", "conn must be > 0"),
        ("total=inf", "total must be > 0"),
        ("", "'' is not understood"),
    ],
)
def test_bad_profiles_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^--link ") as err:
        parse_link(text)
    assert message in str(err.value)


# --- arithmetic on a simulated clock --------------------------------------------------------------------


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=1000, burst=100)
    assert bucket.reserve(100, now=0.0) == 0.0  # the burst: at once
    assert bucket.reserve(100, now=0.0) == pytest.approx(0.1)  # then 100 bytes per 0.1 s
    assert bucket.reserve(50, now=0.05) == pytest.approx(0.15)  # 50 refilled, 100 owed
    assert bucket.reserve(10, now=10.0) == 10.0  # idle: refilled, but never beyond the burst
    assert bucket.reserve(100, now=10.0) == pytest.approx(10.01)


def send(schedules: list[LinkSchedule], seconds: float, chunk: int = CHUNK) -> list[int]:
    """Senders that read a chunk whenever the previous one has left: bytes each sent in `seconds`."""
    ready = [0.0] * len(schedules)
    sent = [0] * len(schedules)
    while min(ready) < seconds:
        i = ready.index(min(ready))
        ready[i] = schedules[i].schedule(chunk, ready[i]).sent_at
        sent[i] += chunk
    return sent


def test_one_connection_gets_its_rate() -> None:
    rate = 6 * MB
    (sent,) = send([LinkSchedule(0.03, TokenBucket(rate, CHUNK))], seconds=10)
    assert sent / 10 == pytest.approx(rate, rel=0.01)


def test_connections_share_the_aggregate_cap() -> None:
    shared = TokenBucket(30 * MB, CHUNK)
    schedules = [LinkSchedule(0.015, TokenBucket(12 * MB, CHUNK), shared) for _ in range(4)]
    sent = send(schedules, seconds=10)
    assert sum(sent) / 10 == pytest.approx(30 * MB, rel=0.01)  # 4 x 12 capped at 30
    assert max(sent) / min(sent) < 1.05  # served in turn
    pair = [LinkSchedule(0.015, TokenBucket(12 * MB, CHUNK), TokenBucket(30 * MB, CHUNK)) for _ in range(2)]
    assert sum(send(pair, seconds=10)) / 10 == pytest.approx(24 * MB, rel=0.01)  # below the cap


def test_data_arrives_one_way_delay_after_it_left() -> None:
    schedule = LinkSchedule(0.075, TokenBucket(2 * MB, CHUNK))
    first = schedule.schedule(CHUNK, 1.0)
    assert (first.sent_at, first.deliver_at) == (1.0, pytest.approx(1.075))
    second = schedule.schedule(CHUNK, 1.0)
    assert second.sent_at == pytest.approx(1.0 + CHUNK / (2 * MB))
    assert second.deliver_at == pytest.approx(second.sent_at + 0.075)
    unshaped = LinkSchedule(0.02).schedule(10**9, 5.0)
    assert (unshaped.sent_at, unshaped.deliver_at) == (5.0, 5.02)


def test_delay_line_keeps_order_and_counts_bytes() -> None:
    line: DelayLine[str] = DelayLine()
    line.push(1.0, "a", 10)
    line.push(0.5, "b", 20)  # would overtake "a": waits for it instead
    assert (len(line), line.queued, line.next_at()) == (2, 30, 1.0)
    assert line.pop() == ("a", 10)
    assert line.next_at() == 1.0
    line.done(10)
    assert line.pop() == ("b", 20)
    line.done(20)
    assert (len(line), line.queued, line.next_at()) == (0, 0, None)


def test_inflight_limit_is_one_rtt_of_the_tightest_rate_plus_slack() -> None:
    assert inflight_limit(parse_link("wan")) == 360_000 + SLACK  # 6 MB/s x 60 ms
    assert inflight_limit(parse_link("capped")) == 360_000 + SLACK  # 12 MB/s x 30 ms
    assert inflight_limit(parse_link("rtt=30,total=1")) == 30_000 + SLACK
    assert inflight_limit(parse_link("rtt=60")) == 8 * 1024 * 1024 + SLACK  # no rate: bounded anyway


# --- real transfers -------------------------------------------------------------------------------------


@pytest.fixture
def link(s3_server: LocalS3Server) -> Iterator[LinkProxy]:
    """How a test puts the emulated link between a client and the SeaweedFS fixture."""
    with LinkProxy(("127.0.0.1", s3_server.s3_port), parse_link("rtt=20,conn=50,total=100")) as proxy:
        yield proxy


def test_a_dead_upstream_closes_the_client_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # nothing listens there
    with (
        LinkProxy(("127.0.0.1", dead_port), parse_link("rtt=10")) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as conn,
    ):
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):  # reset: closed with the request unread
            assert conn.recv(100) == b""  # closed, not hanging
        assert proxy.snapshot().current == 0
