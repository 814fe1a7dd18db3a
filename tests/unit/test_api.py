"""The Python API (issue 14, item 4): ingest() from a plain script, ingest_async() and ingest() from
inside a running event loop, ConfigError with the command's message, per-file failures in the result.
Against the real SeaweedFS of the session."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import async_ingest
from async_ingest import ConfigError, IngestOptions, ingest
from async_ingest.cli.main import UsageError
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow  # runs of the command: not in the quick subset


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
    """One check for both front ends (resolve.resolve); Python names the keyword, the command the flag."""
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
    from async_ingest.resolve import resolve

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


def test_the_package_exports_the_api_lazily_and_is_typed() -> None:
    assert async_ingest.ingest is ingest and async_ingest.ConfigError is ConfigError
    assert (REPO / "async_ingest" / "py.typed").is_file()
    # The command imports nothing heavy before its Ctrl-C guard: the package alone pulls in no botocore.
    code = "import sys, async_ingest; print('botocore' in sys.modules)"
    assert subprocess.check_output([sys.executable, "-c", code], text=True, cwd=REPO).strip() == "False"


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
