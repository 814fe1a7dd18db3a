"""Parts in flight follow the link, end to end: a real upload through the bench's link emulator to
SeaweedFS. What is asserted is observable behaviour (the proxy's concurrent connections, the JSON
events, the object's bytes), never a timing: speed is the bench's job."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from async_ingest.s3.local import LocalS3Server
from async_ingest.units import MiB
from tests.conftest import cli_env, read_object, run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from linkproxy import LinkProxy, parse_link

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

PART = 8 * MiB


@pytest.fixture
def slow_link(s3_server: LocalS3Server) -> Iterator[LinkProxy]:
    """RTT 40 ms, 4 MB/s per connection: one part takes ~2 s alone, so only parallel parts are fast."""
    with LinkProxy(("127.0.0.1", s3_server.s3_port), parse_link("rtt=40,conn=4")) as proxy:
        yield proxy


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_parts_in_flight_grow_on_a_slow_link(
    slow_link: LinkProxy, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    data = b"id|name\n" + b"".join(b"%08d|caf\xc3\xa9 cr\xc3\xa8me\n" % i for i in range(3_500_000))
    source = tmp_path / "movies.csv"
    source.write_bytes(data[: 64 * MiB])
    slow_link.snapshot(reset=True)
    result = run_cli(
        source, "--bucket", shared_bucket, "--key-template", f"{prefix}/{{filename}}",
        "--log-format", "json", env=cli_env(slow_link.endpoint_url), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert read_object(s3, shared_bucket, f"{prefix}/movies.csv") == data[: 64 * MiB]
    windows = [e["window"] for e in events(result.stdout) if e["event"] == "parts_in_flight"]
    assert max(windows) >= 4, windows  # the default start is 2: the window opened
    stats = slow_link.snapshot()
    assert stats.max_concurrent >= 4, stats  # and that many parts really travelled at once


def test_pinned_parts_in_flight_stay_put(
    slow_link: LinkProxy, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "movies.csv"
    source.write_bytes(b"id|name\n" + b"x" * (3 * PART))
    result = run_cli(
        source, "--bucket", shared_bucket, "--key-template", f"{prefix}/{{filename}}",
        "--log-format", "json", "--parts-in-flight", "3", env=cli_env(slow_link.endpoint_url), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    windows = {e["window"] for e in events(result.stdout) if e["event"] == "parts_in_flight"}
    assert windows == {3}
    assert read_object(s3, shared_bucket, f"{prefix}/movies.csv") == source.read_bytes()
