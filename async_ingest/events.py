"""What the pipeline tells the outside world. The core emits these; subscribers format them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from async_ingest.s3.checksums import StoredChecksum
from async_ingest.sources.files import SourceFile
from async_ingest.transform.csvcheck import CsvStats

Status = Literal["uploaded", "skipped", "failed", "planned"]


@dataclass(frozen=True, slots=True)
class EncodingInfo:
    encoding: str
    method: str  # bom | detected | ascii | forced
    confidence: float
    bom_removed: bool


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
    source: SourceFile
    bucket: str
    key: str
    status: Status
    encoding: EncodingInfo | None = None
    bytes_read: int = 0
    bytes_written: int = 0
    bytes_uncompressed: int | None = None  # --compress: the UTF-8 size of the compressed object
    parts: int = 0
    replacements: int = 0
    etag: str | None = None
    checksum: StoredChecksum | None = None  # what S3 stores for the object (read back for skipped)
    sha256: str | None = None  # of the uploaded bytes, with --checksum sha256
    seconds: float = 0.0
    error: str | None = None
    notes: tuple[str, ...] = ()  # a tuple: no empty list kept for each of 100,000 results
    csv: CsvStats | None = None  # the CSV check (None: --csv-check off, or not uploaded)


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


Event = FileStarted | PartUploaded | FileRestarted | FileFinished | WindowChanged | ManifestWritten
Emit = Callable[[Event], None]
