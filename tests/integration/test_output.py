"""What people and log pipelines see: terminal bars, plain lines, JSON events, quiet, shards."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from async_ingest.events import (
    EncodingInfo,
)
from async_ingest.output.lines import columns_of
from tests.conftest import cli_env, list_keys, run_cli
from tests.terminal import make_file, run_in_terminal

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset


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
    assert f"{prefix}/big.csv" in screen and "summary" in screen
    shown = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line).rsplit("\r", 1)[-1] for line in screen.split("\r\n")]
    finished = [line for line in shown if f"{prefix}/big.csv" in line]  # as the terminal shows them
    assert finished and all(columns_of(line) <= 120 for line in finished)  # never wraps at 120 columns
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


# --- Printers, driven with events directly (issue 23): what each format shows --------------------

CP1252 = EncodingInfo("cp1252", "detected", 1.0, False)


def test_at_a_60_column_terminal_small_files_get_lines_that_fit_and_no_bars(
    s3_server: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    names = [f"vendas_regiao_sudeste_{i:02d}_relatorio_mensal.csv" for i in range(6)]
    for name in names:
        (tmp_path / name).write_text('id;nome\n1;"aberto\n', encoding="cp1252")  # a quote never closed
    code, screen = run_in_terminal(
        [str(tmp_path), "--bucket", shared_bucket, "--key-template", prefix + "/{filename}"],
        cli_env(s3_server.endpoint_url),
        columns=60,
    )
    assert code == 0, screen  # report mode: the findings are counted, nothing fails
    shown = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line).rsplit("\r", 1)[-1] for line in screen.split("\r\n")]
    finished = [line for line in shown if "relatorio_mensal.csv  " in line]
    assert len(finished) == 6 and all(columns_of(line) <= 60 for line in finished), finished
    assert all("open quote" in line for line in finished)
    assert not any(f"{name[-20:]}:" in screen for name in names)  # no per-file bar: one part each
    assert "csv check   6 file(s) with findings: 6 unterminated quote" in shown
