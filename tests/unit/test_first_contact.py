"""First contact: what a new user meets on the sample data: a URL given as SOURCE, a folder without
CSV files, and reading back what --local landed (--serve) while its server keeps answering."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env, make_client, run_cli

# The command with --serve once the flag is wired; until then the same run through run.execute.
SERVE_SCRIPT = """
import asyncio, os, sys
from async_ingest.cli.main import CLI_OUTPUT, parse_settings
from async_ingest.run import execute
settings = parse_settings(sys.argv[1:], dict(os.environ))
sys.exit(asyncio.run(execute(settings, CLI_OUTPUT, serve=True)).exit_code)
"""


def test_an_s3_url_as_source_says_this_tool_uploads_local_files() -> None:
    result = run_cli("s3://raw/foo", "--bucket", "b-ok", "--dry-run")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "async-ingest: error: s3://raw/foo: not a local path: this tool uploads local files and folders "
        "(the target is --bucket); download remote objects first"
    ]


def test_a_folder_without_csv_names_the_filter_and_include(tmp_path: Path) -> None:
    (tmp_path / "export.txt").write_text("a,b\n1,2\n")
    result = run_cli(tmp_path, "--bucket", "b-ok", "--dry-run")
    assert result.returncode == 2
    line = result.stderr.strip()
    assert f"no CSV files found in {tmp_path} (looked for *.csv," in line
    assert "--include GLOB" in line
    patterned = run_cli(tmp_path, "--bucket", "b-ok", "--dry-run", "--include", "*.TXT")
    assert patterned.returncode == 2
    assert f"no files matching *.TXT found in {tmp_path}: --include patterns are case-sensitive" in (
        patterned.stderr
    )


def _serve_command(local_dir: Path) -> list[str]:
    args = ["data/", "--local", "--local-dir", str(local_dir), "--date", "2026-11-25"]
    help_text = run_cli("--help").stdout
    if "--serve" in help_text:
        return [sys.executable, "-m", "async_ingest", *args, "--serve"]
    return [sys.executable, "-c", SERVE_SCRIPT, *args]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_keeps_the_local_server_until_a_signal(tmp_path: Path, signum: int) -> None:
    """The run lands the sample files, then prints the endpoint and a key pair; the objects read
    back through it; Ctrl-C (or SIGTERM) stops the server and the command exits with the run's code."""
    env = cli_env()
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]  # the placeholder pair, as a new user
    proc = subprocess.Popen(
        _serve_command(tmp_path / "s3"),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"exited before serving: {lines} {proc.stderr.read() if proc.stderr else ''}"
            lines.append(line.rstrip("\n"))
            if line.startswith("  polars: "):
                break
        served = next(x for x in lines if x.startswith("serving "))
        match = re.fullmatch(
            r"serving s3://local-datalake at (http://127\.0\.0\.1:\d+) \(data in .*\) .*", served
        )
        assert match, served
        endpoint = match.group(1)
        assert any("access key async-ingest-local, secret async-ingest-local-secret" in x for x in lines)
        assert f"  aws --endpoint-url {endpoint} s3 ls --recursive s3://local-datalake" in lines
        assert any(x.startswith('  pandas: pd.read_csv("s3://local-datalake/Raw/Local/CSV/') for x in lines)
        assert any('sep="|"' in x for x in lines)  # the sample's delimiter, not pandas' comma

        s3 = make_client(endpoint, "async-ingest-local", "async-ingest-local-secret")
        body = s3.get_object(Bucket="local-datalake", Key="Raw/Local/CSV/Movies/2026/11/25/movies.csv")
        assert body["Body"].read() == (REPO / "data/movies.csv").read_bytes().decode("cp1252").encode()

        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 0
        _, err = proc.communicate()
        assert "Traceback" not in err and "aborting" not in err
        with pytest.raises(Exception):  # noqa: B017 -- the server is gone: any connection error
            make_client(endpoint, "a", "b").list_buckets()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        leftover = [p for p in _weed_processes() if str(tmp_path) in p]
        assert not leftover, leftover


def _weed_processes() -> list[str]:
    """Command lines of running weed servers (to check none outlives the served run)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "weed" in cmdline and "server" in cmdline:
                found.append(cmdline)
    return found


# --- re-runs speak -------------------------------------------------------------------------------


def test_an_empty_shard_of_a_dry_run_says_zero_planned() -> None:
    """data/ has two files: of four shards at least one is empty; its plan says so, not a summary
    of 0 uploaded (which reads as if something had been tried)."""
    outputs = [run_cli("data/", "--bucket", "b-ok", "--dry-run", "--shard", f"{i}/4") for i in range(4)]
    assert all(o.returncode == 0 for o in outputs)
    empty = [o.stdout.strip() for o in outputs if "data/" not in o.stdout]
    assert empty and all(o == "0 file(s) planned (dry run, nothing written); 0 failed" for o in empty)
