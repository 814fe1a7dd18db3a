"""A SeaweedFS that checks credentials (-s3.config): right ones land, wrong ones fail fast with one
clear line and exit 2, a read-only identity fails its files; secrets never show in any output."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from async_ingest.s3.local import LocalS3Server
from tests.conftest import (
    REPO,
    CliResult,
    cli_env,
    list_keys,
    make_client,
    open_uploads,
    read_object,
    run_cli,
)
from tests.faultproxy import FaultProxy
from tests.integration.test_faults import CREATE, make_csv

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

BUCKET = "secured"
ADMIN = ("AKIDADMIN", "admin-secret-Qw3rTy9NOTINLOGS")
READER = ("AKIDREADER", "reader-secret-Zx8cVb7NOTINLOGS")
WRONG_SECRET = "wrong-secret-Lk5jHg4NOTINLOGS"
SECRETS = (ADMIN[1], READER[1], WRONG_SECRET)
FAIL_FAST_S = 15  # a permanent error is not retried: no backoff rounds


def identity(name: str, credentials: tuple[str, str], *actions: str) -> dict[str, Any]:
    """One entry of SeaweedFS's -s3.config."""
    keys = {"accessKey": credentials[0], "secretKey": credentials[1]}
    return {"name": name, "credentials": [keys], "actions": list(actions)}


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3Server]:
    folder = tmp_path_factory.mktemp("seaweedfs-auth")
    config = folder / "s3.json"
    identities = [
        identity("admin", ADMIN, "Admin", "Read", "Write", "List", "Tagging"),
        identity("reader", READER, "Read", "List"),
    ]
    config.write_text(json.dumps({"identities": identities}))
    server = LocalS3Server(folder / "data", s3_config=config).start()
    make_client(server.endpoint_url, *ADMIN).create_bucket(Bucket=BUCKET)
    yield server
    server.stop()


@pytest.fixture
def proxy(auth_server: LocalS3Server) -> Iterator[FaultProxy]:
    """No faults: it counts the requests, to show what was (not) retried."""
    proxy = FaultProxy(auth_server.s3_port).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def admin(auth_server: LocalS3Server) -> Any:
    return make_client(auth_server.endpoint_url, *ADMIN)


def ingest(endpoint_url: str, credentials: tuple[str, str], *args: str | Path) -> tuple[CliResult, float]:
    env = cli_env(endpoint_url, AWS_ACCESS_KEY_ID=credentials[0], AWS_SECRET_ACCESS_KEY=credentials[1])
    started = time.monotonic()
    result = run_cli(*args, "--bucket", BUCKET, env=env)
    return result, time.monotonic() - started


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_right_credentials_land(auth_server: LocalS3Server, admin: Any, prefix: str, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result, _ = ingest(
        auth_server.endpoint_url,
        ADMIN,
        "data/series.csv",
        "--key-template",
        prefix + "/{filename}",
        "--report",
        report,
    )
    assert result.returncode == 0, result.output
    assert read_object(admin, BUCKET, f"{prefix}/series.csv") == (REPO / "data" / "series.csv").read_bytes()
    assert_no_secret(result.output, report.read_text())


def test_a_credentials_file_open_to_others_draws_a_warning_and_still_works(
    auth_server: LocalS3Server, admin: Any, prefix: str, tmp_path: Path
) -> None:
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"aws_access_key_id": ADMIN[0], "aws_secret_access_key": ADMIN[1]}))
    creds.chmod(0o644)
    env = cli_env(auth_server.endpoint_url)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    args = ("data/series.csv", "--bucket", BUCKET, "--key-template", prefix + "/{filename}")
    result = run_cli(*args, "--credentials-file", creds, env=env)
    assert result.returncode == 0, result.output
    assert f"{creds} is readable by group or others" in result.stderr
    assert list_keys(admin, BUCKET, prefix) == [f"{prefix}/series.csv"]
    creds.chmod(0o600)
    again = run_cli(*args, "--credentials-file", creds, "--force", env=env)
    assert again.returncode == 0, again.output
    assert "readable by group or others" not in again.stderr
    assert_no_secret(result.output, again.output)


@pytest.mark.parametrize(
    ("credentials", "reason"),
    [
        ((ADMIN[0], WRONG_SECRET), "SignatureDoesNotMatch"),
        (("AKIDUNKNOWN", WRONG_SECRET), "InvalidAccessKeyId"),
    ],
    ids=["wrong-secret", "unknown-key"],
)
def test_wrong_credentials_fail_fast_before_any_upload_with_one_clear_line(
    credentials: tuple[str, str],
    reason: str,
    proxy: FaultProxy,
    admin: Any,
    prefix: str,
    tmp_path: Path,
) -> None:
    report = tmp_path / "report.json"
    result, took = ingest(
        proxy.url, credentials, "data/", "--key-template", prefix + "/{filename}", "--report", report
    )
    assert result.returncode == 2, result.output
    assert took < FAIL_FAST_S, took
    # botocore's standard mode does not retry a 403: one HeadBucket, then one ListObjectsV2 whose
    # error names the reason (a HEAD answer has no body); nothing else is sent
    assert [line.split("?")[0] for line in proxy.requests] == [f"HEAD /{BUCKET} HTTP/1.1", f"GET /{BUCKET}"]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "access denied" in lines[0] and reason in lines[0], result.stderr
    assert "check the credentials" in lines[0]
    assert "Traceback" not in result.output
    assert_no_secret(result.output, report.read_text() if report.exists() else "")
    assert list_keys(admin, BUCKET, prefix) == []


def test_a_read_only_identity_fails_every_file_and_leaves_nothing(
    proxy: FaultProxy, admin: Any, prefix: str, tmp_path: Path
) -> None:
    """The pre-flight check (HeadBucket) passes: these credentials may read the bucket. Writing is
    refused per file (PutObject, CreateMultipartUpload: AccessDenied), so every file fails: exit 1,
    like any failed file, not 2, which is kept for problems found before any upload starts."""
    make_csv(tmp_path / "src" / "big.csv", rows=90_000)  # 7 MiB: a multipart upload
    (tmp_path / "src" / "small.csv").write_text("id|nome\n1|José\n", encoding="utf-8")
    result, took = ingest(
        proxy.url, READER, tmp_path / "src", "--key-template", prefix + "/{filename}", "--part-size", "5MiB"
    )
    assert result.returncode == 1, result.output
    assert took < FAIL_FAST_S, took
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    # Both files, then the run manifest (one more PUT), which this identity may not write either.
    assert len(failed) == 3 and all("AccessDenied" in line for line in failed), result.stderr
    assert failed[-1].startswith("FAILED manifest s3://secured/Raw/Local/CSV/_manifests/")
    assert proxy.count(r"^PUT ") == 2 and proxy.count(CREATE) == 1, proxy.requests  # not retried
    assert "Traceback" not in result.output
    assert_no_secret(result.output)
    assert list_keys(admin, BUCKET, prefix) == []
    assert open_uploads(admin, BUCKET, prefix) == []
