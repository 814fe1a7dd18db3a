"""Pure pieces of the pipeline: object arguments and fingerprints (no server)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from async_ingest.pipeline.identity import fingerprint, object_extra
from async_ingest.pipeline.job import FileJob
from async_ingest.pipeline.parts import single_put_etag
from async_ingest.pipeline.skip import regenerated_etag
from async_ingest.settings import IngestSettings
from async_ingest.sources.files import SourceFile
from async_ingest.transform.detect import Detection

SOURCE = SourceFile("exports/filmes ação.csv", "", 1234, 1_700_000_000_000_000_000)
DETECTION = Detection("cp1252", "detected", 0.97, b"")


def test_object_metadata_is_ascii_and_describes_the_source() -> None:
    extra = object_extra(SOURCE, DETECTION, "abc123", IngestSettings(bucket="b"))
    metadata = extra["Metadata"]
    assert all(value.isascii() for value in metadata.values())
    assert metadata["source-name"] == "filmes%20a%C3%A7%C3%A3o.csv"
    assert metadata["source-size"] == "1234"
    assert metadata["source-encoding"] == "cp1252"
    assert metadata["fingerprint"] == "abc123"
    assert "ServerSideEncryption" not in extra and "ACL" not in extra


def test_server_side_encryption_is_passed_through() -> None:
    kms = IngestSettings(bucket="b", sse="aws:kms", sse_kms_key_id="alias/lake")
    extra = object_extra(SOURCE, DETECTION, "f", kms)
    assert extra["ServerSideEncryption"] == "aws:kms" and extra["SSEKMSKeyId"] == "alias/lake"
    assert (
        object_extra(SOURCE, DETECTION, "f", IngestSettings(bucket="b", sse="AES256"))["ServerSideEncryption"]
        == "AES256"
    )


def test_fingerprint_changes_with_content_size_mtime_and_options() -> None:
    settings = IngestSettings(bucket="b")
    base = fingerprint(SOURCE, [b"head", b"tail"], settings)
    assert base == fingerprint(SOURCE, [b"head", b"tail"], settings)
    assert base != fingerprint(SOURCE, [b"head", b"tai1"], settings)
    touched = SourceFile(SOURCE.location, "", SOURCE.size, SOURCE.mtime_ns + 1)
    assert base != fingerprint(touched, [b"head", b"tail"], settings)
    assert base != fingerprint(SOURCE, [b"head", b"tail"], IngestSettings(bucket="b", encoding="latin-1"))
    assert base != fingerprint(
        SOURCE, [b"head", b"tail"], IngestSettings(bucket="b", on_decode_error="replace")
    )
    # An object stored with another checksum is not taken for this one.
    assert base != fingerprint(SOURCE, [b"head", b"tail"], IngestSettings(bucket="b", checksum="crc32c"))


@pytest.mark.parametrize(
    ("data", "detection", "errors", "body"),
    [
        ("id;nome\n1;Ação €\n".encode("cp1252"), Detection("cp1252", "detected", 0.9, b""), "strict", None),
        (
            "id,n\n1,Zoë\n".encode("utf-8-sig"),
            Detection("utf-8", "bom", 1.0, b"\xef\xbb\xbf"),
            "strict",
            None,
        ),
        (b"id\n\xff\n", Detection("utf-8", "forced", 1.0, b""), "replace", "id\n\ufffd\n".encode()),
        (b"id\n\xff\n", Detection("utf-8", "forced", 1.0, b""), "strict", b""),
    ],
)
def test_a_small_file_is_regenerated_as_the_bytes_its_upload_sends(
    tmp_path: Path, data: bytes, detection: Detection, errors: str, body: bytes | None
) -> None:
    # The re-run compares this ETag with the listed one: it must be the MD5 of the very object.
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    source = SourceFile(str(path), "", len(data), 0)
    job = FileJob(source, "k", detection, "fp", IngestSettings(bucket="b"), None, None, print)  # type: ignore[arg-type]
    job.errors = errors
    expected = data.decode(detection.encoding, errors="replace").removeprefix("\ufeff").encode()
    if body == b"":  # does not decode strictly: no ETag, the upload finds out
        assert regenerated_etag(job) is None
        return
    assert regenerated_etag(job) == single_put_etag(hashlib.md5(body or expected).digest())
