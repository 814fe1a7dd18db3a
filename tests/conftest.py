"""Shared fixtures: one real SeaweedFS S3 server for the whole session, and helpers to read back."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from async_ingest.s3.local import LocalS3Server

REPO = Path(__file__).resolve().parent.parent
ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-d0n0tprint"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3Server]:
    server = LocalS3Server(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    yield server
    server.stop()


def make_client(endpoint_url: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


@pytest.fixture(scope="session")
def s3(s3_server: LocalS3Server) -> Any:
    """A plain boto3 client to check what landed (independent of the code under test)."""
    return make_client(s3_server.endpoint_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second S3 implementation (moto's server, `moto[server]` in the test extra) on a free loopback
    port, for the whole session; yields its endpoint URL. It accepts any credentials."""
    # No skip when moto is missing: it is in the test extra, and a skipped server would hide failures.
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until_answering(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"moto_server exited with {proc.returncode}: {log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"moto_server did not answer on {url} within {seconds} s: {log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def moto_s3(moto_server: str) -> Any:
    """A plain boto3 client for moto's server, to check what landed there."""
    return make_client(moto_server)


@pytest.fixture(scope="session")
def shared_bucket(s3: Any) -> str:
    """One bucket for most tests (each SeaweedFS bucket costs volumes); tests use unique key prefixes."""
    name = "async-ingest-tests"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cli_env(endpoint_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ASYNC_INGEST_"))}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONUNBUFFERED="1",
    )
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    env.update(extra)
    return env


def run_cli(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> CliResult:
    """The real command, as a user runs it: a separate process."""
    proc = subprocess.run(
        [sys.executable, "-m", "async_ingest", *map(str, args)],
        capture_output=True,
        text=True,
        env=env if env is not None else cli_env(),
        cwd=cwd or REPO,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def upload_with_report(
    src: Path, server: LocalS3Server, bucket: str, prefix: str, report: Path, *options: str
) -> CliResult:
    """The command on SRC into BUCKET/PREFIX/{filename}, 5 MiB parts, its JSON report at REPORT."""
    return run_cli(
        src,
        "--bucket",
        bucket,
        "--key-template",
        prefix + "/{filename}",
        "--part-size",
        "5MiB",
        "--report",
        report,
        *options,
        env=cli_env(server.endpoint_url),
    )


def read_object(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def list_keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in response.get("Contents", []))


def open_uploads(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    response = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    return [u["Key"] for u in response.get("Uploads", [])]
