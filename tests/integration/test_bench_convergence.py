"""bench/convergence.py: steady throughput and when an upload reaches it, from JSON log events."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from async_ingest.s3.local import LocalS3Server
from tests.conftest import cli_env, run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from convergence import read_events


@pytest.mark.slow
def test_the_cli_json_log_feeds_the_analysis(
    s3_server: LocalS3Server, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "big.csv"
    source.write_bytes(b"id|name\n" + b"".join(b"%08d|row\n" % i for i in range(1_800_000)))
    result = run_cli(
        source, "--bucket", shared_bucket, "--key-template", prefix + "/{filename}", "--part-size", "5MiB",
        "--log-format", "json", env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    times = [json.loads(line)["t"] for line in result.stdout.splitlines()]
    assert times == sorted(times) and times[0] >= 0  # every record is timed
    events = read_events(result.stdout.splitlines())
    assert events is not None
    assert len(events.parts) == 5 and sum(size for _, size in events.parts) == source.stat().st_size
    assert all(t >= events.start for t, _ in events.parts)
