"""--checksum end to end against SeaweedFS: the checksum S3 stores for each object (read back with
ChecksumMode=ENABLED) equals one computed here independently from the bytes, and is the one the
report and the output line carry; skip-unchanged tells checksum algorithms apart."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from awscrt import checksums

from tests.conftest import cli_env, open_uploads, read_object, run_cli

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

PART = 5 * 1024 * 1024
ROW = "tt{:07d}|movie|Ação e Reação nº {:d}|Coração – “edição” especial €|2001|Drama\n"


def independent(name: str, body: bytes) -> tuple[str, str]:
    """(algorithm, value) as S3 shows them, from the whole body (and 5 MiB parts for SHA-256)."""
    if name == "crc64nvme":
        return "CRC64NVME", base64.b64encode(checksums.crc64nvme(body).to_bytes(8, "big")).decode()
    if name == "crc32c":
        return "CRC32C", base64.b64encode(checksums.crc32c(body).to_bytes(4, "big")).decode()
    if name == "crc32":
        return "CRC32", base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    if len(body) <= PART:
        return "SHA256", base64.b64encode(hashlib.sha256(body).digest()).decode()
    parts = [hashlib.sha256(body[i : i + PART]).digest() for i in range(0, len(body), PART)]
    return "SHA256", base64.b64encode(hashlib.sha256(b"".join(parts)).digest()).decode() + f"-{len(parts)}"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """A cp1252 file of 3 parts of UTF-8 and a small UTF-8 one; their UTF-8 bodies by name."""
    folder = tmp_path_factory.mktemp("checksum") / "src"
    folder.mkdir()
    text = "".join(ROW.format(i, i) for i in range(120_000))
    (folder / "big.csv").write_bytes(text.encode("cp1252"))
    (folder / "small.csv").write_text("id|nome\n1|José\n", encoding="utf-8")
    return folder, {"big.csv": text.encode("utf-8"), "small.csv": "id|nome\n1|José\n".encode()}


def upload(folder: Path, bucket: str, prefix: str, endpoint: str, report: Path, *extra: str) -> Any:
    return run_cli(
        folder, "--bucket", bucket, "--key-template", prefix + "/{filename}", "--part-size", "5MiB",
        "--report", report, *extra, env=cli_env(endpoint),
    )  # fmt: skip


@pytest.mark.parametrize("name", ["crc64nvme", "crc32c", "crc32", "sha256"])
def test_the_stored_checksum_is_the_one_of_the_bytes(
    name: str, s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, sources: Any
) -> None:
    folder, bodies = sources
    report = tmp_path / "report.json"
    result = upload(folder, shared_bucket, prefix, s3_server.endpoint_url, report, "--checksum", name)
    assert result.returncode == 0, result.output
    entries = {Path(e["source"]).name: e for e in json.loads(report.read_text())["files"]}
    for filename, body in bodies.items():
        key = f"{prefix}/{filename}"
        assert read_object(s3, shared_bucket, key) == body
        algorithm, value = independent(name, body)
        head = s3.head_object(Bucket=shared_bucket, Key=key, ChecksumMode="ENABLED")
        assert head[f"Checksum{algorithm}"] == value
        entry = entries[filename]
        assert (entry["checksum_algorithm"], entry["checksum"]) == (algorithm, value)
        assert entry["sha256"] == (hashlib.sha256(body).hexdigest() if name == "sha256" else None)
        assert f"{key}  " in result.stdout and f"  {name}={value}" in result.stdout
    assert entries["big.csv"]["parts"] == 3 and entries["big.csv"]["checksum_type"] == (
        "COMPOSITE" if name == "sha256" else "FULL_OBJECT"
    )
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_md5_sends_content_md5_and_checks_the_etag(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, sources: Any
) -> None:
    folder, bodies = sources
    report = tmp_path / "report.json"
    result = upload(folder, shared_bucket, prefix, s3_server.endpoint_url, report, "--checksum", "md5")
    assert result.returncode == 0, result.output
    entries = {Path(e["source"]).name: e for e in json.loads(report.read_text())["files"]}
    small = bodies["small.csv"]
    assert entries["small.csv"]["etag"].strip('"') == hashlib.md5(small).hexdigest()
    assert entries["big.csv"]["etag"].strip('"').endswith("-3") and entries["big.csv"]["sha256"] is None
    for filename, body in bodies.items():
        assert read_object(s3, shared_bucket, f"{prefix}/{filename}") == body


def test_an_object_stored_with_another_checksum_is_uploaded_again(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, sources: Any
) -> None:
    folder, bodies = sources
    report = tmp_path / "report.json"
    endpoint = s3_server.endpoint_url
    assert upload(folder, shared_bucket, prefix, endpoint, report, "--checksum", "md5").returncode == 0
    assert upload(folder, shared_bucket, prefix, endpoint, report).returncode == 0
    assert {e["status"] for e in json.loads(report.read_text())["files"]} == {"uploaded"}
    again = upload(folder, shared_bucket, prefix, endpoint, report)
    assert again.returncode == 0, again.output
    entries = {Path(e["source"]).name: e for e in json.loads(report.read_text())["files"]}
    for filename, body in bodies.items():  # skipped, with the stored checksum read back
        assert entries[filename]["status"] == "skipped"
        algorithm, value = independent("crc64nvme", body)
        assert (entries[filename]["checksum_algorithm"], entries[filename]["checksum"]) == (algorithm, value)
        assert f"crc64nvme={value}" in again.stdout
