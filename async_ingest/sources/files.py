"""What a source is and how it is read: SourceFile (a file, a compressed file or a zip member, as
listed) and its reader. Reads are blocking calls, made on worker threads by the pipeline: one
hand-off per step (sample a file, fill a part), not one per read.

A source says what it can do (rereadable, size_known, detection_memory, open_reader, sample): the
pipeline asks it instead of testing its class, so standard input (stdin.py) is one more source.
Finding the sources is walk.py's; decompressing them, compressed.py's and archives.py's."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from async_ingest.sources.archives import ZIP_BZIP2, ZipMember, ZipMemberReader
from async_ingest.sources.compressed import (
    DECOMPRESSOR_MEMORY,
    DEFAULT_MAX_EXPANDED_SIZE,
    MAX_EXPANDED_OPTION,
    DecompressingReader,
    decompressed_head,
    decompressed_region,
    decompressor_memory,
    inner_name,
    source_format,
)
from async_ingest.transform.detect import SAMPLE_WINDOW, SAMPLE_WINDOWS, sample_offsets

# What detecting one source may hold at most: its sampled windows (or a compressed source's head).
DETECTION_MEMORY = SAMPLE_WINDOW * SAMPLE_WINDOWS


class Reader(Protocol):
    """A source as the part filler reads it: a file's SourceReader, standard input's StdinStream."""

    def readinto(self, buffer: memoryview, /) -> int:
        """Fill buffer from the source; 0 at its end."""

    def source_bytes_read(self, given: int) -> int:
        """Bytes of the source itself read so far (given: the bytes readinto() gave out)."""

    def close(self) -> None: ...

    def check_unchanged(self, bytes_read: int) -> None:
        """Raise SourceChanged if the source is not, or no longer, the one listed."""


@dataclass(frozen=True, slots=True)  # one per file found: no __dict__ each
class SourceFile:
    # The path as the user can find it (relative to cwd if it was given relative), as str(Path)
    # writes it; a zip member's is the archive's path followed by the member's
    # (data/export.zip/2024/movies.csv). Text, not a Path: 100,000 Paths held ~40 MB more.
    location: str
    reldir: str  # folder relative to the SOURCE folder it was found under ("" for given files)
    size: int  # a zip member's: its compressed size
    mtime_ns: int
    member: ZipMember | None = None

    @property
    def path(self) -> Path:
        return Path(self.location)

    @property
    def file_name(self) -> str:
        return os.path.basename(self.location)

    @property
    def relpath(self) -> str:
        return f"{self.reldir}/{self.file_name}" if self.reldir else self.file_name

    @property
    def compression(self) -> str | None:
        """gzip, zstd or bzip2 for a .gz, .zst or .bz2 source, zip for a zip member; None for a
        plain one."""
        # The suffix of the whole path is the file name's: no basename (asked ~10 times per file).
        return "zip" if self.member is not None else source_format(self.location)

    def codec_memory(self) -> int:
        """What decompressing this source holds (0 for a plain one)."""
        fmt = self.compression
        if self.member is not None:  # bzip2 members hold bzip2's state; stored and deflate, zip's
            return DECOMPRESSOR_MEMORY["bzip2" if self.member.method == ZIP_BZIP2 else "zip"]
        return decompressor_memory(self.path, fmt) if fmt else 0

    def decompressing(
        self, max_expanded: int, limit_name: str = MAX_EXPANDED_OPTION
    ) -> DecompressingReader | ZipMemberReader:
        """A reader of the CSV's own bytes (for a compressed source only); output past max_expanded
        is refused, the message naming limit_name."""
        if self.member is not None:
            return ZipMemberReader(self.member, max_expanded, limit_name)
        fmt = self.compression
        assert fmt is not None
        return DecompressingReader(self.path, fmt, max_expanded, limit_name)

    @property
    def csv_name(self) -> str:
        """The CSV's own name, for its key: movies.csv.gz -> movies.csv."""
        return inner_name(self.file_name)

    # What the pipeline asks a source (standard input answers otherwise: stdin.py).

    @property
    def key_name(self) -> str:
        """The file name the key ({filename}) and the metadata carry."""
        return self.csv_name

    @property
    def rereadable(self) -> bool:
        """It can be read again: re-detected after a decode failure, compared with an object landed
        by an earlier run (re-run skip), resumed."""
        return True

    @property
    def size_known(self) -> bool:
        """Its size is known before it is read (parts are planned for it)."""
        return True

    @property
    def detection_memory(self) -> int:
        """What sampling it for detection holds: the whole of a small file, else the windows (a
        compressed source's head; a zip member's, at most its declared size and a byte)."""
        size = self.size if self.compression is None else DETECTION_MEMORY
        if self.member is not None:
            size = min(size, self.member.expanded_size + 1)
        return min(size, DETECTION_MEMORY)

    def sample(self, max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE) -> list[bytes]:
        """The windows detection reads: spread over the file (a compressed source: its head)."""
        return read_windows(self, sample_offsets(self.size), SAMPLE_WINDOW, max_expanded)

    def open_reader(
        self, max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE, limit_name: str = MAX_EXPANDED_OPTION
    ) -> Reader:
        """A reader for the part filler, opened at its first read."""
        return SourceReader(self, max_expanded, limit_name)


class SourceChanged(RuntimeError):
    """The file changed (size or modification time) while it was being read."""


def read_windows(
    source: SourceFile, offsets: list[int], window: int, max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE
) -> list[bytes]:
    """The bytes at each offset, window bytes each (the whole file if offsets is just [0] and the
    file is no larger than the windows would be). A compressed source gives the head of its
    decompressed stream, as many bytes as all the windows: its middle is not reachable cheaply."""
    if source.compression is not None:
        head = window * SAMPLE_WINDOWS
        if source.member is not None:  # one byte past its declared size: a member that goes on fails
            head = min(head, source.member.expanded_size + 1)
        return [decompressed_head(source.decompressing(max_expanded), head)]
    with open(source.location, "rb") as reader:
        if offsets == [0]:
            return [reader.read(source.size)]
        windows = []
        for offset in offsets:
            reader.seek(offset)
            windows.append(reader.read(window))
        return windows


def read_region(
    source: SourceFile, offset: int, length: int, max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE
) -> bytes:
    """length bytes centred on offset (of the decompressed stream, for a compressed source)."""
    if source.compression is not None:
        return decompressed_region(source.decompressing(max_expanded), offset, length)
    with open(source.path, "rb") as reader:
        reader.seek(max(0, offset - length // 2))
        return reader.read(length)


class SourceReader:
    """A source file as the part filler reads it: opened unbuffered at the first read (so reads go
    straight into part buffers), closed at the end, then checked against what was listed."""

    def __init__(
        self,
        source: SourceFile,
        max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE,
        limit_name: str = MAX_EXPANDED_OPTION,
    ) -> None:
        self.source = source
        self._file: io.FileIO | None = None
        self._done = False
        self._inflating = source.decompressing(max_expanded, limit_name) if source.compression else None

    def source_bytes_read(self, given: int) -> int:
        """Bytes of the file itself read so far (given: the bytes readinto() gave out)."""
        return self._inflating.compressed_read if self._inflating is not None else given

    def readinto(self, buffer: memoryview, /) -> int:
        if self._inflating is not None:
            return self._inflating.readinto(buffer)
        if self._file is None:
            if self._done:
                raise ValueError("read after close")
            self._file = io.FileIO(self.source.location, "rb")
        return self._file.readinto(buffer) or 0

    def close(self) -> None:
        self._done = True
        if self._inflating is not None:
            self._inflating.close()
        if self._file is not None:
            self._file.close()
            self._file = None

    def check_unchanged(self, bytes_read: int) -> None:
        """Raise SourceChanged if the file is not, or no longer, the one listed."""
        size = self.source.size
        bytes_read = self.source_bytes_read(bytes_read)
        member = self.source.member
        if member is not None:  # the archive as listed; zipfile checked the member's size and CRC
            stat = os.stat(member.archive)
            bytes_read = size = member.archive_size
        else:
            stat = os.stat(self.source.location)
        if bytes_read != size or stat.st_size != size:
            raise SourceChanged(
                f"changed while being read (size {size} -> {stat.st_size} bytes, {bytes_read} read); "
                "nothing was uploaded"
            )
        if stat.st_mtime_ns != self.source.mtime_ns:
            raise SourceChanged("changed while being read (modification time changed); nothing was uploaded")
