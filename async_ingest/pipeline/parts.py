"""Filling S3 parts from a source through a transcoder, and the checksum arithmetic of S3 ETags.

No network; the source file is handed in already open. The read-ahead variant (ParallelFiller, parts
read and transformed ahead on a thread pool) is in readahead.py."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from async_ingest.s3.checksums import CHECKSUMS, DEFAULT_CHECKSUM, Checksum
from async_ingest.transform.compression import Compressor
from async_ingest.transform.transcode import Transcoder
from async_ingest.units import GiB, KiB, MiB

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


def fitting_source_size(codec: str, largest_part: int) -> int:
    """The most source bytes whose worst output fits MAX_PARTS parts of at most largest_part bytes
    (in whole MiB, within S3's part sizes): plan_part_size of it is at most largest_part."""
    largest = min(MAX_PART_SIZE, max(MIN_PART_SIZE, largest_part // MiB * MiB))
    return int(largest * MAX_PARTS // max_expansion(codec))


# The largest --max-expanded-size: a compressed source's output is planned for it, and a source in a
# single-byte code page can triple (10,000 parts of 5 GiB hold ~16.3 TiB of such a source).
MAX_EXPANDED_CEILING = fitting_source_size("cp1252", MAX_PART_SIZE)


Part = bytes | bytearray | memoryview

# Non-UTF-8 sources are read in blocks, then transcoded in slices small enough for the decoded str
# (up to 4 bytes a character) and its UTF-8 to stay in the CPU cache (measured on cp1252 text:
# ~3.9 s per GiB in 16 KiB slices, ~6 s in 64 KiB to 1 MiB ones).
TRANSCODE_BLOCK = 256 * KiB
TRANSCODE_SLICE = 16 * KiB


class Readable(Protocol):
    """The source file, opened unbuffered: readinto fills the part buffer directly."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


@dataclass
class FilledPart:
    """A part buffer and how much of it holds the part, with the part's checksum (in the --checksum
    algorithm) and, when needed, its MD5."""

    buffer: bytearray
    size: int
    digest: bytes
    md5: bytes | None = None  # --checksum md5, or a part --resume compares with an ETag

    @property
    def data(self) -> Part:
        return self.buffer if self.size == len(self.buffer) else memoryview(self.buffer)[: self.size]


class PartFiller:
    """Fills part buffers with the UTF-8 form of a source: one call per part, made for a worker thread
    (reading, checking or transcoding, and hashing a part is one hand-off to a thread, not one per
    block).

    A UTF-8 source is read straight into the part buffer and validated where it lies: its bytes are
    copied once, by the kernel. Other encodings are read in blocks and transcoded; output that does
    not fit the part is kept for the next one. At most `length` source bytes are read: a file that
    grows meanwhile is caught afterwards by its size and time, and output always fits a buffer sized
    for the source's worst expansion.

    Only what the checksum needs is computed: the part's checksum, its MD5 for the part numbers in
    md5_parts (parts --resume compares with ETags), the whole object's SHA-256 if asked.
    """

    def __init__(
        self,
        source: Readable,
        transcoder: Transcoder,
        part_size: int,
        length: int,
        checksum: Checksum = CHECKSUMS[DEFAULT_CHECKSUM],
        *,
        md5_parts: Collection[int] = (),
        whole_sha256: bool = False,
        compressor: Compressor | None = None,
        on_text: Callable[[bytes], None] | None = None,
    ) -> None:
        self.transcoder = transcoder
        # --compress: parts hold the compressed stream (so checksums cover the stored bytes); the
        # UTF-8 text goes to on_text first (the CSV check), and its size is counted in text_bytes.
        self.compressor = compressor
        self.on_text = on_text
        self.text_bytes = 0
        self.part_size = part_size
        self.checksum = checksum
        self.sha256 = hashlib.sha256() if whole_sha256 else None  # of the whole object, part after part
        self.parts = 0  # filled so far: the number of the part being filled, once fill() started
        self._md5_parts = frozenset(md5_parts)
        self._source = source
        self._unread = length
        self._leftover = b""
        self._scratch: bytearray | None = None  # read block of the transcoding path, made on first use

    @property
    def text_checked(self) -> bool:
        """on_text sees the UTF-8 (the CSV check), not the caller after each part."""
        return self.compressor is not None

    @property
    def input_done(self) -> bool:
        """Every source byte has been read (output may still be waiting for the next part)."""
        return self._unread == 0 and self.transcoder.finished

    @property
    def exhausted(self) -> bool:
        return self.input_done and not self._leftover

    def fill(self, buffer: bytearray) -> FilledPart:
        """The next part in buffer: part_size bytes (or the buffer's size, if smaller), or what is
        left at the end. Raises DecodeFailure, or OSError from reading."""
        view = memoryview(buffer)
        limit = min(len(buffer), self.part_size)
        filled = self._place(view, 0, limit, self._take_leftover())
        while filled < limit and self._unread:
            if self.compressor is not None:
                filled = self._read_compressed(view, filled, limit)
            elif self.transcoder.passes_through:
                filled += self._read_checked(view[filled : min(limit, filled + self._unread)])
            else:
                filled = self._read_transcoded(view, filled, limit)
        if not self._unread and not self.transcoder.finished:  # so `exhausted` is known right now
            filled = self._place(view, filled, limit, self._finish_output())
        return self._finish_part(buffer, filled)

    def _finish_part(self, buffer: bytearray, filled: int) -> FilledPart:
        """The part's checksums, once its bytes are in buffer[:filled]."""
        part = memoryview(buffer)[:filled]
        self.parts += 1
        if self.sha256 is not None:
            self.sha256.update(part)
        digest = self.checksum.digest(part)
        if not self.checksum.flexible:
            return FilledPart(buffer, filled, digest, digest)
        md5 = CHECKSUMS["md5"].digest(part) if self.parts in self._md5_parts else None
        return FilledPart(buffer, filled, digest, md5)

    def _read_checked(self, target: memoryview) -> int:
        count = self._read_into(target)
        self.transcoder.validate(target[:count])
        return count

    def _read_transcoded(self, view: memoryview, filled: int, limit: int) -> int:
        if self._scratch is None:
            self._scratch = bytearray(min(TRANSCODE_BLOCK, self._unread))  # a small file: its size
        block = memoryview(self._scratch)[: min(TRANSCODE_BLOCK, self._unread)]
        count = self._read_into(block)
        for offset in range(0, count, TRANSCODE_SLICE):
            piece = block[offset : min(count, offset + TRANSCODE_SLICE)]
            filled = self._place(view, filled, limit, self.transcoder.feed(piece))
        return filled

    def _read_compressed(self, view: memoryview, filled: int, limit: int) -> int:
        """A block of source, as UTF-8 (checked in place, or transcoded), through the compressor."""
        if self._scratch is None:
            self._scratch = bytearray(min(TRANSCODE_BLOCK, self._unread))  # a small file: its size
        block = memoryview(self._scratch)[: min(TRANSCODE_BLOCK, self._unread)]
        count = self._read_into(block)
        if self.transcoder.passes_through:
            self.transcoder.validate(block[:count])
            text = bytes(block[:count])
        else:
            text = b"".join(
                self.transcoder.feed(block[offset : min(count, offset + TRANSCODE_SLICE)])
                for offset in range(0, count, TRANSCODE_SLICE)
            )
        return self._place(view, filled, limit, self._compress(text))

    def _compress(self, text: bytes) -> bytes:
        assert self.compressor is not None
        if not text:
            return b""
        self.text_bytes += len(text)
        if self.on_text is not None:
            self.on_text(text)
        return self.compressor.compress(text)

    def _finish_output(self) -> bytes:
        tail = self.transcoder.finish()
        if self.compressor is None:
            return tail
        return self._compress(tail) + self.compressor.flush()

    def _read_into(self, target: memoryview) -> int:
        count = self._source.readinto(target) or 0
        if count == 0:
            self._unread = 0  # shorter than its size: the caller's check of the file reports it
        self._unread -= count
        return count

    def _place(self, view: memoryview, filled: int, limit: int, data: bytes) -> int:
        take = min(len(data), limit - filled)
        view[filled : filled + take] = data[:take]
        if take < len(data):
            self._leftover += data[take:]
        return filled + take

    def _take_leftover(self) -> bytes:
        leftover, self._leftover = self._leftover, b""
        return leftover


def single_put_etag(md5_digest: bytes) -> str:
    return f'"{md5_digest.hex()}"'


def multipart_etag(part_md5_digests: list[bytes]) -> str:
    """S3's multipart ETag: MD5 of the concatenated binary part MD5s, then '-' and the part count."""
    combined = hashlib.md5(b"".join(part_md5_digests), usedforsecurity=False).hexdigest()
    return f'"{combined}-{len(part_md5_digests)}"'


def same_etag(a: str, b: str) -> bool:
    return a.strip('"').lower() == b.strip('"').lower()
