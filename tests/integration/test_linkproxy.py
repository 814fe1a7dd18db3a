"""bench/linkproxy.py, the link emulator of the benchmark: profiles, the shaping arithmetic on a
simulated clock, and real transfers through it to the SeaweedFS fixture (speed is the bench's job)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from async_ingest.s3.local import LocalS3Server
from tests.conftest import make_client, read_object

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from linkproxy import (
    LinkProxy,
    parse_link,
)


@pytest.fixture
def link(s3_server: LocalS3Server) -> Iterator[LinkProxy]:
    """How a test puts the emulated link between a client and the SeaweedFS fixture."""
    with LinkProxy(("127.0.0.1", s3_server.s3_port), parse_link("rtt=20,conn=50,total=100")) as proxy:
        yield proxy


def test_put_object_through_the_link_is_exact(
    link: LinkProxy, s3: Any, shared_bucket: str, prefix: str
) -> None:
    body = os.urandom(1024 * 1024)
    started = time.perf_counter()
    make_client(link.endpoint_url).put_object(Bucket=shared_bucket, Key=f"{prefix}/blob", Body=body)
    elapsed = time.perf_counter() - started
    assert read_object(s3, shared_bucket, f"{prefix}/blob") == body  # read back without the proxy
    stats = link.snapshot()
    assert stats.connections >= 1 and stats.max_concurrent >= 1
    assert stats.bytes_up > len(body) and stats.bytes_down > 0  # headers included
    assert elapsed >= 0.04  # connect (1 RTT) + request there and answer back (1 RTT)


def test_snapshot_reset_starts_counting_afresh(link: LinkProxy, shared_bucket: str, prefix: str) -> None:
    client = make_client(link.endpoint_url)
    client.put_object(Bucket=shared_bucket, Key=f"{prefix}/a", Body=b"a" * 1000)
    before = link.snapshot(reset=True)
    assert before.bytes_up > 1000
    after = link.snapshot()
    assert (after.connections, after.bytes_up, after.bytes_down) == (0, 0, 0)
    assert after.max_concurrent == after.current  # kept-alive connections still count
    client.put_object(Bucket=shared_bucket, Key=f"{prefix}/b", Body=b"b" * 1000)
    assert link.snapshot().bytes_up > 1000
