"""Compressed sources in: .csv.gz, .csv.zst and .csv.bz2 read as streams of the CSV's own bytes.

A decompressing reader gives the part filler the decompressed bytes through the same readinto() as a
plain file, in bounded pieces: output past --max-expanded-size (or MAX_RATIO times the compressed
bytes read) is refused as a decompression bomb, never cut. gzip inflates through ISA-L (python-isal's
isal_zlib: ~1.5x zlib); isal_zlib, bz2 and zstandard release the GIL while they work, so the worker
threads filling parts run in parallel. Zip members (archives.py) share the streams and the bounds.

Separate from transform/compression.py (the --compress output side): this side opens files and
reads them, which transform/ does not; it is how a source is read, so it lives with the sources.
"""

from __future__ import annotations

import bz2
import io
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, cast

import zstandard
from isal import isal_zlib

from async_ingest.units import GiB, KiB, MiB

CSV_SUFFIX = ".csv"  # a CSV's own suffix; a compressed source adds its format's (movies.csv.gz)
# Suffix of a compressed source (after .csv) and its format.
SOURCE_FORMATS = {".gz": "gzip", ".zst": "zstd", ".bz2": "bzip2"}
_SOURCE_SUFFIXES = tuple(SOURCE_FORMATS)
# --max-expanded-size: what one compressed source may expand to. Its size is unknown up front, so
# parts are planned for this bound (32 GiB of cp1252, at worst 96 GiB of UTF-8: 10 MiB parts).
DEFAULT_MAX_EXPANDED_SIZE = 32 * GiB
# Beyond RATIO_FLOOR of output, a source expanding more than MAX_RATIO times its compressed bytes
# read so far is a decompression bomb: CSV compresses 3-20x, very repetitive exports ~100x.
MAX_RATIO = 1000
RATIO_FLOOR = 64 * MiB
READ_BLOCK = 64 * KiB  # compressed bytes read at a time
# Decompressed bytes made at a time, whatever the reader asks for: a part buffer of hundreds of MiB
# must not be matched by an output string as large (memory follows --max-memory).
OUTPUT_CHUNK = 1 * MiB
MAX_EXPANDED_OPTION = "{opt:max_expanded_size}"  # the bound's name in a refusal, spelled by the front end
# What each format's files start with: a file named .gz that is not gzip is said to be so, rather
# than reported as truncated or corrupt gzip data. zstd: a frame, or a skippable frame (0x184D2A5?).
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "gzip": (b"\x1f\x8b",),
    "bzip2": (b"BZh",),
    "zstd": (b"\x28\xb5\x2f\xfd", *(bytes([0x50 + low, 0x2A, 0x4D, 0x18]) for low in range(16))),
}
_SUFFIX_OF = {"gzip": ".gz", "zstd": ".zst", "bzip2": ".bz2"}
# zstandard's decompress object has no output bound (its stream reader has one, but ends silently on
# a truncated frame): fed slices this small, one call yields at most ~64 MiB (a 128 KiB block can be
# written in 4 bytes), so a bomb is caught before it costs much. Measured: ~300 MiB/s of output at
# 1 KiB slices, ~430 at 4 KiB.
ZSTD_SLICE = 2 * KiB


# Decompressor state paid from the memory budget: ISA-L's inflate state (64 KiB of history and its
# Huffman tables: 87,480 bytes measured) and buffers for gzip; deflate's 32 KiB window and zlib's
# buffers for zip; bzip2's ~3.5 MiB at -9; zstd's window as the first frame declares it (zstd -3:
# 2 MiB, -19: 8 MiB), at most ZSTD_MAX_WINDOW (libzstd's own default limit).
DECOMPRESSOR_MEMORY = {"gzip": 128 * KiB, "zip": 64 * KiB, "bzip2": 4 * MiB}
ZSTD_MAX_WINDOW = 128 * MiB
ZSTD_UNKNOWN_WINDOW = 8 * MiB


def decompressor_memory(path: Path, fmt: str) -> int:
    """Bytes a decompressor of this source holds (for zstd, read from the frame header)."""
    if fmt != "zstd":
        return DECOMPRESSOR_MEMORY[fmt]
    try:
        with open(path, "rb") as file:
            window = int(zstandard.get_frame_parameters(file.read(18)).window_size)
    except (OSError, zstandard.ZstdError):
        window = ZSTD_UNKNOWN_WINDOW  # the read itself will say what is wrong with the file
    return min(max(window, 64 * KiB), ZSTD_MAX_WINDOW) + 256 * KiB


def source_format(name: str) -> str | None:
    """gzip, zstd or bzip2 for a name ending .gz, .zst or .bz2 (any case); None otherwise."""
    lower = name.lower()
    if not lower.endswith(_SOURCE_SUFFIXES):
        return None  # a plain .csv, asked several times per file: without the loop
    return next((fmt for suffix, fmt in SOURCE_FORMATS.items() if lower.endswith(suffix)), None)


def inner_name(name: str) -> str:
    """The CSV's own name: movies.csv.gz -> movies.csv."""
    return name[: name.rfind(".")] if source_format(name) else name


class CompressedSourceError(ValueError):
    """A compressed source that cannot be read to its end: corrupt, truncated, or a bomb."""


def expanded_past(limit: int, limit_name: str = MAX_EXPANDED_OPTION) -> CompressedSourceError:
    """The refusal of a source whose output passed its bound (limit_name says which bound)."""
    return CompressedSourceError(f"expanded past {limit_name} ({limit} bytes): refused, nothing was uploaded")


def not_format(fmt: str, head: bytes) -> CompressedSourceError:
    """A file whose name says fmt but whose first bytes are not fmt's signature."""
    what = f"it starts with {head[:8].hex(' ')}" if head else "it is empty"
    return CompressedSourceError(f"not {fmt} data: named {_SUFFIX_OF.get(fmt, fmt)}, but {what}")


def has_signature(fmt: str, head: bytes) -> bool:
    """Whether head (a file's first bytes, possibly fewer than a signature) may start a fmt file."""
    return bool(head) and any(
        head.startswith(sig) or sig.startswith(head) for sig in SIGNATURES.get(fmt, (head,))
    )


class Stream(Protocol):
    """One gzip member, bzip2 stream or zstd frame: decompress() gives at most limit bytes and keeps
    the input it has not used yet (needs_input: give it more); past eof, unused holds what follows."""

    eof: bool
    needs_input: bool
    unused: bytes

    def decompress(self, data: bytes, limit: int) -> bytes: ...


class ZlibStream:
    """One gzip member through ISA-L's inflate (isal_zlib: zlib's decompress object, ~1.5x faster);
    with wbits -15, a raw deflate stream (a zip member)."""

    def __init__(self, wbits: int = 31) -> None:
        self._d = isal_zlib.decompressobj(wbits)  # 31: gzip framing
        self._tail = b""
        self.eof = False
        self.needs_input = True
        self.unused = b""

    def decompress(self, data: bytes, limit: int) -> bytes:
        out = self._d.decompress(self._tail + data, limit)
        self._tail = self._d.unconsumed_tail
        self.eof, self.unused = self._d.eof, self._d.unused_data
        self.needs_input = not self._tail
        return out


class Bz2Stream:
    def __init__(self) -> None:
        self._d = bz2.BZ2Decompressor()
        self.eof = False
        self.needs_input = True
        self.unused = b""

    def decompress(self, data: bytes, limit: int) -> bytes:
        out = self._d.decompress(data, limit)  # input it cannot use yet, it keeps
        self.eof, self.unused = self._d.eof, self._d.unused_data if self._d.eof else b""
        self.needs_input = self._d.needs_input
        return out


class _ZstdStream:
    def __init__(self) -> None:
        self._d = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).decompressobj()
        self._input = b""  # the block being worked through, ZSTD_SLICE bytes a call
        self._at = 0
        self.eof = False
        self.needs_input = True
        self.unused = b""

    def decompress(self, data: bytes, limit: int) -> bytes:
        if data:  # given only when needs_input: the previous block is used up
            self._input, self._at = data, 0
        end = min(len(self._input), self._at + ZSTD_SLICE)
        out = bytes(self._d.decompress(memoryview(self._input)[self._at : end]))
        self._at = end
        self.eof = bool(self._d.eof)
        if self.eof:
            self.unused = bytes(self._d.unused_data) + self._input[end:]
            self._input, self._at = b"", 0
        self.needs_input = self._at >= len(self._input)
        return out


_STREAMS: dict[str, type[ZlibStream | Bz2Stream | _ZstdStream]] = {
    "gzip": ZlibStream,
    "bzip2": Bz2Stream,
    "zstd": _ZstdStream,
}
_ISAL_ERROR = cast(type[Exception], isal_zlib.error)  # its stub types it as an instance
DECOMPRESS_ERRORS = (zlib.error, _ISAL_ERROR, OSError, EOFError, zstandard.ZstdError)


class ExpandedOutput:
    """What both decompressing readers share: the bytes decompressed but not yet given out are in
    _output from _given on; _more(want) decompresses some more (False at the clean end)."""

    _output: bytes
    _given: int

    def _more(self, want: int) -> bool:
        raise NotImplementedError

    def readinto(self, buffer: memoryview, /) -> int:
        while self._given >= len(self._output):
            if not self._more(len(buffer)):
                return 0
        take = min(len(buffer), len(self._output) - self._given)
        buffer[:take] = memoryview(self._output)[self._given : self._given + take]
        self._given += take
        return take

    def read(self, size: int) -> bytes:
        """Up to size bytes (fewer only at the end)."""
        return read_filled(self.readinto, size)


class DecompressingReader(ExpandedOutput):
    """readinto() of the decompressed bytes of a compressed file, read READ_BLOCK bytes at a time.

    Concatenated streams (gzip members, bzip2 streams, zstd frames) are read one after the other, as
    the command-line tools do. Corrupt or truncated input raises CompressedSourceError naming the
    compressed byte offset where it broke; output beyond max_expanded or MAX_RATIO raises it too.
    """

    def __init__(
        self,
        path: Path,
        fmt: str,
        max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE,
        limit_name: str = MAX_EXPANDED_OPTION,
    ) -> None:
        self.path = path
        self.format = fmt
        self.max_expanded = max_expanded
        self.limit_name = limit_name
        self.compressed_read = 0  # bytes of the file read so far
        self.expanded = 0  # bytes given out so far
        self._file: io.FileIO | None = None
        self._stream: Stream = _STREAMS[fmt]()
        self._output = b""  # decompressed bytes not yet given out, from _given on
        self._given = 0
        self._closed = False

    def _more(self, want: int) -> bool:
        """Decompress some more into _output; False at the clean end of the input."""
        data = b""
        if self._stream.eof:  # another member/frame may follow the one that ended
            data = self._stream.unused or self._read_block()
            if not data:
                return False
            self._stream = _STREAMS[self.format]()
        elif self._stream.needs_input:
            data = self._read_block()
            if not data:
                raise CompressedSourceError(
                    f"truncated {self.format} data: ends at compressed byte offset {self.compressed_read}"
                )
        try:
            out = self._stream.decompress(data, min(max(want, READ_BLOCK), OUTPUT_CHUNK))
        except DECOMPRESS_ERRORS as exc:
            raise CompressedSourceError(
                f"corrupt {self.format} data before compressed byte offset {self.compressed_read}: {exc}"
            ) from None
        self._count(out)
        self._output, self._given = out, 0
        return True

    def _read_block(self) -> bytes:
        if self._closed:
            raise ValueError("read after close")
        if self._file is None:
            self._file = io.FileIO(self.path, "rb")
        block = self._file.read(READ_BLOCK) or b""
        if self.compressed_read == 0 and not has_signature(self.format, block):
            raise not_format(self.format, block)
        self.compressed_read += len(block)
        return block

    def _count(self, out: bytes) -> None:
        self.expanded += len(out)
        if self.expanded > self.max_expanded:
            raise expanded_past(self.max_expanded, self.limit_name)
        if self.expanded > RATIO_FLOOR and self.expanded > MAX_RATIO * max(1, self.compressed_read):
            raise CompressedSourceError(
                f"expands more than {MAX_RATIO} times ({self.expanded} bytes from {self.compressed_read}): "
                "refused as a decompression bomb"
            )

    def close(self) -> None:
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None


class _HeadReader(Protocol):
    def read(self, size: int) -> bytes: ...
    def close(self) -> None: ...


def decompressed_head(reader: _HeadReader, size: int) -> bytes:
    """The first size bytes of the decompressed stream (detection samples the head of a compressed
    source: its middle cannot be reached without decompressing all before it)."""
    try:
        return reader.read(size)
    finally:
        reader.close()


def decompressed_region(reader: _HeadReader, offset: int, length: int) -> bytes:
    """length decompressed bytes centred on offset, streamed through (re-detection after a decode
    failure: rare, and worth one more pass)."""
    start = max(0, offset - length // 2)
    try:
        while start > 0:
            skipped = len(reader.read(min(start, 4 * MiB)))
            if not skipped:
                return b""
            start -= skipped
        return reader.read(length)
    finally:
        reader.close()


FILL_CHUNK = 64 * KiB


def read_filled(readinto: Callable[[memoryview], int], size: int) -> bytes:
    """Up to size bytes from repeated readinto() calls (fewer only at the end of the stream). Grown
    as bytes come: detection asks every source for 8 MiB, and a small one must not cost 8 MiB of
    zeroed memory (10,000 small zip members: 80 GB of memset)."""
    out = bytearray()
    chunk = memoryview(bytearray(min(size, FILL_CHUNK)))
    while len(out) < size:
        count = readinto(chunk[: size - len(out)])
        if count == 0:
            break
        out += chunk[:count]
    return bytes(out)
