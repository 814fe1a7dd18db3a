"""The Python API (issue 14, item 4): ingest() from a plain script, ingest_async() and ingest() from
inside a running event loop, ConfigError with the command's message, per-file failures in the result.
Against the real SeaweedFS of the session."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, cli_env, list_keys, open_uploads, read_object, run_cli

import async_ingest
from async_ingest import ConfigError, IngestOptions, RunResult, ingest, ingest_async
from async_ingest.cli.main import UsageError
from async_ingest.units import MiB

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


BAD_BUCKET = "invalid bucket name 'Bad_Bucket': use 3-63 lower-case letters"


@pytest.mark.parametrize(
    ("options", "cli_args", "api_says", "cli_says"),
    [
        ({"bucket": "Bad_Bucket"}, ["--bucket", "Bad_Bucket"], BAD_BUCKET, BAD_BUCKET),
        (
            {"bucket": "my-bucket", "part_size": "1MiB"},
            ["--bucket", "my-bucket", "--part-size", "1MiB"],
            "part_size='1MiB': must be between 5MiB and 5GiB",
            "--part-size 1MiB: must be between 5MiB and 5GiB",
        ),
        (
            {"bucket": "my-bucket", "date": "2026-13-01"},
            ["--bucket", "my-bucket", "--date", "2026-13-01"],
            "date '2026-13-01': expected YYYY-MM-DD",
            "--date '2026-13-01': expected YYYY-MM-DD",
        ),
        (
            {"bucket": "my-bucket", "checksum": "crc99"},
            ["--bucket", "my-bucket", "--checksum", "crc99"],
            "checksum 'crc99': choose from crc64nvme",
            "--checksum 'crc99': choose from crc64nvme",
        ),
    ],
)
def test_configuration_errors_name_the_option_as_each_front_end_spells_it(
    options: dict[str, Any], cli_args: list[str], api_says: str, cli_says: str, tmp_path: Path
) -> None:
    """One check for both front ends (options.resolve); Python names the keyword, the command the flag."""
    (tmp_path / "a.csv").write_text("a\n1\n")
    with pytest.raises(ConfigError) as raised:
        ingest([tmp_path], endpoint_url="http://127.0.0.1:9", **options)
    assert "\n" not in str(raised.value) and str(raised.value).startswith(api_says)
    assert "--" not in str(raised.value)  # no flag spelled in a Python error
    command = run_cli(tmp_path, "--endpoint-url", "http://127.0.0.1:9", *cli_args)
    assert command.returncode == 2
    assert command.stderr.startswith(f"async-ingest: error: {cli_says}") and command.stderr.count("\n") == 1


def test_unknown_or_mistyped_options_raise_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'buckt'"):
        ingest([tmp_path], buckt="b")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match=r"concurrency='many': expected a whole number"):
        ingest([tmp_path], bucket="b", concurrency="many")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"force='yes': expected True or False"):
        ingest([tmp_path], bucket="b", force="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no SOURCE given"):
        ingest([], bucket="b")
    assert issubclass(UsageError, ConfigError)  # the command's errors are the API's


def test_options_objects_and_keyword_changes(tmp_path: Path) -> None:
    """An IngestOptions is frozen and keyword-only; keywords given at the call override its fields."""
    base = IngestOptions(bucket="my-bucket", part_size="1MiB")
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.bucket = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        IngestOptions("my-bucket")  # type: ignore[misc]
    (tmp_path / "a.csv").write_text("a\n1\n")
    with pytest.raises(ConfigError, match="part_size='1MiB'"):
        ingest([tmp_path], base, dry_run=True)
    result = ingest([tmp_path], base, part_size=8 * 1024 * 1024, dry_run=True)
    assert result.ok and result.summary["planned"] == 1


def test_old_keyword_spellings_still_work_with_a_deprecation_warning(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    with pytest.warns(DeprecationWarning, match="no_manifest= is deprecated: use manifest="):
        result = ingest([tmp_path], bucket="my-bucket", dry_run=True, no_manifest=True)  # type: ignore[call-arg]
    assert result.ok


def test_credentials_as_an_orchestrator_holds_them_are_never_shown(tmp_path: Path) -> None:
    import boto3

    from async_ingest import Credentials
    from async_ingest.options import resolve

    secret = "s3cr3t-never-shown"
    given = Credentials("AKIDEXAMPLE", secret)
    assert secret not in repr(given)
    session = boto3.Session(aws_access_key_id="AKIDSESSION", aws_secret_access_key=secret)
    for holder in (given, session):
        settings = resolve([tmp_path], IngestOptions(bucket="my-bucket", credentials=holder), {}, print)
        assert settings.connection.credentials is not None
        assert settings.connection.credentials.secret_access_key == secret
        assert secret not in repr(settings)
    with pytest.raises(ConfigError, match="credentials") as raised:
        resolve([tmp_path], IngestOptions(bucket="my-bucket", credentials=object()), {}, print)
    assert secret not in str(raised.value)


async def test_a_refused_endpoint_is_a_config_error_before_any_upload(aws_env: None, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:9"):
        await ingest_async(tmp_path, bucket="my-bucket", endpoint_url="http://127.0.0.1:9", max_attempts=1)


def test_the_package_exports_the_api_lazily_and_is_typed() -> None:
    assert async_ingest.ingest is ingest and async_ingest.ConfigError is ConfigError
    assert (REPO / "async_ingest" / "py.typed").is_file()
    # The command imports nothing heavy before its Ctrl-C guard: the package alone pulls in no botocore.
    code = "import sys, async_ingest; print('botocore' in sys.modules)"
    assert subprocess.check_output([sys.executable, "-c", code], text=True, cwd=REPO).strip() == "False"


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


def test_an_open_credentials_file_is_a_python_warning_not_a_print(tmp_path: Path, capfd: Any) -> None:
    credentials = tmp_path / "creds.json"
    credentials.write_text(json.dumps({"aws_access_key_id": "AK", "aws_secret_access_key": "SECRETd0n0t"}))
    credentials.chmod(0o644)
    (tmp_path / "a.csv").write_text("a\n1\n")
    with pytest.warns(UserWarning, match="readable by group or others; chmod 600 it") as caught:
        result = ingest(tmp_path / "a.csv", bucket="my-bucket", credentials_file=credentials, dry_run=True)
    assert caught[0].filename == __file__  # points at the caller's line
    assert result.ok and result.files[0]["status"] == "planned"
    assert capfd.readouterr() == ("", "")
