"""Read-ahead (issue 22): ParallelFiller gives the same parts, checksums, counts and CSV facts as
PartFiller, whatever falls on a segment or part boundary; one end-to-end upload against SeaweedFS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from async_ingest.transform import native
from tests.conftest import cli_env, read_object, run_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(native.IMPLEMENTATION != "native", reason="read-ahead needs the C core"),
]


def test_e2e_same_object_as_sequential(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    """The same cp1252 file uploaded with read-ahead and without (ASYNC_INGEST_NO_EXTENSIONS=1: the
    Python twin, sequential): same bytes, ETag, checksum and CSV facts in the report."""
    source = tmp_path / "src" / "movies.csv"
    source.parent.mkdir()
    body = "".join(f"{i}|Ação “{i}” – café|{i % 13}\r\n" for i in range(700_000))
    source.write_bytes(("id|t|n\r\n" + body).encode("cp1252"))
    found = []
    for run, extra in (
        ("ahead", {}),  # read-ahead is the default
        ("seq", {"ASYNC_INGEST_NO_EXTENSIONS": "1"}),
    ):
        report = tmp_path / f"{run}.json"
        result = run_cli(
            source, "--bucket", shared_bucket, "--key-template", f"{prefix}/{run}/{{filename}}",
            "--part-size", "5MiB", "--report", report, env=cli_env(s3_server.endpoint_url, **extra),
        )  # fmt: skip
        assert result.returncode == 0, result.output
        (entry,) = json.loads(report.read_text("utf-8"))["files"]
        head = s3.head_object(Bucket=shared_bucket, Key=f"{prefix}/{run}/movies.csv", ChecksumMode="ENABLED")
        found.append(
            (entry["etag"], entry.get("checksum"), entry.get("csv"), head["ETag"], head["ContentLength"])
        )
        assert read_object(s3, shared_bucket, f"{prefix}/{run}/movies.csv") == ("id|t|n\r\n" + body).encode()
    assert found[0] == found[1]
    assert found[0][3].endswith('-4"') or "-" in found[0][3]  # several parts


@pytest.mark.parametrize("memory", [["--parts-in-flight", "1"], ["--max-memory", "29MiB"]])
def test_e2e_readahead_inside_small_budget(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, memory: list[str]
) -> None:
    """A file with read-ahead under a one-part window, or a budget that holds the read-ahead and few
    parts: it completes (no wait for itself) with the right bytes."""
    source = tmp_path / "movies.csv"
    body = "".join(f"{i}|Ação “{i}” – café|{i % 13}\r\n" for i in range(700_000))
    source.write_bytes(("id|t|n\r\n" + body).encode("cp1252"))
    result = run_cli(
        source, "--bucket", shared_bucket, "--key-template", f"{prefix}/{{filename}}",
        "--part-size", "5MiB", *memory, env=cli_env(s3_server.endpoint_url), timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert read_object(s3, shared_bucket, f"{prefix}/movies.csv") == ("id|t|n\r\n" + body).encode()
