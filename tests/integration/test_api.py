"""The Python API (issue 14, item 4): ingest() from a plain script, ingest_async() and ingest() from
inside a running event loop, ConfigError with the command's message, per-file failures in the result.
Against the real SeaweedFS of the session."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from async_ingest import ConfigError, RunResult, ingest, ingest_async
from async_ingest.units import MiB
from tests.conftest import REPO, cli_env, list_keys, open_uploads, read_object

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

CP1252 = "id;name;city\n1;José;São Paulo\n2;Zoë;Kraków €\n"


@pytest.fixture
def aws_env(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test credentials in this process's environment, as an orchestrator's worker has them;
    no ASYNC_INGEST_* variable (the API reads none) and no endpoint (given as endpoint_url)."""
    for name, value in cli_env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)


def test_a_plain_script_lands_files_and_prints_nothing(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "movies.csv").write_bytes(CP1252.encode("cp1252"))
    script = textwrap.dedent(
        f"""
        import json, sys
        from async_ingest import ingest
        result = ingest(
            [{str(tmp_path / "src")!r}],
            bucket={shared_bucket!r},
            endpoint_url={s3_server.endpoint_url!r},
            key_template={prefix + "/{filename}"!r},
            manifest=False,
        )
        with open({str(tmp_path / "result.json")!r}, "w") as out:
            json.dump({{"ok": result.ok, "exit_code": result.exit_code, "files": result.files,
                       "summary": result.summary}}, out)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=cli_env(), cwd=REPO, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert (proc.stdout, proc.stderr) == ("", "")  # nothing printed unless asked
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["ok"] and result["exit_code"] == 0
    assert result["summary"]["uploaded"] == 1 and result["summary"]["failed"] == 0
    [entry] = result["files"]
    assert entry["status"] == "uploaded" and entry["key"] == f"{prefix}/movies.csv"
    assert entry["source_encoding"] == "cp1252" and entry["rows"] == 2
    assert read_object(s3, shared_bucket, f"{prefix}/movies.csv") == CP1252.encode("utf-8")


async def test_ingest_async_runs_on_the_callers_loop_multipart(
    aws_env: None, s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, capfd: Any
) -> None:
    big = tmp_path / "big.csv"
    row = "42;Ünïcödé text that repeats to make a multipart upload;3.14\n"
    big.write_bytes(("id;text;value\n" + row * (6 * MiB // len(row))).encode("cp1252"))
    ticks = 0

    async def ticker() -> None:  # the caller's loop keeps running during the run
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    try:
        result = await ingest_async(
            big,  # one path, not a list: fine too
            bucket=shared_bucket,
            endpoint_url=s3_server.endpoint_url,
            key_template=prefix + "/{filename}",
            part_size="5MiB",
            manifest=False,
        )
    finally:
        ticking.cancel()
    assert isinstance(result, RunResult) and result.ok, result.files
    assert result.files[0]["parts"] == 2 and ticks > 0
    assert read_object(s3, shared_bucket, f"{prefix}/big.csv") == big.read_bytes().decode("cp1252").encode()
    assert capfd.readouterr() == ("", "")


async def test_sync_ingest_inside_a_running_loop_runs_in_its_own_thread(
    aws_env: None, s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    """As in a Jupyter cell: ingest() does not fail on the running loop; it runs the upload on a
    thread with a loop of its own and returns the result (the caller's loop waits meanwhile)."""
    (tmp_path / "a.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    threads: list[str] = []

    def remember_thread(event: Any) -> None:
        threads.append(threading.current_thread().name)

    printer = _Recorder(remember_thread)
    result = ingest(
        [tmp_path / "a.csv"],
        bucket=shared_bucket,
        endpoint_url=s3_server.endpoint_url,
        key_template=prefix + "/{filename}",
        manifest_key=prefix + "/_manifests/{run_id}.json",
        printer=printer,
    )
    assert result.ok and result.files[0]["status"] == "uploaded"
    assert threads and all(name.startswith("async-ingest") for name in threads), threads
    assert printer.summaries == 1  # a custom printer gets the events and the summary
    assert result.manifest_key is not None and result.manifest_key.startswith(f"{prefix}/_manifests/")
    assert list_keys(s3, shared_bucket, prefix) == sorted([f"{prefix}/a.csv", result.manifest_key])


class _Recorder:
    def __init__(self, on_event: Any) -> None:
        self.on_event = on_event
        self.summaries = 0

    def __call__(self, event: Any) -> None:
        self.on_event(event)

    def summary(self, summary: Any) -> None:
        self.summaries += 1

    def close(self) -> None:
        pass


def test_a_failed_file_is_in_the_result_the_others_land(
    aws_env: None, s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, capfd: Any
) -> None:
    (tmp_path / "good.csv").write_text("id|nome\n1|José\n", encoding="utf-8")
    (tmp_path / "garbage.csv").write_bytes(bytes((i * 7919 + 13) % 256 for i in range(20_000)))
    result = ingest(
        tmp_path,
        bucket=shared_bucket,
        endpoint_url=s3_server.endpoint_url,
        key_template=prefix + "/{filename}",
        manifest=False,
    )
    assert not result.ok and result.exit_code == 1
    assert result.summary["failed"] == 1 and result.summary["uploaded"] == 1
    [failure] = result.failures
    assert failure["source"].endswith("garbage.csv") and failure["status"] == "failed" and failure["error"]
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/good.csv"]
    assert open_uploads(s3, shared_bucket, prefix) == []
    assert capfd.readouterr() == ("", "")


async def test_a_refused_endpoint_is_a_config_error_before_any_upload(aws_env: None, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:9"):
        await ingest_async(tmp_path, bucket="my-bucket", endpoint_url="http://127.0.0.1:9", max_attempts=1)


def test_progress_true_prints_as_the_command(
    aws_env: None, s3_server: Any, shared_bucket: str, prefix: str, tmp_path: Path, capfd: Any
) -> None:
    (tmp_path / "a.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    result = ingest(
        tmp_path / "a.csv",
        bucket=shared_bucket,
        endpoint_url=s3_server.endpoint_url,
        key_template=prefix + "/{filename}",
        manifest_key=prefix + "/_manifests/{run_id}.json",
        progress=True,
    )
    out, _err = capfd.readouterr()
    assert result.ok
    assert f"a.csv -> s3://{shared_bucket}/{prefix}/a.csv" in out
    assert f"manifest s3://{shared_bucket}/{result.manifest_key}" in out
