"""Compressed objects out (--compress gzip|zstd): the UTF-8 output turned into the stored bytes part
by part, each compressor's state paid from the memory budget.

No I/O: bytes in, bytes out. gzip goes through ISA-L (python-isal's isal_zlib, the zlib API on
Intel's igzip: 15-20x zlib -6 at gzip levels 1-3), gzip levels 4-9 through zlib. isal_zlib, zlib and
zstandard release the GIL while they work, so the worker threads filling parts run in parallel.
Compressed sources in (.csv.gz, .csv.zst, .csv.bz2, zip members) are read by
async_ingest/sources/compressed.py and archives.py.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal, Protocol

import zstandard
from isal import isal_zlib

from async_ingest.units import KiB, MiB

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
        raise ValueError("no compressor for {opt:compress} none")


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
