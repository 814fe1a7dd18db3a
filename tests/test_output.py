"""What people and log pipelines see: terminal bars, plain lines, JSON events, quiet, shards."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

from tests.conftest import REPO, cli_env, list_keys, run_cli


def make_file(path: Path, mib: int) -> bytes:
    row = "tt{:07d}|movie|Ação e Reação nº {:d}|Coração especial|2001|Drama\n"
    text = "".join(row.format(i, i) for i in range(mib * 17_000)).encode("cp1252")
    path.write_bytes(text)
    return text


def run_in_terminal(
    args: list[str], env: dict[str, str], timeout: float = 120, columns: int = 120
) -> tuple[int, str]:
    """The CLI with a pseudo-terminal as stdout and stderr, as at an interactive shell."""
    leader, follower = pty.openpty()
    # A real terminal has a size; a fresh pseudo-terminal says 0x0, which leaves bars no room.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "async_ingest", *args],
        stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, env=env, cwd=REPO,
    )  # fmt: skip
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=10), b"".join(chunks).decode("utf-8", "replace")


def test_terminal_shows_live_bars_and_the_summary(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    make_file(tmp_path / "big.csv", 12)
    code, screen = run_in_terminal(
        [
            str(tmp_path),
            "--bucket",
            shared_bucket,
            "--key-template",
            prefix + "/{filename}",
            "--part-size",
            "5MiB",
        ],
        cli_env(s3_server.endpoint_url),
    )
    assert code == 0, screen
    assert "total (1 files)" in screen  # the total bar
    assert "big.csv" in screen and "%|" in screen  # a per-file bar with its percentage
    assert "100%|" in screen
    assert "MiB/s" in screen or "kB/s" in screen or "B/s" in screen  # throughput
    assert f"s3://{shared_bucket}/{prefix}/big.csv" in screen and "summary" in screen
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/big.csv"]


def test_plain_output_has_no_bars_and_periodic_progress_lines(
    s3_server: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    make_file(tmp_path / "big.csv", 16)
    result = run_cli(
        tmp_path, "--bucket", shared_bucket, "--key-template", prefix + "/{filename}", "--part-size", "5MiB",
        "--progress-interval", "0.001", env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert "%|" not in result.output and "\r" not in result.output
    progress = [line for line in result.stdout.splitlines() if line.startswith(f"{tmp_path / 'big.csv'}: ")]
    assert progress and all(" of " in line and line.endswith("%)") for line in progress)
    summary = result.stdout[result.stdout.index("summary") :]
    for label in ("files", "read", "written", "encodings", "seconds", "throughput"):
        assert f"\n{label} " in summary


def test_json_log_is_one_event_per_line(
    s3_server: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    make_file(tmp_path / "big.csv", 12)
    (tmp_path / "bad.csv").write_bytes(bytes(range(256)) * 64)
    result = run_cli(
        tmp_path, "--bucket", shared_bucket, "--key-template", prefix + "/{filename}", "--part-size", "5MiB",
        "--log-format", "json", env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    assert result.returncode == 1
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "summary" and events[-1]["uploaded"] == 1 and events[-1]["failed"] == 1
    assert {"file_started", "part_uploaded", "file_uploaded", "file_failed"} <= set(kinds)
    failed = next(e for e in events if e["event"] == "file_failed")
    assert failed["source"].endswith("bad.csv") and "bad.csv" in failed["error"]
    assert events[-1]["failures"] == [failed["error"]]


def test_quiet_prints_only_errors_and_the_summary(
    s3_server: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "ok.csv").write_text("a|b\n1|2\n")
    (tmp_path / "bad.csv").write_bytes(bytes(range(256)) * 64)
    result = run_cli(
        tmp_path, "--bucket", shared_bucket, "--key-template", prefix + "/{filename}", "--quiet",
        env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    assert result.returncode == 1
    assert "ok.csv ->" not in result.stdout
    assert result.stdout.startswith("summary")
    assert result.stderr.startswith("FAILED ") and "bad.csv" in result.stderr


def test_shards_cover_a_folder_exactly_once(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    for i in range(12):
        (tmp_path / f"part{i:02d}.csv").write_text(f"id\n{i}\n")
    env = cli_env(s3_server.endpoint_url)
    shares = []
    for index in range(3):
        template = f"{prefix}/{index}/{{filename}}"
        shard_env = {**env, "JOB_COMPLETION_INDEX": str(index), "ASYNC_INGEST_SHARD_COUNT": "3"}
        result = run_cli(tmp_path, "--bucket", shared_bucket, "--key-template", template, env=shard_env)
        assert result.returncode == 0, result.output
        shares.append({k.rsplit("/", 1)[1] for k in list_keys(s3, shared_bucket, f"{prefix}/{index}/")})
    assert all(shares)
    assert set.union(*shares) == {f"part{i:02d}.csv" for i in range(12)}
    assert sum(len(s) for s in shares) == 12
