"""The checksum arithmetic of --checksum: part values, full-object and composite object values, and the
arguments S3 is given. No server."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest

from async_ingest.s3.checksums import CHECKSUMS, StoredChecksum, b64, stored_checksum

CHECK = b"123456789"  # the standard CRC check input
KNOWN = {"crc64nvme": 0xAE8B14860A799888, "crc32c": 0xE3069283, "crc32": 0xCBF43926}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_crc_check_values(name: str) -> None:
    width = 8 if name == "crc64nvme" else 4
    assert CHECKSUMS[name].digest(CHECK) == KNOWN[name].to_bytes(width, "big")
    assert CHECKSUMS[name].digest(memoryview(bytearray(CHECK))) == KNOWN[name].to_bytes(width, "big")


@pytest.mark.parametrize("name", ["crc64nvme", "crc32c", "crc32"])
def test_full_object_value_is_the_crc_of_all_the_bytes(name: str) -> None:
    checksum = CHECKSUMS[name]
    data = bytes(range(256)) * 300
    pieces = [data[:20_000], data[20_000:50_000], data[50_000:]]
    parts = [(checksum.digest(p), len(p)) for p in pieces]
    assert checksum.object_value(parts, multipart=True) == b64(checksum.digest(data))
    assert checksum.object_type == "FULL_OBJECT"
    if name == "crc32":
        assert checksum.digest(data) == zlib.crc32(data).to_bytes(4, "big")


def test_sha256_multipart_value_is_composite() -> None:
    checksum = CHECKSUMS["sha256"]
    pieces = [b"a" * 10, b"b" * 3]
    digests = [hashlib.sha256(p).digest() for p in pieces]
    parts = [(d, 1) for d in digests]
    expected = base64.b64encode(hashlib.sha256(b"".join(digests)).digest()).decode() + "-2"
    assert checksum.object_value(parts, multipart=True) == expected
    assert checksum.object_value(parts[:1], multipart=False) == b64(digests[0])
    assert checksum.object_type == "COMPOSITE" and checksum.complete_args(parts) == {}


def test_request_arguments() -> None:
    crc = CHECKSUMS["crc64nvme"]
    digest = crc.digest(CHECK)
    assert crc.request_args(digest) == {"ChecksumAlgorithm": "CRC64NVME", "ChecksumCRC64NVME": b64(digest)}
    assert crc.create_args() == {"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "FULL_OBJECT"}
    assert crc.complete_args([(digest, 9)]) == {
        "ChecksumType": "FULL_OBJECT",
        "ChecksumCRC64NVME": b64(digest),
    }
    md5 = CHECKSUMS["md5"]
    assert md5.request_args(b"\x00" * 16) == {"ContentMD5": b64(b"\x00" * 16)}
    assert md5.create_args() == {} and md5.part_entry(b"x") == {} and md5.complete_args([]) == {}


def test_stored_checksum_prefers_the_algorithm_asked_for() -> None:
    response = {
        "ChecksumCRC32": "AAAAAA==",
        "ChecksumCRC64NVME": "AAAAAAAAAAA=",
        "ChecksumType": "FULL_OBJECT",
    }
    assert stored_checksum(response, "CRC32") == StoredChecksum("CRC32", "AAAAAA==", "FULL_OBJECT")
    assert stored_checksum(response, "SHA256") == StoredChecksum("CRC64NVME", "AAAAAAAAAAA=", "FULL_OBJECT")
    assert stored_checksum({"ETag": '"x"'}) is None
