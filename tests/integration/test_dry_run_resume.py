"""--dry-run names what the run would do with an unfinished multipart upload to a file's key: resume
it (--resume) or abort it; against a real unfinished upload made with the test's own S3 client. The
dry run itself still writes nothing (the upload stays open), and a dry run of small files still
sends no request at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from async_ingest.s3.local import LocalS3Server
from tests.conftest import cli_env, free_port, list_keys, open_uploads, run_cli

MiB = 1024 * 1024
ROW = "{:08d},Ação,Coração – “edição”,2001\n"


@pytest.fixture
def unfinished(s3: Any, shared_bucket: str, prefix: str, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """An 11 MiB CSV and an unfinished upload to its key holding two parts of 5 MiB."""
    source = tmp_path / "big.csv"
    rows = 11 * MiB // len(ROW.format(0).encode())
    source.write_bytes("".join(ROW.format(i) for i in range(rows)).encode())
    key = f"{prefix}/big.csv"
    upload_id = s3.create_multipart_upload(Bucket=shared_bucket, Key=key)["UploadId"]
    for number in (1, 2):
        s3.upload_part(
            Bucket=shared_bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=b"x" * 5 * MiB
        )
    yield source, key
    s3.abort_multipart_upload(Bucket=shared_bucket, Key=key, UploadId=upload_id)


def dry_run(server: LocalS3Server, source: Path, bucket: str, prefix: str, *extra: str) -> Any:
    args = [source, "--bucket", bucket, "--key-template", prefix + "/{filename}", "--part-size", "5MiB"]
    return run_cli(*args, "--dry-run", *extra, env=cli_env(server.endpoint_url))


def test_a_dry_run_with_resume_says_it_would_resume_the_unfinished_upload(
    s3_server: LocalS3Server, s3: Any, shared_bucket: str, prefix: str, unfinished: tuple[Path, str]
) -> None:
    source, key = unfinished
    result = dry_run(s3_server, source, shared_bucket, prefix, "--resume")
    assert result.returncode == 0, result.output
    assert f"{source}: would resume the unfinished upload (2 parts, 10.0 MiB)" in result.stdout, result.output
    assert open_uploads(s3, shared_bucket, prefix) == [key]  # a dry run: nothing resumed, nothing aborted
    assert list_keys(s3, shared_bucket, prefix) == []


def test_a_dry_run_without_resume_says_the_unfinished_upload_would_be_aborted(
    s3_server: LocalS3Server, s3: Any, shared_bucket: str, prefix: str, unfinished: tuple[Path, str]
) -> None:
    source, key = unfinished
    result = dry_run(s3_server, source, shared_bucket, prefix)
    assert result.returncode == 0, result.output
    line = f"{source}: an unfinished upload to this key would be aborted (--resume would continue it)"
    assert line in result.stdout, result.output
    as_json = dry_run(s3_server, source, shared_bucket, prefix, "--log-format", "json")
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    planned = [e for e in events if e["event"] == "file_planned"]
    assert planned and planned[0]["notes"] == [line.split(": ", 1)[1]], as_json.output
    assert open_uploads(s3, shared_bucket, prefix) == [key]


def test_a_dry_run_of_small_files_sends_nothing(tmp_path: Path) -> None:
    """No file would go in parts: S3 is not asked, so an endpoint nobody answers changes nothing."""
    dead = f"http://127.0.0.1:{free_port()}"
    result = run_cli("data/series.csv", "--bucket", "b-ok", "--dry-run", env=cli_env(dead))
    assert result.returncode == 0 and result.stderr == "", result.output
    assert "1 file(s) planned" in result.stdout


def test_a_dry_run_that_cannot_look_still_shows_the_plan(
    tmp_path: Path, unfinished: tuple[Path, str]
) -> None:
    source, _ = unfinished
    dead = f"http://127.0.0.1:{free_port()}"
    args = [source, "--bucket", "b-ok", "--part-size", "5MiB", "--dry-run", "--max-attempts", "1"]
    result = run_cli(*args, env=cli_env(dead))
    assert result.returncode == 0, result.output
    assert f"{source}: unfinished uploads not looked for: " in result.stdout, result.output
    assert "1 file(s) planned" in result.stdout
