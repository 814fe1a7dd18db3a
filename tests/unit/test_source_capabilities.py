"""Issue 21, item 5: a source says what it can do (rereadable, size known, detection memory, how to
open a reader, what detection samples) and the pipeline asks it, instead of testing its class."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from pathlib import Path

from async_ingest.sources.files import DETECTION_MEMORY, SourceFile, SourceReader
from async_ingest.sources.stdin import STDIN_HEAD, StdinStream, stdin_source
from async_ingest.sources.walk import find_sources


def listed(path: Path) -> SourceFile:
    [source] = find_sources([path])
    return source


def test_a_file_is_rereadable_and_sized_and_detection_holds_no_more_than_it_needs(tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_bytes(b"id,name\n1,a\n")
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (DETECTION_MEMORY * 3))
    packed = tmp_path / "packed.csv.gz"
    packed.write_bytes(gzip.compress(b"id\n1\n"))
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("m.csv", b"id\n1\n2\n")
    source = listed(small)
    assert source.rereadable and source.size_known and source.key_name == "small.csv"
    assert source.detection_memory == small.stat().st_size  # a small file: read whole
    assert listed(big).detection_memory == DETECTION_MEMORY  # a large one: its windows
    assert listed(packed).detection_memory == DETECTION_MEMORY and listed(packed).key_name == "packed.csv"
    assert listed(archive).detection_memory == len(b"id\n1\n2\n") + 1  # a member: its size and a byte
    assert source.sample() == [small.read_bytes()]
    reader = source.open_reader()
    assert isinstance(reader, SourceReader)
    buffer = bytearray(64)
    assert reader.readinto(memoryview(buffer)) == small.stat().st_size
    reader.close()
    reader.check_unchanged(small.stat().st_size)


def test_standard_input_is_read_once_its_size_unknown_its_reader_the_stream() -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"id|name\n1|Zo\xeb\n")
        os.close(write_end)
        source = stdin_source("movies.csv")
        object.__setattr__(source, "stream", StdinStream(read_end))  # a pipe of the test's, not fd 0
        assert not source.rereadable and not source.size_known and source.key_name == "movies.csv"
        assert source.detection_memory == STDIN_HEAD
        assert source.sample() == [b"id|name\n1|Zo\xeb\n"]  # the head, kept for the first part
        reader = source.open_reader()
        assert reader is source.stream and not isinstance(reader, SourceReader)  # no half-built subclass
        out = io.BytesIO()
        buffer = bytearray(4)
        while count := reader.readinto(memoryview(buffer)):
            out.write(buffer[:count])
        assert out.getvalue() == b"id|name\n1|Zo\xeb\n" and reader.source_bytes_read(7) == 7
        reader.check_unchanged(0)  # nothing to compare a stream with
    finally:
        os.close(read_end)
