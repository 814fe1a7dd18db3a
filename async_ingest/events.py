"""What the pipeline tells the outside world. The core emits these; subscribers format them."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from async_ingest.s3.checksums import StoredChecksum
from async_ingest.sources.files import SourceFile
from async_ingest.transform.csvcheck import CsvStats


class Status(enum.StrEnum):
    """What became of one source. A str enum: each member equals its string (``Status.FAILED ==
    "failed"``), so comparisons with plain strings and the JSON outputs read as before."""

    UPLOADED = "uploaded"  # its object landed in this run
    SKIPPED = "skipped"  # an object from the same source, with the same options, was already there
    FAILED = "failed"  # nothing landed for it; ``FileResult.error`` says why
    PLANNED = "planned"  # a dry run: it would have been uploaded


@dataclass(frozen=True, slots=True)
class EncodingInfo:
    encoding: str
    method: str  # bom | detected | ascii | forced
    confidence: float
    bom_removed: bool


@dataclass(frozen=True, slots=True)
class FileQueued:
    """A worker took the file on, its key rendered ("" when it cannot be): before it is read."""

    source: SourceFile
    key: str


@dataclass(frozen=True, slots=True)
class FileStarted:
    source: SourceFile
    key: str
    encoding: EncodingInfo


@dataclass(frozen=True, slots=True)
class PartUploaded:
    source: SourceFile
    number: int
    size: int  # UTF-8 bytes in this part
    source_bytes_read: int  # how far the reader is when the part is acknowledged (for progress)


@dataclass(frozen=True, slots=True)
class FileRestarted:
    """A decode failure made the file start again with a re-detected encoding."""

    source: SourceFile
    reason: str
    encoding: EncodingInfo


@dataclass(slots=True)  # one per file, kept until the summary: no __dict__ each
class FileResult:
    """What became of one source: ``RunResult.results`` holds one per source, in listing order (the
    folders that could not be read first). Public: its fields keep their names and meaning."""

    source: SourceFile
    """The source as listed: ``source.location`` is its path (a zip member's: archive/member)."""
    bucket: str
    key: str
    """The object key ("" when none could be rendered for it)."""
    status: Status
    encoding: EncodingInfo | None = None
    """The source encoding and how it was decided (None: never read, e.g. it failed first)."""
    bytes_read: int = 0
    """Bytes of the source read (a compressed source's: decompressed)."""
    bytes_written: int = 0
    """Bytes of the object (compressed, with --compress)."""
    bytes_uncompressed: int | None = None
    """--compress: the UTF-8 size of the compressed object."""
    parts: int = 0
    """Parts of a multipart upload (1: a single PUT)."""
    replacements: int = 0
    """Undecodable sequences replaced by U+FFFD (--on-decode-error replace)."""
    etag: str | None = None
    checksum: StoredChecksum | None = None
    """The checksum S3 stores for the object (read back for a skipped one), e.g. crc64nvme."""
    sha256: str | None = None
    """Hex SHA-256 of the object's bytes, with --checksum sha256."""
    seconds: float = 0.0
    error: str | None = None
    """Why it failed, without the path (``source.location`` names it; ``error_line`` joins both)."""
    notes: tuple[str, ...] = ()  # a tuple: no empty list kept for each of 100,000 results
    """What the upload did besides (restarted with another encoding, resumed)."""
    csv: CsvStats | None = None
    """The CSV check's facts: delimiter, columns, rows, header, findings (None: --csv-check off,
    or not uploaded)."""

    @property
    def error_line(self) -> str | None:
        """``location: error``, as the outputs print a failure (None when it did not fail)."""
        return None if self.error is None else f"{self.source.location}: {self.error}"


@dataclass(frozen=True, slots=True)
class FileFinished:
    result: FileResult


@dataclass(frozen=True)
class WindowChanged:
    """The parts-in-flight controller moved the window (part buffers the run may hold)."""

    window: int
    sending: int  # parts being sent at that moment


@dataclass(frozen=True, slots=True)
class ManifestWritten:
    """The run manifest landed: the downstream job's trigger, named in every output format."""

    bucket: str
    key: str
    run_id: str


Event = (
    FileQueued | FileStarted | PartUploaded | FileRestarted | FileFinished | WindowChanged | ManifestWritten
)
Emit = Callable[[Event], None]
