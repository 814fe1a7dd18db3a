"""--resume continues an interrupted multipart upload; without it, stale uploads are aborted."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from awscrt import checksums

from tests.conftest import cli_env, open_uploads, read_object, run_cli

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

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


def crc64nvme(body: bytes) -> str:
    return base64.b64encode(checksums.crc64nvme(body).to_bytes(8, "big")).decode()


def interrupted_upload(s3: Any, bucket: str, key: str, parts: list[bytes], *, md5: bool = False) -> str:
    """What a run killed mid-file leaves behind: an unfinished upload with some parts (with the
    default checksum's headers, or, md5, as --checksum md5 and the versions before it made them)."""
    started = {} if md5 else {"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "FULL_OBJECT"}
    upload_id = str(s3.create_multipart_upload(Bucket=bucket, Key=key, **started)["UploadId"])
    for number, body in enumerate(parts, start=1):
        checksum = {} if md5 else {"ChecksumCRC64NVME": crc64nvme(body)}
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **checksum)
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
    assert entry["checksum"] == crc64nvme(expected)
    head = s3.head_object(Bucket=shared_bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == crc64nvme(expected)
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_resume_with_md5_of_an_md5_upload(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, big_source: tuple[Path, bytes]
) -> None:
    source, expected = big_source
    key = f"{prefix}/big.csv"
    interrupted_upload(s3, shared_bucket, key, [expected[:PART], expected[PART : 2 * PART]], md5=True)
    entry = run(
        source, shared_bucket, prefix, s3_server.endpoint_url, tmp_path, "--resume", "--checksum", "md5"
    )
    assert entry["notes"] == [f"resumed: 2 of {entry['parts']} parts were already uploaded"]
    assert read_object(s3, shared_bucket, key) == expected
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_an_upload_started_without_the_checksum_is_not_resumed_into_an_unverified_object(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, big_source: tuple[Path, bytes]
) -> None:
    """SeaweedFS lists neither the upload's algorithm nor part checksums, and completes an upload
    started without one with no checksum at all: the file starts again, and lands verified."""
    source, expected = big_source
    key = f"{prefix}/big.csv"
    interrupted_upload(s3, shared_bucket, key, [expected[:PART]], md5=True)
    entry = run(source, shared_bucket, prefix, s3_server.endpoint_url, tmp_path, "--resume")
    assert entry["status"] == "uploaded"
    assert (
        entry["notes"][-1] == "restarted without resume: the unfinished upload was not started with CRC64NVME"
    )
    assert read_object(s3, shared_bucket, key) == expected
    assert entry["checksum"] == crc64nvme(expected)
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
