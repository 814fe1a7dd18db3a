"""Compression without a server: the compressing part filler (chunk boundaries, full parts), the
decompressing reader (concatenated streams, truncation, corruption, bombs), option validation."""

from __future__ import annotations

import bz2
import gzip
import random
import shutil
import subprocess
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
import zstandard
from isal import isal_zlib

from async_ingest.cli.table import spell
from async_ingest.outcome import spell_options
from async_ingest.pipeline.parts import PartFiller
from async_ingest.sources.archives import ZipMemberReader
from async_ingest.sources.compressed import (
    DECOMPRESSOR_MEMORY,
    CompressedSourceError,
    DecompressingReader,
    inner_name,
)
from async_ingest.sources.walk import walk_folder
from async_ingest.transform.compression import output_compression, zstd_compressor
from async_ingest.transform.transcode import Transcoder


def text(rows: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(f"{i};Coração {rng.randrange(10**9)};€{rng.random():.6f}\r\n" for i in range(rows))


class Source:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def readinto(self, buffer: memoryview, /) -> int:
        take = min(len(buffer), len(self.data) - self.at, 7777)  # odd reads: boundaries anywhere
        buffer[:take] = self.data[self.at : self.at + take]
        self.at += take
        return take


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
@pytest.mark.parametrize("name", ["gzip", "zstd"])
def test_compressed_parts_are_full_and_concatenate_to_one_stream(encoding: str, name: str) -> None:
    content = text(60_000)
    raw = content.encode(encoding)
    seen: list[bytes] = []
    compress = output_compression(name, None)
    part_size = 64 * 1024
    filler = PartFiller(
        Source(raw),
        Transcoder(encoding),
        part_size,
        len(raw),
        compressor=compress.compressor(),
        on_text=seen.append,
    )
    parts = []
    while not filler.exhausted:
        part = filler.fill(bytearray(part_size))
        parts.append(bytes(part.data))
    assert all(len(p) == part_size for p in parts[:-1]) and len(parts) > 3
    stored = b"".join(parts)
    expected = content.encode("utf-8")
    out = (
        gzip.decompress(stored)
        if name == "gzip"
        else zstandard.ZstdDecompressor().decompressobj().decompress(stored)
    )
    assert out == expected
    assert b"".join(seen) == expected  # the CSV check sees the text, not the compressed bytes
    assert filler.text_bytes == len(expected)


def test_empty_source_compresses_to_a_valid_empty_stream() -> None:
    filler = PartFiller(
        Source(b""), Transcoder("utf-8"), 1 << 20, 0, compressor=output_compression("gzip", 1).compressor()
    )
    part = filler.fill(bytearray(1 << 20))
    assert filler.exhausted and gzip.decompress(bytes(part.data)) == b""


@pytest.mark.parametrize("level", [1, 2, 3, 6, 9])  # 1-3: ISA-L; 4-9: zlib
def test_gzip_levels_write_standard_gzip(level: int) -> None:
    raw = text(40_000, seed=level).encode()
    compressor = output_compression("gzip", level).compressor()
    stored = b"".join(compressor.compress(raw[i : i + 100_000]) for i in range(0, len(raw), 100_000))
    stored += compressor.flush()
    assert stored[:3] == b"\x1f\x8b\x08"  # gzip magic, deflate
    assert gzip.decompress(stored) == raw  # Python's gzip module (zlib) reads it
    assert len(stored) < len(raw) // 2


def test_gzip_level_decides_the_engine_and_isal_is_the_default() -> None:
    raw = text(20_000, seed=5).encode()

    def compressed(level: int | None) -> bytes:
        compressor = output_compression("gzip", level).compressor()
        return compressor.compress(raw) + compressor.flush()

    assert output_compression("gzip", None).level == 2
    assert compressed(None) == compressed(2) == isal_zlib.compress(raw, 2, 31)
    assert compressed(6) == zlib.compress(raw, 6, 31)  # zlib's own bytes


@pytest.mark.parametrize(("name", "level"), [("gzip", 1), ("gzip", 2), ("gzip", 3), ("gzip", 6), ("zstd", 3)])
def test_compressor_memory_covers_what_it_allocates(name: str, level: int) -> None:
    """memory (paid from the budget) is at least what the compressor holds, as tracemalloc sees it
    (python-isal, zlib and zstandard allocate through Python's allocators or report their context)."""
    compress = output_compression(name, level)
    raw = text(20_000, seed=6).encode()
    tracemalloc.start()
    try:
        compressor = compress.compressor()
        compressor.compress(raw)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    if name == "gzip":
        assert held <= compress.memory < held + 256 * 1024, (held, compress.memory)
    else:  # libzstd allocates with malloc: memory_size() says what it holds
        assert compress.memory >= 1024 * 1024


@pytest.mark.parametrize("level", [1, 3, 9, 16])  # 16+: no worker thread
def test_zstd_memory_covers_what_libzstd_holds_and_the_output_is_one_frame(level: int) -> None:
    raw = text(150_000 if level < 16 else 30_000, seed=level).encode()  # ~6 MiB: several 1 MiB jobs
    zstd = zstd_compressor(level)
    stream, stored, peak = zstd.compressobj(), [], 0
    for i in range(0, len(raw), 256 * 1024):
        stored.append(stream.compress(raw[i : i + 256 * 1024]))
        peak = max(peak, zstd.memory_size())
    stored.append(stream.flush())
    peak = max(peak, zstd.memory_size())
    assert peak <= output_compression("zstd", level).memory < 2 * peak + 4 * 1024 * 1024
    frame = b"".join(stored)
    params = zstandard.get_frame_parameters(frame)
    assert params.has_checksum and params.content_size == zstandard.CONTENTSIZE_UNKNOWN
    reader = zstandard.ZstdDecompressor().decompressobj()  # one frame: nothing left after it
    assert reader.decompress(frame) == raw and reader.eof and not reader.unused_data


def test_gzip_decompressor_memory_covers_what_it_allocates(tmp_path: Path) -> None:
    path = tmp_path / "a.csv.gz"
    path.write_bytes(gzip.compress(text(20_000).encode()))
    tracemalloc.start()
    try:
        reader = DecompressingReader(path, "gzip")
        reader.read(100_000)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    reader.close()
    # READ_BLOCK of compressed input and the output given out are buffers, not the decompressor's state.
    assert held - 64 * 1024 - 2 * 100_000 <= DECOMPRESSOR_MEMORY["gzip"], held


def test_compress_options_are_validated() -> None:
    assert output_compression("zstd", 19).level == 19
    assert output_compression("gzip", None).suffix == ".gz"
    assert [output_compression("gzip", n).level for n in (1, 3, 4, 9)] == [1, 3, 4, 9]
    with pytest.raises(ValueError, match="gzip takes 1 to 9"):
        output_compression("gzip", 0)
    # Options are named by mark ({opt:NAME}); each front end spells them (outcome.spell_options).
    with pytest.raises(ValueError, match=r"\{opt:compress_level\} 10: gzip takes 1 to 9") as raised:
        output_compression("gzip", 10)
    assert spell_options(str(raised.value)) == "compress_level 10: gzip takes 1 to 9"
    assert spell_options(str(raised.value), spell) == "--compress-level 10: gzip takes 1 to 9"
    with pytest.raises(ValueError, match=r"needs \{opt:compress\} gzip or zstd"):
        output_compression("none", 3)


COMPRESS = {
    "gzip": lambda d: gzip.compress(d[:1000]) + gzip.compress(d[1000:]),  # two members, as `cat a.gz b.gz`
    "zstd": lambda d: b"".join(
        zstandard.ZstdCompressor(write_checksum=True).compress(d[i : i + 70_000])
        for i in range(0, len(d), 70_000)
    ),
    "bzip2": lambda d: bz2.compress(d[:5000]) + bz2.compress(d[5000:]),
}


def read_all(reader: DecompressingReader | ZipMemberReader, size: int = 4099) -> bytes:
    out = bytearray()
    buffer = bytearray(size)
    while count := reader.readinto(memoryview(buffer)):
        out += buffer[:count]
    return bytes(out)


@pytest.mark.parametrize("fmt", ["gzip", "zstd", "bzip2"])
def test_concatenated_streams_read_whole_in_small_reads(tmp_path: Path, fmt: str) -> None:
    data = text(20_000, seed=2).encode()
    path = tmp_path / "x"
    path.write_bytes(COMPRESS[fmt](data))
    reader = DecompressingReader(path, fmt)
    assert read_all(reader) == data
    assert reader.compressed_read == path.stat().st_size


@pytest.mark.parametrize("fmt", ["gzip", "zstd", "bzip2"])
def test_truncated_and_corrupt_streams_fail_with_an_offset(tmp_path: Path, fmt: str) -> None:
    whole = COMPRESS[fmt](text(20_000, seed=3).encode())
    path = tmp_path / "x"
    path.write_bytes(whole[:-10])
    with pytest.raises(
        CompressedSourceError,
        match=rf"truncated {fmt} data: ends at compressed byte offset {len(whole) - 10}",
    ):
        read_all(DecompressingReader(path, fmt))
    broken = bytearray(whole)
    middle = len(whole) // 2
    broken[middle : middle + 200] = bytes(200)
    path.write_bytes(bytes(broken))
    with pytest.raises(CompressedSourceError, match=rf"corrupt {fmt} data before compressed byte offset \d+"):
        read_all(DecompressingReader(path, fmt))


def test_gzip_source_members_from_isal_zlib_and_the_gzip_tool_read_whole(tmp_path: Path) -> None:
    """.gz sources go through ISA-L's inflate: members written by ISA-L, by zlib and by `gzip` (with
    its file name in the header) concatenated read back whole; cut short, the one-line error."""
    data = text(30_000, seed=4).encode()
    member_tool = gzip.compress(data[20_000:])
    if shutil.which("gzip") is not None:
        (tmp_path / "part.csv").write_bytes(data[20_000:])
        subprocess.run(["gzip", "-k", "-f", str(tmp_path / "part.csv")], check=True)
        member_tool = (tmp_path / "part.csv.gz").read_bytes()
    whole = isal_zlib.compress(data[:5000], 1, 31) + zlib.compress(data[5000:20_000], 9, 31) + member_tool
    path = tmp_path / "x.csv.gz"
    path.write_bytes(whole)
    reader = DecompressingReader(path, "gzip")
    assert read_all(reader, 1000) == data
    assert reader.compressed_read == len(whole)
    path.write_bytes(whole[: len(whole) - 3])  # inside the last member's trailer
    with pytest.raises(CompressedSourceError) as caught:
        read_all(DecompressingReader(path, "gzip"))
    assert str(caught.value) == f"truncated gzip data: ends at compressed byte offset {len(whole) - 3}"
    # Not a gzip member after the last one (ISA-L judges a header once it has its 10 bytes).
    path.write_bytes(whole + b"garbage!" * 8)
    with pytest.raises(CompressedSourceError, match=r"^corrupt gzip data before compressed byte offset \d+"):
        read_all(DecompressingReader(path, "gzip"))


def test_a_bomb_is_refused_by_ratio_and_by_size(tmp_path: Path) -> None:
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(bytes(300 << 20), 9))
    with pytest.raises(CompressedSourceError, match="expands more than 1000 times"):
        read_all(DecompressingReader(path, "gzip"), 1 << 20)
    path.write_bytes(gzip.compress(text(10_000).encode()))
    past = r"expanded past \{opt:max_expanded_size\} \(1000 bytes\)"  # spelled by the front end
    with pytest.raises(CompressedSourceError, match=past):
        read_all(DecompressingReader(path, "gzip", max_expanded=1000))


def test_compressed_and_zipped_files_are_taken_under_their_csv_names(tmp_path: Path) -> None:
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(b"x\n"))
    (tmp_path / "b.CSV.ZST").write_bytes(zstandard.ZstdCompressor().compress(b"x\n"))
    (tmp_path / "c.csv.bz2").write_bytes(bz2.compress(b"x\n"))
    (tmp_path / "d.txt.gz").write_bytes(gzip.compress(b"x\n"))
    with zipfile.ZipFile(tmp_path / "e.zip", "w") as archive:
        archive.writestr("in/f.csv", "x\n")
        archive.writestr("in/", "")
        archive.writestr("__MACOSX/._f.csv", "x")
        archive.writestr("notes.md", "x")
    found = walk_folder(tmp_path)
    assert [(s.csv_name, s.reldir, s.compression) for s in found] == [
        ("a.csv", "", "gzip"),
        ("b.CSV", "", "zstd"),
        ("c.csv", "", "bzip2"),
        ("f.csv", "in", "zip"),
    ]
    assert inner_name("movies.csv.gz") == "movies.csv"
    member = found[3].member
    assert member is not None
    assert read_all(ZipMemberReader(member)) == b"x\n"
