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
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, cast

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
        raise ValueError(f"{{opt:compress}} {name}: expected one of {', '.join(COMPRESS_NAMES)}")
    if name == "none":
        if level is not None:
            raise ValueError("{opt:compress_level} needs {opt:compress} gzip or zstd")
        return NO_COMPRESSION
    low, high = LEVEL_RANGES[name]
    chosen = DEFAULT_LEVELS[name] if level is None else level
    if not low <= chosen <= high:
        raise ValueError(f"{{opt:compress_level}} {chosen}: {name} takes {low} to {high}")
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
# Decompressed bytes made at a time, whatever the reader asks for: a part buffer of hundreds of MiB
# must not be matched by an output string as large (memory follows --max-memory).
OUTPUT_CHUNK = 1 * MiB
MAX_EXPANDED_OPTION = "--max-expanded-size"
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


class _Stream(Protocol):
    """One gzip member, bzip2 stream or zstd frame: decompress() gives at most limit bytes and keeps
    the input it has not used yet (needs_input: give it more); past eof, unused holds what follows."""

    eof: bool
    needs_input: bool
    unused: bytes

    def decompress(self, data: bytes, limit: int) -> bytes: ...


class _ZlibStream:
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


class _ExpandedOutput:
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


class DecompressingReader(_ExpandedOutput):
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
        self._stream: _Stream = _STREAMS[fmt]()
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


# Zip members are read here, not through zipfile: zipfile inflates bzip2 and LZMA members with no
# output bound (an 899-byte member took 2 GB), trusts the declared size to stop (a member that goes on
# past it is cut there), and each ZipFile() parses the whole central directory again (quadratic over
# the members of one archive). Listing parses the directory once; each member is then read from its
# local header on, through a decompressor bounded like the other formats.
ZIP_STORED, ZIP_DEFLATED, ZIP_BZIP2 = 0, 8, 12
ZIP_METHODS = {ZIP_STORED: "stored", ZIP_DEFLATED: "deflate", ZIP_BZIP2: "bzip2"}  # the ones read
# Other methods by name, for the refusal (APPNOTE.TXT 4.4.5).
OTHER_ZIP_METHODS = {9: "deflate64", 14: "LZMA", 93: "zstd", 95: "xz", 96: "JPEG", 97: "WavPack", 98: "PPMd"}
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader: 30 bytes
_LOCAL_SIGNATURE = b"PK\x03\x04"
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")  # a member, an empty archive, spanned


def zip_method_name(method: int) -> str:
    return ZIP_METHODS.get(method) or OTHER_ZIP_METHODS.get(method) or f"method {method}"


@dataclass(frozen=True, slots=True)
class ZipMember:
    """Where a source inside a zip archive is, as its central directory says (read once, at listing)."""

    archive: Path
    name: str  # its path inside the archive, e.g. "2024/movies.csv"
    archive_size: int
    expanded_size: int  # as the archive declares it: reading more is refused, less is corrupt
    header_offset: int = 0  # of its local header in the archive
    compress_size: int = 0
    crc: int = 0
    method: int = ZIP_DEFLATED
    archive_expanded: int = 0  # what all the archive's CSV members declare together
    encrypted: bool = False


class _StoredStream:
    """A stored member: its bytes as they are, limit bytes at a time."""

    eof = False  # a stored member ends where its compressed size says
    unused = b""

    def __init__(self) -> None:
        self._pending = b""
        self.needs_input = True

    def decompress(self, data: bytes, limit: int) -> bytes:
        pending = self._pending + data if self._pending else data
        out, self._pending = pending[:limit], pending[limit:]
        self.needs_input = not self._pending
        return out


def _member_stream(method: int) -> _Stream:
    if method == ZIP_DEFLATED:
        return _ZlibStream(-15)  # raw deflate
    if method == ZIP_BZIP2:
        return _Bz2Stream()
    return _StoredStream()


class ZipMemberReader(_ExpandedOutput):
    """readinto() of one member of a zip archive, decompressed as it is read, from its local header
    on (the archive is opened once per member, its directory never parsed again).

    Refused before a byte is read: a method other than stored, deflate and bzip2; an encrypted
    member; a declared size beyond max_expanded, or MAX_RATIO times the compressed size; an archive
    whose CSV members declare more than max_expanded together. While reading: output past the
    declared size (or max_expanded) is refused, output short of it or a CRC-32 that does not match is
    corrupt. Each decompress call makes at most OUTPUT_CHUNK bytes, whatever the method."""

    def __init__(
        self,
        member: ZipMember,
        max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE,
        limit_name: str = MAX_EXPANDED_OPTION,
    ) -> None:
        self.member = member
        self.name = member.name
        self.max_expanded = max_expanded
        self.limit_name = limit_name
        self.expanded = 0
        self.compressed_read = 0  # of the member's compressed bytes
        self._file: io.FileIO | None = None
        self._stream: _Stream | None = None
        self._data_start = 0
        self._crc = 0
        self._output = b""
        self._given = 0
        self._ended = False
        self._closed = False

    def _open(self) -> _Stream:
        if self._closed:
            raise ValueError("read after close")
        member = self.member
        refuse_member(member, self.max_expanded)
        self._file = io.FileIO(member.archive, "rb")
        self._file.seek(member.header_offset)
        header = self._file.read(_LOCAL_HEADER.size) or b""
        if len(header) < _LOCAL_HEADER.size or not header.startswith(_LOCAL_SIGNATURE):
            offset = member.header_offset
            raise CompressedSourceError(
                f"corrupt zip member {self.name}: no local header at archive byte offset {offset}"
            )
        name_length, extra_length = _LOCAL_HEADER.unpack(header)[10:12]
        self._data_start = member.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        self._file.seek(self._data_start)
        return _member_stream(member.method)

    def _more(self, want: int) -> bool:
        """Decompress some more into _output; False at the member's end (sizes and CRC checked)."""
        if self._ended:
            return False
        stream = self._stream = self._stream or self._open()
        if stream.eof:
            return self._end()
        data = b""
        if stream.needs_input:
            data = self._read_block()
        try:
            out = stream.decompress(data, min(max(want, READ_BLOCK), OUTPUT_CHUNK))
        except _ERRORS as exc:
            raise CompressedSourceError(
                f"corrupt zip member {self.name} before archive byte offset {self._offset()}: {exc}"
            ) from None
        if not out and not data and stream.needs_input and not stream.eof:
            if self.member.method == ZIP_STORED:
                return self._end()
            raise CompressedSourceError(
                f"truncated zip member {self.name}: its data ends at archive byte offset {self._offset()}"
            )
        self._count(out)
        self._output, self._given = out, 0
        return True

    def _read_block(self) -> bytes:
        assert self._file is not None
        left = self.member.compress_size - self.compressed_read
        if left <= 0:
            return b""
        block = self._file.read(min(READ_BLOCK, left)) or b""
        if not block:
            raise CompressedSourceError(
                f"truncated zip member {self.name}: the archive ends at byte offset {self._offset()}"
            )
        self.compressed_read += len(block)
        return block

    def _count(self, out: bytes) -> None:
        self.expanded += len(out)
        self._crc = zlib.crc32(out, self._crc)
        if self.expanded > self.member.expanded_size:
            raise CompressedSourceError(
                f"zip member {self.name} expanded past its declared size ({self.member.expanded_size} "
                "bytes): refused as a decompression bomb"
            )
        if self.expanded > self.max_expanded:
            raise expanded_past(self.max_expanded, self.limit_name)

    def _end(self) -> bool:
        self._ended = True
        if self.expanded != self.member.expanded_size:
            raise CompressedSourceError(
                f"corrupt zip member {self.name}: {self.expanded} bytes, not the {self.member.expanded_size} "
                "its archive declares"
            )
        if self._crc != self.member.crc:
            raise CompressedSourceError(f"corrupt zip member {self.name}: its CRC-32 does not match")
        return False

    def _offset(self) -> int:
        return self._data_start + self.compressed_read

    def close(self) -> None:
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None


def member_refusal(member: ZipMember) -> str | None:
    """Why a member cannot be read at all (said at listing), or None."""
    if member.encrypted:
        return "encrypted zip member: refused (no password support)"
    if member.method not in ZIP_METHODS:
        return (
            f"zip member compressed with {zip_method_name(member.method)}: refused (stored, deflate "
            "and bzip2 members are read)"
        )
    return None


def refuse_member(member: ZipMember, max_expanded: int) -> None:
    """CompressedSourceError for a member that cannot be read or declares a bomb's sizes, alone or
    with the other members of its archive."""
    refusal = member_refusal(member)
    if refusal is not None:
        raise CompressedSourceError(f"zip member {member.name}: {refusal}")
    if member.expanded_size > max_expanded:
        raise CompressedSourceError(
            f"zip member {member.name} expands to {member.expanded_size} bytes, beyond --max-expanded-size "
            f"({max_expanded} bytes): refused as a decompression bomb"
        )
    if over_ratio(member):
        raise CompressedSourceError(
            f"zip member {member.name} expands more than {MAX_RATIO} times ({member.expanded_size} bytes "
            f"from {member.compress_size}): refused as a decompression bomb"
        )
    if member.archive_expanded > max_expanded:
        raise CompressedSourceError(
            f"zip archive's CSV members expand to {member.archive_expanded} bytes together, beyond "
            f"--max-expanded-size ({max_expanded} bytes, which bounds a whole archive): refused"
        )


def over_ratio(member: ZipMember) -> bool:
    """A member declaring more than MAX_RATIO times its compressed size (beyond RATIO_FLOOR)."""
    size = member.expanded_size
    return size > RATIO_FLOOR and size > MAX_RATIO * max(1, member.compress_size)


def archive_refusal(archive_size: int, declared_total: int) -> str | None:
    """Why an archive is refused whole for what its members declare together (a member's own ratio
    misses overlapping members, which share one compressed stream), or None."""
    if declared_total > RATIO_FLOOR and declared_total > MAX_RATIO * max(1, archive_size):
        return (
            f"its CSV members expand more than {MAX_RATIO} times the archive together ({declared_total} "
            f"bytes from {archive_size}): refused as a decompression bomb"
        )
    return None


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
