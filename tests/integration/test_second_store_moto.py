"""The core paths against a second S3 implementation, moto's server, beside SeaweedFS: bucket creation,
single PUT and multipart with each --checksum, re-run skip, run manifest.

moto leaves the checksum out of the CompleteMultipartUpload answer; the writer then reads it with
HeadObject (ChecksumMode). Where moto stores a wrong value (CRC32C of a multipart object; a COMPOSITE
SHA-256 without its "-N"), the object is refused: deleted, exit 1, one line naming both values and the
answer the stored one came from."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import CliResult, cli_env, list_keys, open_uploads, read_object, run_cli
from tests.faultproxy import Fault, FaultProxy
from tests.integration.test_checksums_stored import independent

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

ROW = "tt{:07d}|movie|Ação e Reação nº {:d}|Coração – “edição” especial €|2001|Drama\n"
SMALL = "id|nome\n1|José\n"
# Multipart on moto, per --checksum: does the object land (moto stores the right value)?
MULTIPART_LANDS = {"crc64nvme": True, "crc32": True, "md5": True, "crc32c": False, "sha256": False}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """A cp1252 file of 2 parts of UTF-8 (5 MiB parts) and a small UTF-8 one; their UTF-8 bodies."""
    folder = tmp_path_factory.mktemp("moto") / "src"
    folder.mkdir()
    text = "".join(ROW.format(i, i) for i in range(70_000))  # ~5.3 MiB cp1252, ~6.3 MiB UTF-8
    (folder / "big.csv").write_bytes(text.encode("cp1252"))
    (folder / "small.csv").write_text(SMALL, encoding="utf-8")
    return folder, {"big.csv": text.encode("utf-8"), "small.csv": SMALL.encode()}


@pytest.fixture(scope="module")
def moto_bucket(moto_s3: Any) -> str:
    moto_s3.create_bucket(Bucket="async-ingest-moto")
    return "async-ingest-moto"


def upload(source: Path, endpoint: str, bucket: str, prefix: str, tmp_path: Path, *extra: str) -> CliResult:
    return run_cli(
        source, "--bucket", bucket, "--key-template", prefix + "/{filename}", "--part-size", "5MiB",
        "--report", tmp_path / "report.json", "--manifest-key", prefix + "/_manifests/{run_id}.json",
        *extra, env=cli_env(endpoint),
    )  # fmt: skip


def report_entries(tmp_path: Path) -> dict[str, dict[str, Any]]:
    return {Path(e["source"]).name: e for e in json.loads((tmp_path / "report.json").read_text())["files"]}


def test_the_bucket_is_created_on_moto(moto_server: str, moto_s3: Any, sources: Any, tmp_path: Path) -> None:
    folder, bodies = sources
    bucket = f"moto-new-{uuid.uuid4().hex[:8]}"
    result = upload(folder / "small.csv", moto_server, bucket, "p", tmp_path)
    assert result.returncode == 0, result.output
    assert read_object(moto_s3, bucket, "p/small.csv") == bodies["small.csv"]


@pytest.mark.parametrize("name", list(MULTIPART_LANDS))
def test_each_checksum_single_and_multipart_on_moto(
    name: str, moto_server: str, moto_s3: Any, moto_bucket: str, prefix: str, tmp_path: Path, sources: Any
) -> None:
    folder, bodies = sources
    result = upload(folder, moto_server, moto_bucket, prefix, tmp_path, "--checksum", name)
    entries = report_entries(tmp_path)
    lands = MULTIPART_LANDS[name]
    assert result.returncode == (0 if lands else 1), result.output
    landed = bodies if lands else {"small.csv": bodies["small.csv"]}  # a single PUT lands with any
    data_keys = [k for k in list_keys(moto_s3, moto_bucket, f"{prefix}/") if "/_manifests/" not in k]
    assert data_keys == [f"{prefix}/{filename}" for filename in sorted(landed)]
    for filename, body in landed.items():
        key = f"{prefix}/{filename}"
        assert read_object(moto_s3, moto_bucket, key) == body
        if name == "md5":
            etag = entries[filename]["etag"].strip('"')
            assert etag.endswith("-2") if filename == "big.csv" else etag == hashlib.md5(body).hexdigest()
            continue
        algorithm, value = independent(name, body)
        head = moto_s3.head_object(Bucket=moto_bucket, Key=key, ChecksumMode="ENABLED")
        assert head[f"Checksum{algorithm}"] == value
        assert (entries[filename]["checksum_algorithm"], entries[filename]["checksum"]) == (algorithm, value)
    if lands:
        assert entries["big.csv"]["parts"] == 2
    else:
        algorithm, expected = independent(name, bodies["big.csv"])
        line = f"FAILED {folder / 'big.csv'}: s3://{moto_bucket}/{prefix}/big.csv: server {algorithm} "
        assert line in result.output, result.output
        assert (
            "(from HeadObject; the CompleteMultipartUpload answer had none) does not match the "
            f"{expected} computed from the bytes sent, so the object was deleted"
        ) in result.output
        assert entries["big.csv"]["status"] == "failed"
    assert open_uploads(moto_s3, moto_bucket, prefix) == []


def test_moto_crc32c_multipart_is_refused_with_the_value_it_stores(
    moto_server: str, moto_s3: Any, moto_bucket: str, prefix: str, tmp_path: Path, sources: Any
) -> None:
    """moto's CRC32C of a multipart object is in fact the CRC32: the line shows that value."""
    folder, bodies = sources
    result = upload(folder / "big.csv", moto_server, moto_bucket, prefix, tmp_path, "--checksum", "crc32c")
    assert result.returncode == 1
    _, crc32 = independent("crc32", bodies["big.csv"])
    assert f"server CRC32C {crc32} (from HeadObject" in result.output, result.output
    assert list_keys(moto_s3, moto_bucket, f"{prefix}/big") == []


def test_a_rerun_on_moto_skips_and_the_manifest_is_readable(
    moto_server: str, moto_s3: Any, moto_bucket: str, prefix: str, tmp_path: Path, sources: Any
) -> None:
    folder, bodies = sources
    first = upload(folder, moto_server, moto_bucket, prefix, tmp_path)
    assert first.returncode == 0, first.output
    # --manifest-always: a re-run that skipped every file writes no manifest by default.
    again = upload(folder, moto_server, moto_bucket, prefix, tmp_path, "--manifest-always")
    assert again.returncode == 0, again.output
    entries = report_entries(tmp_path)
    for filename, body in bodies.items():
        assert f"s3://{moto_bucket}/{prefix}/{filename}  skipped" in again.stdout, again.output
        assert entries[filename]["status"] == "skipped"
        assert entries[filename]["checksum"] == independent("crc64nvme", body)[1]
        assert read_object(moto_s3, moto_bucket, f"{prefix}/{filename}") == body
    manifests = list_keys(moto_s3, moto_bucket, f"{prefix}/_manifests/")
    assert len(manifests) == 2
    documents = [json.loads(read_object(moto_s3, moto_bucket, key)) for key in manifests]
    statuses = sorted(sorted(o["status"] for o in d["objects"]) for d in documents)
    assert statuses == [["skipped", "skipped"], ["uploaded", "uploaded"]]
    for document in documents:
        assert document["bucket"] == moto_bucket and document["complete"] is True
        assert sorted(o["key"] for o in document["objects"]) == [f"{prefix}/big.csv", f"{prefix}/small.csv"]


@pytest.fixture
def moto_without_checksum_mode(moto_server: str) -> Iterator[FaultProxy]:
    """moto behind a proxy that drops x-amz-checksum-mode from every HEAD: its HeadObject then carries
    no checksum either (moto checks no signature, so the request still passes)."""
    proxy = FaultProxy(int(urlsplit(moto_server).port or 0)).start()
    proxy.add(Fault("drop_header", match=r"^HEAD ", header="x-amz-checksum-mode", times=0))
    yield proxy
    proxy.stop()


def test_no_checksum_in_either_answer_deletes_the_object_and_names_both(
    moto_without_checksum_mode: FaultProxy,
    moto_s3: Any,
    moto_bucket: str,
    prefix: str,
    tmp_path: Path,
    sources: Any,
) -> None:
    folder, _ = sources
    result = upload(folder / "big.csv", moto_without_checksum_mode.url, moto_bucket, prefix, tmp_path)
    assert result.returncode == 1
    assert (
        f"s3://{moto_bucket}/{prefix}/big.csv: the server returned no CRC64NVME checksum for the object "
        "(neither the CompleteMultipartUpload answer nor HeadObject carried one), so the object was "
        "deleted; this store may not support S3 checksums: use --checksum md5"
    ) in result.output, result.output
    assert moto_without_checksum_mode.count(r"^HEAD ") >= 1
    assert list_keys(moto_s3, moto_bucket, f"{prefix}/big") == []
    assert open_uploads(moto_s3, moto_bucket, prefix) == []


def test_moto_stores_what_it_was_sent_without_checking_it(moto_s3: Any, moto_bucket: str) -> None:
    """Why docs/integrity.md says moto verifies nothing: a PutObject with a wrong CRC32 is stored as
    sent, and one with a wrong Content-MD5 is accepted. (SeaweedFS and S3 refuse both: BadDigest.)"""
    wrong = base64.b64encode(b"\0\0\0\0").decode()
    moto_s3.put_object(
        Bucket=moto_bucket, Key="unchecked", Body=b"hello", ChecksumAlgorithm="CRC32", ChecksumCRC32=wrong
    )
    head = moto_s3.head_object(Bucket=moto_bucket, Key="unchecked", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == wrong
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    moto_s3.put_object(Bucket=moto_bucket, Key="unchecked", Body=b"hello", ContentMD5=wrong_md5)
    assert read_object(moto_s3, moto_bucket, "unchecked") == b"hello"
    moto_s3.delete_object(Bucket=moto_bucket, Key="unchecked")
