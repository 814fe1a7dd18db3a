"""Cutting a byte stream into S3 parts, and the checksum arithmetic of S3 ETags. Pure: no network."""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterable

from async_ingest.units import GiB, MiB

MIN_PART_SIZE = 5 * MiB  # S3: every part but the last
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 8 * MiB

# Most UTF-8 bytes one source byte can become: a single-byte code page maps 0x80 to U+20AC (3 bytes).
# UTF-16 turns 2 bytes into at most 3; UTF-8 and UTF-32 never grow.
_EXPANSION_BY_CODEC = {"utf-8": 1.0, "utf-32-le": 1.0, "utf-32-be": 1.0, "utf-16-le": 1.5, "utf-16-be": 1.5}
WORST_EXPANSION = 3.0


def max_expansion(codec: str) -> float:
    return _EXPANSION_BY_CODEC.get(codec, WORST_EXPANSION)


def plan_part_size(source_size: int, codec: str, requested: int = DEFAULT_PART_SIZE) -> int:
    """The requested part size, grown (in whole MiB) so the largest possible output fits 10,000 parts.

    The transcoded size is unknown until the end, so plan for the worst expansion of the codec.
    """
    worst_output = math.ceil(source_size * max_expansion(codec))
    needed = math.ceil(worst_output / MAX_PARTS)
    size = max(requested, MIN_PART_SIZE, math.ceil(needed / MiB) * MiB)
    if size > MAX_PART_SIZE:
        raise ValueError(f"a {source_size} byte source cannot fit in {MAX_PARTS} parts of at most 5 GiB")
    return size


Part = bytes | bytearray


class PartCutter:
    """Collects chunks and hands out parts of exactly part_size bytes (the last may be shorter).

    A part grows in one buffer as chunks arrive (one copy per byte, nothing preallocated: a 10 KB
    file must not pay for zeroing an 8 MiB buffer). What is left over after a part is cut is kept as
    a small bytes object until the next feed, so a file waiting for memory budget does not start an
    unpaid part. A chunk that is exactly one part, at a part boundary, passes through uncopied.
    """

    def __init__(self, part_size: int) -> None:
        self.part_size = part_size
        self._buffer: bytearray | None = None
        self._leftover = b""

    @property
    def pending(self) -> int:
        return (len(self._buffer) if self._buffer is not None else 0) + len(self._leftover)

    def feed(self, chunk: bytes) -> list[Part]:
        if self.pending == 0 and len(chunk) == self.part_size:
            return [chunk]
        parts: list[Part] = []
        for piece in (self._take_leftover(), chunk):
            view = memoryview(piece)
            while view:
                if self._buffer is None:
                    if parts and len(view) < self.part_size:
                        self._leftover += bytes(view)  # starts the next part at the next feed
                        break
                    self._buffer = bytearray()
                take = min(self.part_size - len(self._buffer), len(view))
                self._buffer += view[:take]
                view = view[take:]
                if len(self._buffer) == self.part_size:
                    parts.append(self._buffer)
                    self._buffer = None
        return parts

    def _take_leftover(self) -> bytes:
        leftover, self._leftover = self._leftover, b""
        return leftover

    def finish(self) -> Part:
        """What is left (possibly empty): the last part."""
        leftover = self._take_leftover()
        if self._buffer is None:
            return leftover
        last, self._buffer = self._buffer, None
        last += leftover
        return last


def cut(data: Iterable[bytes], part_size: int) -> list[Part]:
    """All parts of a stream at once (for tests and small inputs)."""
    cutter = PartCutter(part_size)
    parts = [part for chunk in data for part in cutter.feed(chunk)]
    last = cutter.finish()
    return [*parts, last] if last or not parts else parts


def content_md5(digest: bytes) -> str:
    """The Content-MD5 header value (base64 of the binary MD5)."""
    return base64.b64encode(digest).decode("ascii")


def single_put_etag(md5_digest: bytes) -> str:
    return f'"{md5_digest.hex()}"'


def multipart_etag(part_md5_digests: list[bytes]) -> str:
    """S3's multipart ETag: MD5 of the concatenated binary part MD5s, then '-' and the part count."""
    combined = hashlib.md5(b"".join(part_md5_digests), usedforsecurity=False).hexdigest()
    return f'"{combined}-{len(part_md5_digests)}"'


def same_etag(a: str, b: str) -> bool:
    return a.strip('"').lower() == b.strip('"').lower()
