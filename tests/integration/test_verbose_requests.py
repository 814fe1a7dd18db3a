"""-v/--verbose (verbose=True): a line per S3 request (operation, key, part, status, request id,
seconds) and per retry with its cause, on stderr and through the `async_ingest` logger, never a
secret. Against the session's SeaweedFS; the retry is provoked by tests/faultproxy.py."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from async_ingest import ingest
from async_ingest.s3.local import LocalS3Server
from tests.conftest import ACCESS_KEY, SECRET_KEY, cli_env, read_object, run_cli
from tests.faultproxy import Fault, FaultProxy

# What must never be printed: the secret, and the request's signing material.
SECRETS = (SECRET_KEY, ACCESS_KEY, "Signature", "Authorization", "X-Amz-Credential", "x-amz-security-token")
ROW = "{:08d},Ação,Coração – “edição”,2001\n"


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret.lower() not in text.lower(), f"{secret!r} printed"


def big_csv(path: Path, megabytes: int = 11) -> bytes:
    """A UTF-8 CSV of about `megabytes` MiB: three parts of 5 MiB."""
    rows = megabytes * 1024 * 1024 // len(ROW.format(0).encode())
    data = "".join(ROW.format(i) for i in range(rows)).encode()
    path.write_bytes(data)
    return data


def test_verbose_prints_each_request_with_status_and_request_id_and_no_secret(
    s3_server: LocalS3Server, shared_bucket: str, prefix: str
) -> None:
    env = cli_env(s3_server.endpoint_url)
    args = ["data/series.csv", "--bucket", shared_bucket, "--key-template", prefix + "/{filename}", "-v"]
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.output
    key = f"{prefix}/series.csv"
    line = next((ln for ln in result.stderr.splitlines() if ln.startswith(f"request PutObject {key}: ")), "")
    assert re.match(rf"request PutObject {re.escape(key)}: 200 in \d+\.\d{{3}} s  request-id=\S+", line), (
        result.stderr
    )
    assert "request HeadBucket: 200" in result.stderr  # the bucket check, a bucket-level call
    assert_no_secret(result.stdout + result.stderr)
    quiet = run_cli(*args[:-1], "--force", env=env)  # without -v: no request line
    assert quiet.returncode == 0 and "request " not in quiet.stderr, quiet.output


def test_verbose_json_puts_one_json_event_per_request_on_stderr(
    s3_server: LocalS3Server, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "big.csv"
    big_csv(source)
    args = [
        source,
        "--bucket",
        shared_bucket,
        "--key-template",
        prefix + "/{filename}",
        "--part-size",
        "5MiB",
    ]
    result = run_cli(*args, "--verbose", "--log-format", "json", env=cli_env(s3_server.endpoint_url))
    assert result.returncode == 0, result.output
    stderr = [json.loads(line) for line in result.stderr.splitlines()]  # every line valid JSON
    stdout = [json.loads(line) for line in result.stdout.splitlines()]
    assert not [e for e in stdout if e["event"].startswith("request")]  # stdout's events are unchanged
    parts = sorted(e["part"] for e in stderr if e["event"] == "request" and e["operation"] == "UploadPart")
    assert parts == [1, 2, 3], result.stderr
    for event in stderr:
        assert event["event"] == "request" and event["status"] == 200 and event["request_id"], event
        assert event["seconds"] >= 0 and event["attempt"] == 1
    operations = {e["operation"] for e in stderr}
    assert {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"} <= operations
    assert_no_secret(result.stdout + result.stderr)


@pytest.fixture
def proxy(s3_server: LocalS3Server) -> Iterator[FaultProxy]:
    proxy = FaultProxy(s3_server.s3_port).start()
    yield proxy
    proxy.stop()


def test_verbose_names_a_retry_and_its_cause(
    proxy: FaultProxy, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "big.csv"
    expected = big_csv(source)
    proxy.add(Fault("slowdown", match=r"^PUT \S*[?&]partNumber=2\b"))  # 503 Slow Down, once
    key = f"{prefix}/big.csv"
    result = run_cli(
        source, "--bucket", shared_bucket, "--key-template", prefix + "/{filename}", "--part-size", "5MiB",
        "--endpoint-url", proxy.url, "-v", env=cli_env(), timeout=90,
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert f"request UploadPart {key} part 2: 503 SlowDown in " in result.stderr, result.stderr
    assert f"retry   UploadPart {key} part 2: attempt 2 of 5 after 503 SlowDown" in result.stderr
    assert re.search(
        rf"request UploadPart {re.escape(key)} part 2: 200 in \S+ s \(attempt 2\)", result.stderr
    )
    assert read_object(s3, shared_bucket, key) == expected
    assert_no_secret(result.stdout + result.stderr)


def test_the_api_logs_requests_with_verbose(
    s3_server: LocalS3Server,
    shared_bucket: str,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name, value in cli_env(s3_server.endpoint_url).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    caplog.set_level(logging.INFO, logger="async_ingest")
    result = ingest(
        "data/series.csv", bucket=shared_bucket, key_template=prefix + "/{filename}", manifest=False,
        verbose=True,
    )  # fmt: skip
    assert result.ok, result.errors
    lines = [record.getMessage() for record in caplog.records if record.name == "async_ingest"]
    assert any(ln.startswith(f"request PutObject {prefix}/series.csv: 200 in ") for ln in lines), lines
    assert_no_secret("\n".join(lines))


def test_max_attempts_counts_the_first_attempt(
    proxy: FaultProxy, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    """--max-attempts 2: a request answered 503 every time is sent twice, not three times (botocore's
    own max_attempts counts retries only); the verbose lines show each attempt."""
    source = tmp_path / "big.csv"
    big_csv(source)
    proxy.add(Fault("slowdown", match=r"^PUT \S*[?&]partNumber=1\b", times=0))  # part 1, every time
    key = f"{prefix}/big.csv"
    result = run_cli(
        source, "--bucket", shared_bucket, "--key-template", prefix + "/{filename}", "--part-size", "5MiB",
        "--endpoint-url", proxy.url, "--max-attempts", "2", "-v", env=cli_env(), timeout=90,
    )  # fmt: skip
    assert result.returncode == 1, result.output
    attempts = [ln for ln in result.stderr.splitlines() if ln.startswith(f"request UploadPart {key} part 1:")]
    assert len(attempts) == 2, result.stderr
    assert f"retry   UploadPart {key} part 1: attempt 2 of 2 after 503 SlowDown" in result.stderr
    assert proxy.count(r"^PUT \S*[?&]partNumber=1\b") == 2, proxy.requests
