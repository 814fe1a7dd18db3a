"""The checksum that protects each part and the whole object (--checksum): how one part's is computed,
how S3 is told about it, and what S3 stores for the object.

CRC64NVME, CRC32C and CRC32 are S3's full-object checksums: the object's value is the CRC of all its
bytes, combined from the parts' values without reading the bytes again, and S3 keeps it readable for
anyone (HeadObject with ChecksumMode=ENABLED). SHA-256 of a multipart object is COMPOSITE (SHA-256
of the parts' SHA-256s, then "-N"). md5 is the path for stores without flexible checksums:
Content-MD5 on every request and the ETag compared after completion.

No network; awscrt computes the CRCs (tens of GB/s, without holding the GIL)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Part = bytes | bytearray | memoryview
ChecksumName = Literal["crc64nvme", "crc32c", "crc32", "sha256", "md5"]
CHECKSUM_NAMES: tuple[ChecksumName, ...] = ("crc64nvme", "crc32c", "crc32", "sha256", "md5")
DEFAULT_CHECKSUM: ChecksumName = "crc64nvme"
# Response fields of PutObject, CompleteMultipartUpload and HeadObject that carry a checksum.
_STORED_ALGORITHMS = ("CRC64NVME", "CRC32C", "CRC32", "SHA256", "SHA1")


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _crc(name: str, width: int) -> tuple[Callable[[Part], bytes], Callable[[bytes, bytes, int], bytes]]:
    # awscrt is imported at first use: loading it costs ~80 ms of CPU that a dry run does not need.
    def digest(data: Part) -> bytes:
        from awscrt import checksums as crt

        compute: Callable[[Part, int], int] = getattr(crt, name)
        return compute(data, 0).to_bytes(width, "big")

    def joined(first: bytes, second: bytes, second_size: int) -> bytes:
        from awscrt import checksums as crt

        combine: Callable[[int, int, int], int] = getattr(crt, f"combine_{name}")
        value = combine(int.from_bytes(first, "big"), int.from_bytes(second, "big"), second_size)
        return value.to_bytes(width, "big")

    return digest, joined


def _sha256(data: Part) -> bytes:
    return hashlib.sha256(data).digest()


def _md5(data: Part) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


@dataclass(frozen=True, slots=True)
class StoredChecksum:
    """The checksum S3 keeps for an object, as S3 shows it."""

    algorithm: str  # S3's name: CRC64NVME, CRC32C, CRC32, SHA256, SHA1
    value: str  # base64; a COMPOSITE one ends in "-<parts>"
    type: str | None = None  # FULL_OBJECT | COMPOSITE (None: the server did not say)


def stored_checksum(response: Mapping[str, Any], preferred: str | None = None) -> StoredChecksum | None:
    """The checksum in an S3 response, the preferred algorithm's if there are several."""
    found = {
        name: str(response[f"Checksum{name}"])
        for name in _STORED_ALGORITHMS
        if response.get(f"Checksum{name}")
    }
    if not found:
        return None
    algorithm = preferred if preferred in found else next(iter(found))
    kind = response.get("ChecksumType")
    return StoredChecksum(algorithm, found[algorithm], str(kind) if kind else None)


@dataclass(frozen=True)
class Checksum:
    """One algorithm of --checksum."""

    name: ChecksumName
    digest: Callable[[Part], bytes]  # one part's checksum, binary
    # Full-object algorithms: the checksum of A+B from A's, B's and B's length.
    combine: Callable[[bytes, bytes, int], bytes] | None = None

    @property
    def flexible(self) -> bool:
        """Sent as x-amz-checksum-* and stored by S3; md5 goes as Content-MD5 and is checked by ETag."""
        return self.name != "md5"

    @property
    def s3_name(self) -> str:
        return self.name.upper()

    @property
    def member(self) -> str:
        """The request/response member, e.g. ChecksumCRC64NVME."""
        return f"Checksum{self.s3_name}"

    @property
    def object_type(self) -> str:
        return "FULL_OBJECT" if self.combine is not None else "COMPOSITE"

    def request_args(self, digest: bytes) -> dict[str, str]:
        """PutObject/UploadPart arguments carrying one body's checksum. Given the value, botocore
        adds no checksum of its own (no aws-chunked trailer)."""
        if not self.flexible:
            return {"ContentMD5": b64(digest)}
        return {"ChecksumAlgorithm": self.s3_name, self.member: b64(digest)}

    def create_args(self) -> dict[str, str]:
        """CreateMultipartUpload arguments: the algorithm every part carries and the object's type."""
        return {"ChecksumAlgorithm": self.s3_name, "ChecksumType": self.object_type} if self.flexible else {}

    def part_entry(self, digest: bytes) -> dict[str, str]:
        """A part's checksum in CompleteMultipartUpload's part list."""
        return {self.member: b64(digest)} if self.flexible else {}

    def complete_args(self, parts: list[tuple[bytes, int]]) -> dict[str, str]:
        """CompleteMultipartUpload arguments: the full-object value, which S3 checks against the bytes
        (a COMPOSITE value is S3's to compute; it is compared after completion)."""
        if self.combine is None:
            return {}
        return {"ChecksumType": "FULL_OBJECT", self.member: self.object_value(parts, multipart=True)}

    def object_value(self, parts: list[tuple[bytes, int]], *, multipart: bool) -> str:
        """The object's checksum as S3 shows it, from its parts' (digest, size) in order."""
        if not multipart:
            return b64(parts[0][0])
        if self.combine is None:
            combined = hashlib.sha256(b"".join(digest for digest, _ in parts)).digest()
            return f"{b64(combined)}-{len(parts)}"
        value, _ = parts[0]
        for digest, size in parts[1:]:
            value = self.combine(value, digest, size)
        return b64(value)


_crc64nvme = _crc("crc64nvme", 8)
_crc32c = _crc("crc32c", 4)
_crc32 = _crc("crc32", 4)
CHECKSUMS: dict[str, Checksum] = {
    "crc64nvme": Checksum("crc64nvme", *_crc64nvme),
    "crc32c": Checksum("crc32c", *_crc32c),
    "crc32": Checksum("crc32", *_crc32),
    "sha256": Checksum("sha256", _sha256),
    "md5": Checksum("md5", _md5),
}
