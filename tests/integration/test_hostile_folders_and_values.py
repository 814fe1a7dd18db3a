"""Hostile folders and options: a link loop under --follow-symlinks ends, a long listing answers Ctrl-C
and SIGTERM at once, and values that used to fail late (or be taken wrongly) are refused up front with
one line and exit 2, before any request (UNREACHABLE: nothing listens there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli_env, list_keys, read_object, run_cli

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset


def test_metadata_with_s3s_prefix_lands_under_the_key_meant(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str
) -> None:
    result = run_cli(
        "data/series.csv", "--bucket", shared_bucket, "--key-template", prefix + "/{filename}",
        "--metadata", "x-amz-meta-team=data", "--no-manifest",
        env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    metadata = s3.head_object(Bucket=shared_bucket, Key=f"{prefix}/series.csv")["Metadata"]
    assert metadata["team"] == "data"
    assert not any(key.startswith("x-amz-meta-") for key in metadata)
    assert "stored as team" in result.stderr


# 15. --bwlimit's own pacing is not a stalled request


def test_a_slow_bwlimit_does_not_trip_the_read_timeout(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    """200 B/s in slices of 256 bytes: ~1.3 s between slices, more than --read-timeout 1. The stall
    watchdog took that wait for a stalled body ("Read timeout on endpoint URL")."""
    source = tmp_path / "slow.csv"
    data = b"id,name\n" + b"".join(b"%d,row number %d\n" % (i, i) for i in range(34))
    source.write_bytes(data)
    assert 512 < len(data) <= 768
    result = run_cli(
        source, "--bucket", shared_bucket, "--key-template", prefix + "/{filename}",
        "--bwlimit", "200", "--read-timeout", "1", "--max-attempts", "1", "--no-manifest",
        env=cli_env(s3_server.endpoint_url), timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert list_keys(s3, shared_bucket, prefix + "/") == [f"{prefix}/slow.csv"]
    assert read_object(s3, shared_bucket, f"{prefix}/slow.csv") == data
