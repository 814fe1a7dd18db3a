"""The read-ahead holds one open file per source, as the sequential filler does, and closes it: the
SourceReader made beside it opens its file only at its first read, which the read-ahead never makes."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from async_ingest.pipeline.file import fill_next
from async_ingest.pipeline.parts import MIN_PART_SIZE
from async_ingest.pipeline.readahead import ParallelFiller
from async_ingest.sources.walk import find_sources
from async_ingest.transform.transcode import Transcoder

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc")


def open_count(path: Path) -> int:
    """Descriptors of this process open on path."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the descriptor listdir itself used, gone by now
            count += os.readlink(f"/proc/self/fd/{fd}") == str(path)
    return count


@pytest.mark.parametrize("stop_early", [False, True], ids=["to-the-end", "stopped-after-one-part"])
def test_readahead_opens_the_source_once_and_closes_it(tmp_path: Path, stop_early: bool) -> None:
    path = (tmp_path / "latin.csv").resolve()
    path.write_bytes(("café,naïve,à\n" * 700_000).encode("cp1252"))  # ~3 parts of 5 MiB
    [source] = find_sources([path])
    transcoder = Transcoder("cp1252")
    reader = source.open_reader()  # as pipeline/file.py makes it beside the read-ahead
    filler = ParallelFiller(source.location, transcoder, MIN_PART_SIZE, source.size)
    parts = 0
    try:
        while not filler.exhausted:
            fill_next(filler, reader, bytearray(MIN_PART_SIZE))
            parts += 1
            assert open_count(path) == (0 if filler.exhausted else 1)
            if stop_early:
                break
    finally:
        reader.close()  # the order of pipeline/file.py's finally: the reader, then the read-ahead
        filler.close()
    assert open_count(path) == 0
    assert parts == (1 if stop_early else 3)
    if not stop_early:
        assert transcoder.bytes_in == source.size
