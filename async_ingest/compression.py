"""Compressed objects out (--compress gzip|zstd) and compressed sources in (.csv.gz, .csv.zst, .csv.bz2).

No network. Both directions are streams in bounded pieces: a compressor turns the UTF-8 output into
the stored bytes part by part, a decompressing reader gives the part filler the CSV's own bytes
through the same readinto() as a plain source. gzip goes through ISA-L (python-isal's isal_zlib, the
zlib API on Intel's igzip: 15-20x zlib -6 at gzip levels 1-3, ~1.5x zlib when decompressing), gzip
levels 4-9 through zlib. isal_zlib, zlib, bz2 and zstandard release the GIL while they work, so the
worker threads filling parts run in parallel.
"""

from __future__ import annotations

import bz2
import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol, cast

import zstandard
from isal import isal_zlib

from async_ingest.units import GiB, KiB, MiB

CompressName = Literal["none", "gzip", "zstd"]
COMPRESS_NAMES: tuple[CompressName, ...] = ("none", "gzip", "zstd")
# gzip 2: ISA-L's own default, ~330 MB/s of CPU at 3.0x on CSV (zlib -6: ~18 MB/s at 3.3x); level 1
# is no faster and compresses a little less. zstd 3: zstd's default (fast, ~gzip -6 ratio).
DEFAULT_LEVELS = {"gzip": 2, "zstd": 3}
LEVEL_RANGES = {"gzip": (1, 9), "zstd": (1, 19)}  # zstd 20-22 need windows of 64 MiB and more
ISAL_LEVELS = range(1, 4)  # gzip 1-3: ISA-L's levels 1-3, standard gzip; 4-9: zlib (slow, best ratio)
# ISA-L's state: its stream (64 KiB history + hash heads: 82,448 bytes measured with tracemalloc) and
# the level buffer python-isal allocates (ISAL_DEF_LVLn_LARGE of igzip_lib.h, memLevel 8).
ISAL_STREAM = 81 * KiB
ISAL_LEVEL_BUFFERS = {1: 276 * KiB, 2: 324 * KiB, 3: 340 * KiB}
# zstd compresses on a thread of libzstd's own, ZSTD_JOB bytes of text a job, so the part filler
# transcodes the next block while the last one compresses; the output stays one standard frame.
# Measured on 1 GiB (bench/README.md): wall ~0.7x of one thread; 2 workers no faster on 2 cores, with
# more memory. libzstd's own job size (4 windows: 8 MiB at level 3) would hold ~50 MiB a stream; 1 MiB
# costs ~0.5% of ratio. Levels 16-19 stay on the filling thread: their jobs would grow to their overlap
# with the previous one (2-8 MiB: ~50 MiB more at 19).
ZSTD_WORKERS = 1
ZSTD_JOB = 1 * MiB


@dataclass(frozen=True)
class OutputCompression:
    """What --compress writes: the key suffix, the Content-Type, the level."""

    name: CompressName
    level: int

    @property
    def suffix(self) -> str:
        return {"none": "", "gzip": ".gz", "zstd": ".zst"}[self.name]

    @property
    def content_type(self) -> str | None:
        return {"none": None, "gzip": "application/gzip", "zstd": "application/zstd"}[self.name]

    @property
    def memory(self) -> int:
        """Bytes the compressor's state holds (its window and tables), paid from the memory budget."""
        if self.name == "gzip" and self.level in ISAL_LEVELS:
            return ISAL_STREAM + ISAL_LEVEL_BUFFERS[self.level] + 64 * KiB  # plus its output buffers
        if self.name == "gzip":
            return 256 * KiB + 64 * KiB  # zlib: (1 << (15 + 2)) + (1 << (8 + 9)), plus its buffers
        if self.name == "zstd":
            return zstd_memory(self.level)
        return 0

    def compressor(self) -> Compressor:
        if self.name == "gzip" and self.level in ISAL_LEVELS:  # 31: gzip framing, as zlib's
            return _Zlib(isal_zlib.compressobj(self.level, isal_zlib.DEFLATED, 31))
        if self.name == "gzip":
            return _Zlib(zlib.compressobj(self.level, zlib.DEFLATED, 31))  # 31: gzip framing
        if self.name == "zstd":
            return _Zlib(zstd_compressor(self.level).compressobj())
        raise ValueError("no compressor for --compress none")


def zstd_compressor(level: int) -> zstandard.ZstdCompressor:
    """Content size unknown up front (as `zstd` on a pipe); a checksum, as `zstd` writes by default."""
    workers = _zstd_workers(level)
    params = zstandard.ZstdCompressionParameters.from_level(
        level, threads=workers, job_size=ZSTD_JOB if workers else 0, write_checksum=1
    )
    return zstandard.ZstdCompressor(compression_params=params)


def zstd_memory(level: int) -> int:
    """What a zstd_compressor(level) holds at most (its memory_size(), measured at levels 1-19): each
    worker's context (libzstd's estimate is for one, without the stream's buffers: its window and a
    block in, a block out) and (2 x workers + 4) job buffers."""
    params = zstandard.ZstdCompressionParameters.from_level(level)
    context = int(params.estimated_compression_context_size())
    stream = (1 << params.window_log) + 260 * KiB
    workers = _zstd_workers(level)
    if not workers:
        return context + stream
    return workers * (context + stream) + (2 * workers + 4) * ZSTD_JOB


def _zstd_workers(level: int) -> int:
    """ZSTD_WORKERS while a job stays ZSTD_JOB: libzstd grows it to its overlap with the previous job,
    by default 1/8 of the window for fast strategies, up to the whole window for btultra (16+)."""
    params = zstandard.ZstdCompressionParameters.from_level(level)
    overlap_log = {9: 9, 8: 9, 7: 8, 6: 7, 5: 7}.get(params.strategy, 6)  # zstd_compress.c's defaults
    return ZSTD_WORKERS if 1 << (params.window_log - 9 + overlap_log) <= ZSTD_JOB else 0


NO_COMPRESSION = OutputCompression("none", 0)


def output_compression(name: str, level: int | None) -> OutputCompression:
    """--compress and --compress-level, validated (ValueError names the option)."""
    if name not in COMPRESS_NAMES:
        raise ValueError(f"--compress {name}: expected one of {', '.join(COMPRESS_NAMES)}")
    if name == "none":
        if level is not None:
            raise ValueError("--compress-level needs --compress gzip or zstd")
        return NO_COMPRESSION
    low, high = LEVEL_RANGES[name]
    chosen = DEFAULT_LEVELS[name] if level is None else level
    if not low <= chosen <= high:
        raise ValueError(f"--compress-level {chosen}: {name} takes {low} to {high}")
    return OutputCompression(name, chosen)


class Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


class _Zlib:
    """zlib's, isal_zlib's and zstandard's compress objects share compress()/flush(); the wrapper names
    the type."""

    def __init__(self, inner: zlib._Compress | isal_zlib.Compress | zstandard.ZstdCompressionObj) -> None:
        self._inner = inner

    def compress(self, data: bytes, /) -> bytes:
        return self._inner.compress(data)

    def flush(self) -> bytes:
        return self._inner.flush()


# ---- compressed sources -------------------------------------------------------------------------

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


class _Stream(Protocol):
    """One gzip member, bzip2 stream or zstd frame: decompress() gives at most limit bytes and keeps
    the input it has not used yet (needs_input: give it more); past eof, unused holds what follows."""

    eof: bool
    needs_input: bool
    unused: bytes

    def decompress(self, data: bytes, limit: int) -> bytes: ...


class _ZlibStream:
    """One gzip member through ISA-L's inflate (isal_zlib: zlib's decompress object, ~1.5x faster)."""

    def __init__(self) -> None:
        self._d = isal_zlib.decompressobj(31)  # 31: gzip framing
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


class _Bz2Stream:
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


_STREAMS: dict[str, type[_ZlibStream | _Bz2Stream | _ZstdStream]] = {
    "gzip": _ZlibStream,
    "bzip2": _Bz2Stream,
    "zstd": _ZstdStream,
}
_ISAL_ERROR = cast(type[Exception], isal_zlib.error)  # its stub types it as an instance
_ERRORS = (zlib.error, _ISAL_ERROR, OSError, EOFError, zstandard.ZstdError)


class DecompressingReader:
    """readinto() of the decompressed bytes of a compressed file, read READ_BLOCK bytes at a time.

    Concatenated streams (gzip members, bzip2 streams, zstd frames) are read one after the other, as
    the command-line tools do. Corrupt or truncated input raises CompressedSourceError naming the
    compressed byte offset where it broke; output beyond max_expanded or MAX_RATIO raises it too.
    """

    def __init__(self, path: Path, fmt: str, max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE) -> None:
        self.path = path
        self.format = fmt
        self.max_expanded = max_expanded
        self.compressed_read = 0  # bytes of the file read so far
        self.expanded = 0  # bytes given out so far
        self._file: io.FileIO | None = None
        self._stream: _Stream = _STREAMS[fmt]()
        self._output = b""  # decompressed bytes not yet given out, from _given on
        self._given = 0
        self._closed = False

    def readinto(self, buffer: memoryview, /) -> int:
        while self._given >= len(self._output):
            if not self._decompress_more(len(buffer)):
                return 0
        take = min(len(buffer), len(self._output) - self._given)
        buffer[:take] = memoryview(self._output)[self._given : self._given + take]
        self._given += take
        return take

    def read(self, size: int) -> bytes:
        """Up to size bytes (fewer only at the end)."""
        return read_filled(self.readinto, size)

    def _decompress_more(self, want: int) -> bool:
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
            out = self._stream.decompress(data, max(want, READ_BLOCK))
        except _ERRORS as exc:
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
        self.compressed_read += len(block)
        return block

    def _count(self, out: bytes) -> None:
        self.expanded += len(out)
        if self.expanded > self.max_expanded:
            raise CompressedSourceError(
                f"expands beyond --max-expanded-size ({self.max_expanded} bytes): refused as a "
                "decompression bomb"
            )
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


class ZipMemberReader:
    """readinto() of one member of a zip archive, decompressed as it is read (zipfile reads the
    archive in small blocks and stops at the member's declared size, then checks its CRC).

    A member whose declared size exceeds max_expanded, or MAX_RATIO times its compressed size, is
    refused before a byte is read; an encrypted one is refused by name (no password support)."""

    def __init__(self, archive: Path, name: str, max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE) -> None:
        self.archive = archive
        self.name = name
        self.max_expanded = max_expanded
        self.expanded = 0
        self._zip: zipfile.ZipFile | None = None
        self._member: IO[bytes] | None = None
        self._info: zipfile.ZipInfo | None = None
        self._closed = False

    @property
    def compressed_read(self) -> int:
        """An estimate (zipfile does not say): the compressed share of what was given out."""
        info = self._info
        if info is None or not info.file_size:
            return 0
        return min(info.compress_size, self.expanded * info.compress_size // info.file_size)

    def _open(self) -> IO[bytes]:
        if self._closed:
            raise ValueError("read after close")
        try:
            self._zip = zipfile.ZipFile(self.archive)
            info = self._info = self._zip.getinfo(self.name)
            refuse_member(info, self.max_expanded)
            return self._zip.open(info)
        except (zipfile.BadZipFile, KeyError, NotImplementedError, RuntimeError) as exc:
            raise CompressedSourceError(f"cannot read zip member {self.name}: {exc}") from None

    def readinto(self, buffer: memoryview, /) -> int:
        if self._member is None:
            self._member = self._open()
        try:
            data = self._member.read(len(buffer))
        except (zipfile.BadZipFile, EOFError, zlib.error, OSError, NotImplementedError) as exc:
            raise CompressedSourceError(
                f"corrupt zip member {self.name} before archive byte offset {self._archive_offset()}: {exc}"
            ) from None
        buffer[: len(data)] = data
        self.expanded += len(data)
        return len(data)

    def _archive_offset(self) -> int | str:
        # zipfile keeps the archive's file object privately; its position is where reading stopped.
        fileobj = getattr(self._member, "_fileobj", None)
        try:
            return int(fileobj.tell()) if fileobj is not None else "?"
        except (OSError, ValueError):
            return "?"

    def read(self, size: int) -> bytes:
        """Up to size bytes (fewer only at the end)."""
        return read_filled(self.readinto, size)

    def close(self) -> None:
        self._closed = True
        if self._member is not None:
            self._member.close()
        if self._zip is not None:
            self._zip.close()


def refuse_member(info: zipfile.ZipInfo, max_expanded: int) -> None:
    """CompressedSourceError for a member that is encrypted or declares a bomb's sizes."""
    if info.flag_bits & 0x1:
        raise CompressedSourceError(f"zip member {info.filename} is encrypted: refused (no password support)")
    if info.file_size > max_expanded:
        raise CompressedSourceError(
            f"zip member {info.filename} expands to {info.file_size} bytes, beyond --max-expanded-size "
            f"({max_expanded} bytes): refused as a decompression bomb"
        )
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(1, info.compress_size):
        raise CompressedSourceError(
            f"zip member {info.filename} expands more than {MAX_RATIO} times ({info.file_size} bytes "
            f"from {info.compress_size}): refused as a decompression bomb"
        )


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


def read_filled(readinto: Callable[[memoryview], int], size: int) -> bytes:
    """Up to size bytes from repeated readinto() calls (fewer only at the end of the stream)."""
    out = bytearray(size)
    view, filled = memoryview(out), 0
    while filled < size:
        count = readinto(view[filled:])
        if count == 0:
            break
        filled += count
    return bytes(out[:filled])
