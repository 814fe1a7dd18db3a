"""--resume continues an interrupted multipart upload; without it, stale uploads are aborted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli_env, open_uploads, read_object, run_cli

PART = 5 * 1024 * 1024


@pytest.fixture
def big_source(tmp_path: Path) -> tuple[Path, bytes]:
    row = "tt{:07d}|movie|Ação e Reação nº {:d}|Coração – “edição” especial €|2001|Drama\n"
    text = "".join(row.format(i, i) for i in range(190_000))  # ~16 MiB cp1252, 4 parts of UTF-8
    folder = tmp_path / "src"
    folder.mkdir()
    path = folder / "big.csv"
    path.write_bytes(text.encode("cp1252"))
    return path, text.encode("utf-8")


def interrupted_upload(s3: Any, bucket: str, key: str, parts: list[bytes]) -> str:
    """What a run killed mid-file leaves behind: an unfinished upload with some parts."""
    upload_id = str(s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
    for number, body in enumerate(parts, start=1):
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
    return upload_id


def run(source: Path, bucket: str, prefix: str, endpoint: str, tmp_path: Path, *extra: str) -> dict[str, Any]:
    report = tmp_path / "report.json"
    result = run_cli(
        source, "--bucket", bucket, "--key-template", prefix + "/{filename}", "--part-size", "5MiB",
        "--report", report, *extra, env=cli_env(endpoint),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    entry: dict[str, Any] = json.loads(report.read_text())["files"][0]
    return entry


def test_resume_sends_only_the_missing_parts(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, big_source: tuple[Path, bytes]
) -> None:
    source, expected = big_source
    key = f"{prefix}/big.csv"
    interrupted_upload(s3, shared_bucket, key, [expected[:PART], expected[PART : 2 * PART]])
    entry = run(source, shared_bucket, prefix, s3_server.endpoint_url, tmp_path, "--resume")
    assert entry["notes"] == [f"resumed: 2 of {entry['parts']} parts were already uploaded"]
    assert read_object(s3, shared_bucket, key) == expected
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_resume_with_a_changed_part_starts_the_file_again(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, big_source: tuple[Path, bytes]
) -> None:
    source, expected = big_source
    key = f"{prefix}/big.csv"
    stale = b"X" * PART  # the source was different when the interrupted run read it
    interrupted_upload(s3, shared_bucket, key, [expected[:PART], stale])
    entry = run(source, shared_bucket, prefix, s3_server.endpoint_url, tmp_path, "--resume")
    assert entry["status"] == "uploaded"
    assert len(entry["notes"]) == 1
    assert entry["notes"][0].startswith("restarted without resume: part 2 on the server differs")
    assert read_object(s3, shared_bucket, key) == expected
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_without_resume_stale_uploads_of_the_key_are_aborted(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, big_source: tuple[Path, bytes]
) -> None:
    source, expected = big_source
    key = f"{prefix}/big.csv"
    interrupted_upload(s3, shared_bucket, key, [expected[:PART]])
    interrupted_upload(s3, shared_bucket, key, [expected[:PART]])
    entry = run(source, shared_bucket, prefix, s3_server.endpoint_url, tmp_path)
    assert entry["notes"] == []
    assert read_object(s3, shared_bucket, key) == expected
    assert open_uploads(s3, shared_bucket, prefix) == []
