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
    source_bytes_read: int  # how far the reader is when the part is acknowledged (it may read ahead)
    source_bytes: int = 0  # the source bytes this part holds (0: not known)


@dataclass(frozen=True, slots=True)
class PartSending:
    """A part's body is going out: `sent` of its `size` bytes written to the connection in this
    attempt (a retried part starts again from 0). At most one every SENDING_EVERY_S per part
    (writer.py), none for a part sent quicker: the terminal bars move as bytes go out, not only when
    parts are acknowledged. `source_bytes`: the source bytes the part holds (its UTF-8 or compressed
    size differs), so that sent bytes map to source bytes proportionally."""

    source: SourceFile
    number: int
    sent: int
    size: int
    source_bytes: int


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


@dataclass(frozen=True, slots=True)
class ManifestSkipped:
    """No run manifest was written, and why (nothing uploaded, nothing failed: a re-run that found
    every file in place), so the outputs say so instead of saying nothing."""

    reason: str


@dataclass(frozen=True, slots=True)
class RequestDone:
    """--verbose: one HTTP request to S3 (one attempt of a call) answered or failed. Only what is
    safe to print: no header, URL, signature or credential is ever part of it."""

    operation: str  # PutObject, UploadPart, ...
    key: str  # "" for a bucket-level call
    part: int | None  # UploadPart's part number
    attempt: int  # 1, then 2, ... for the retries of one call
    status: int | None  # HTTP status; None: no answer (connection error, timeout)
    error: str  # the S3 error code, or the exception's type when there was no answer; "" if none
    request_id: str  # x-amz-request-id ("" where the store returns none)
    host_id: str  # x-amz-id-2
    seconds: float


@dataclass(frozen=True, slots=True)
class RequestRetried:
    """--verbose: botocore sends a call again (attempt of max_attempts), after cause."""

    operation: str
    key: str
    part: int | None
    attempt: int
    max_attempts: int
    cause: str


Event = (
    FileQueued
    | FileStarted
    | PartUploaded
    | PartSending
    | FileRestarted
    | FileFinished
    | WindowChanged
    | ManifestWritten
    | ManifestSkipped
    | RequestDone
    | RequestRetried
)
Emit = Callable[[Event], None]
