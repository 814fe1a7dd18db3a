"""SOURCE `-`: standard input (`pg_dump ... | async-ingest - --name movies.csv --bucket B`).

A pipe is read once, front to back. The encoding is detected on its head (up to STDIN_HEAD bytes,
held until the first part has taken them): a file would be sampled in eight windows across its
length, and a decode failure further on would restart the file with a re-detected encoding; a pipe
cannot be read again, so a decode failure after the head fails the upload instead (aborted, nothing
lands), naming --encoding and --on-decode-error replace. With --on-decode-error replace, bad
sequences are replaced at once (a file would be tried strictly first). The stream's size is unknown:
parts are --part-size each (10,000 parts: 78 GiB at 8 MiB), and memory is the part buffers in flight
plus the head, as for a file. Every run uploads it (no re-run skip, no --resume: nothing to compare).
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass, field

from async_ingest.sources.compressed import DEFAULT_MAX_EXPANDED_SIZE, MAX_EXPANDED_OPTION
from async_ingest.sources.files import DETECTION_MEMORY, Reader, SourceFile

STDIN = "-"
STDIN_HEAD = DETECTION_MEMORY  # as many bytes as the windows sampled from a file
NOT_AGAIN = (
    "standard input cannot be read again to restart with another encoding: "
    "give {opt:encoding}, or {opt:on_decode_error=replace}"
)


class StdinStream:
    """The pipe: its head, read once for detection, then the whole stream for the parts, the head
    first. Blocking reads, made on worker threads as a file's. A files.Reader, as SourceReader is."""

    def __init__(self, fd: int = 0) -> None:
        self._stdin = io.FileIO(fd, "rb", closefd=False)
        self._head: bytes | None = None
        self._served = 0  # head bytes already handed to parts

    def source_bytes_read(self, given: int) -> int:
        """A pipe is never compressed here: the bytes read are the bytes given out."""
        return given

    def head(self) -> bytes:
        if self._head is None:
            chunks: list[bytes] = []
            got = 0
            while got < STDIN_HEAD:
                chunk = self._stdin.read(STDIN_HEAD - got)
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
            self._head = b"".join(chunks)
        return self._head

    def readinto(self, buffer: memoryview, /) -> int:
        head = self.head()
        if self._served < len(head):
            count = min(len(buffer), len(head) - self._served)
            buffer[:count] = head[self._served : self._served + count]
            self._served += count
            return count
        return self._stdin.readinto(buffer) or 0

    def close(self) -> None:
        """Standard input stays open (it is the process's); the head is let go."""
        if self._head is not None and self._served >= len(self._head):
            self._head = b""
            self._served = 0

    def check_unchanged(self, bytes_read: int) -> None:
        """Nothing to compare a stream with."""


@dataclass(frozen=True, slots=True)
class StdinSource(SourceFile):
    """Standard input as a source: path `-`; `name` gives the key's {filename} (--name)."""

    name: str = ""
    stream: StdinStream = field(default_factory=StdinStream, compare=False, repr=False)

    # What it can do (SourceFile's questions): read once, front to back, its size unknown.

    @property
    def key_name(self) -> str:
        return self.name  # --name

    @property
    def rereadable(self) -> bool:
        return False  # no restart with another encoding, no re-run skip, no --resume

    @property
    def size_known(self) -> bool:
        return False  # parts are --part-size each; its metadata says source-size "unknown"

    @property
    def detection_memory(self) -> int:
        return STDIN_HEAD

    def sample(self, max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE) -> list[bytes]:
        return [self.stream.head()]  # its head only, kept for the first part

    def open_reader(
        self, max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE, limit_name: str = MAX_EXPANDED_OPTION
    ) -> Reader:
        return self.stream


def stdin_source(name: str) -> StdinSource:
    return StdinSource(STDIN, "", 0, 0, name=name)


def stdin_closed() -> bool:
    """Standard input was closed when the process started (`async-ingest - ... <&-`). Python then
    sets sys.__stdin__ to None, and whatever the process opens next takes descriptor 0 (the event
    loop's epoll: reading it said "[Errno 22] Invalid argument"): that one must never be read."""
    if sys.__stdin__ is None:
        return True
    try:
        os.fstat(0)
    except OSError:
        return True
    return False


def validate_name(name: str) -> str:
    """--name: a file name for the key ({filename}), no folder."""
    if not name.strip() or "/" in name or name in (".", "..") or "\x00" in name:
        raise ValueError(f"{{opt:name}} {name!r}: expected a file name such as movies.csv (no '/')")
    return name
