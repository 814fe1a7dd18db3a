"""A failed file's error names options as its front end spells them (issue 21: lower modules never
spell a flag). A store that refuses the x-amz-checksum-* headers (tests/faultproxy.py in front of the
real SeaweedFS) makes each upload fail with a hint at the MD5 way around it: the Python API says
``checksum='md5'`` everywhere it hands the error back (FileResult.error, RunResult.files,
FailedFiles, the report, the `async_ingest` logger), the command says ``--checksum md5`` (its FAILED
line, the JSON log, the report)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from async_ingest import FailedFiles, ingest
from async_ingest.s3.local import LocalS3Server
from tests.conftest import cli_env, list_keys, open_uploads, run_cli
from tests.faultproxy import Fault, FaultProxy

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

PYTHON_HINT = "header: use checksum='md5')"
COMMAND_HINT = "header: use --checksum md5)"


@pytest.fixture
def refusing(s3_server: LocalS3Server) -> Iterator[FaultProxy]:
    """A store that answers 400 InvalidArgument to every request carrying a checksum header."""
    proxy = FaultProxy(s3_server.s3_port).start()
    proxy.add(Fault("refuse", header=r"x-amz-checksum-", times=0))
    yield proxy
    proxy.stop()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "movies.csv").write_text("id|nome\n1|José\n", encoding="utf-8")
    return folder


def test_the_api_says_checksum_md5_as_python_spells_it(
    refusing: FaultProxy,
    s3: Any,
    shared_bucket: str,
    prefix: str,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name, value in cli_env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    report = tmp_path / "api-report.json"
    with caplog.at_level(logging.WARNING, logger="async_ingest"):
        result = ingest(
            source,
            bucket=shared_bucket,
            endpoint_url=refusing.url,
            key_template=prefix + "/{filename}",
            manifest=False,
            report=report,
        )
    assert result.exit_code == 1
    (failed,) = result.results
    assert failed.error is not None and failed.error.endswith(PYTHON_HINT), failed.error
    assert "--" not in failed.error
    assert result.failures[0]["error"].endswith(PYTHON_HINT)
    with pytest.raises(FailedFiles) as raised:
        result.raise_for_failures()
    assert PYTHON_HINT in str(raised.value)
    (entry,) = json.loads(report.read_text(encoding="utf-8"))["files"]
    assert entry["error"].endswith(PYTHON_HINT)
    logged = [record.getMessage() for record in caplog.records if record.name == "async_ingest"]
    assert any(line.endswith(PYTHON_HINT) for line in logged), logged
    assert list_keys(s3, shared_bucket, prefix + "/") == [] and open_uploads(s3, shared_bucket, prefix) == []


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_command_says_checksum_md5_as_its_flag(
    refusing: FaultProxy, shared_bucket: str, prefix: str, source: Path, tmp_path: Path, log_format: str
) -> None:
    report = tmp_path / "cli-report.json"
    result = run_cli(
        source,
        "--bucket",
        shared_bucket,
        "--key-template",
        prefix + "/{filename}",
        "--endpoint-url",
        refusing.url,
        "--no-manifest",
        "--report",
        report,
        "--log-format",
        log_format,
        env=cli_env(),
    )
    assert result.returncode == 1, result.output
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and failed[0].endswith(COMMAND_HINT), result.output
    (entry,) = json.loads(report.read_text(encoding="utf-8"))["files"]
    assert entry["error"].endswith(COMMAND_HINT)
    assert "checksum='md5'" not in result.output
    if log_format == "json":
        events = [json.loads(line) for line in result.stdout.splitlines()]
        (done,) = [event for event in events if event["event"] == "file_failed"]
        assert done["error"].endswith(COMMAND_HINT)
