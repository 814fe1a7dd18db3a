"""The validated, frozen configuration of one run (built by the CLI from argv and environment)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from async_ingest.keys import DEFAULT_KEY_TEMPLATE
from async_ingest.outcome import PYTHON_SPELLING, Spelling
from async_ingest.pipeline.parts import DEFAULT_PART_SIZE
from async_ingest.s3.checksums import DEFAULT_CHECKSUM, ChecksumName
from async_ingest.s3.model import ConnectionSettings
from async_ingest.sources.compressed import DEFAULT_MAX_EXPANDED_SIZE
from async_ingest.sources.shard import Shard
from async_ingest.sources.walk import ALL_CSV, FileFilter
from async_ingest.transform.compression import NO_COMPRESSION, OutputCompression
from async_ingest.units import GiB, MiB

DEFAULT_CONCURRENCY = (
    16  # files in flight: small files are latency-bound; big ones wait for budget, holding nothing
)
# The ceiling of part buffers across all files; the parts-in-flight controller (flight.py) uses what
# the link pays for, from two 8 MiB parts up. The process itself is ~64-75 MB: at 160 MiB the far
# profile peaked at 257 MB; 144 MiB (18 parts, ~108 MB/s at 6 MB/s per connection) keeps it under 250.
DEFAULT_MAX_MEMORY = 144 * MiB
MAX_MEMORY_CEILING = 64 * GiB  # --max-memory above this is a typo, not a plan
DEFAULT_LOCAL_BUCKET = "local-datalake"
DEFAULT_LOCAL_DIR = Path(".async_ingest/local-s3")

OnDecodeError = Literal["fail", "replace"]
SSE = Literal["AES256", "aws:kms"]
CsvCheck = Literal["off", "report", "strict"]


@dataclass(frozen=True)
class IngestSettings:
    """What the pipeline needs to know; no I/O, no client."""

    bucket: str
    key_template: str = DEFAULT_KEY_TEMPLATE
    date: dt.date = dt.date(1970, 1, 1)
    encoding: str = "auto"  # or a validated codec name
    on_decode_error: OnDecodeError = "fail"
    part_size: int = DEFAULT_PART_SIZE
    concurrency: int = DEFAULT_CONCURRENCY
    max_memory: int = DEFAULT_MAX_MEMORY
    parts_in_flight: int | None = None  # None: follow the link (flight.py), within max_memory
    dry_run: bool = False
    force: bool = False
    resume: bool = False
    sse: SSE | None = None
    sse_kms_key_id: str | None = None
    verify_etag: bool = True
    # Object options (validated by the CLI): tags, user metadata beside ours, storage class, type.
    tags: tuple[tuple[str, str], ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()
    storage_class: str | None = None
    content_type: str | None = None
    checksum: ChecksumName = DEFAULT_CHECKSUM
    compress: OutputCompression = NO_COMPRESSION  # --compress, --compress-level
    max_expanded_size: int = DEFAULT_MAX_EXPANDED_SIZE  # what one compressed source may expand to

    @property
    def sha256(self) -> bool:
        """The report carries the SHA-256 of the uploaded bytes (it costs a pass over them)."""
        return self.checksum == "sha256"

    csv_check: CsvCheck = "report"
    csv_delimiter: str | None = None  # None: sniffed per file
    expect_columns: int | None = None
    expect_header: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RunSettings:
    """Everything of one invocation: what to read, where to write, how to report."""

    sources: tuple[Path, ...]
    ingest: IngestSettings
    connection: ConnectionSettings
    create_bucket: bool = True
    report: Path | None = None
    local: bool = False
    local_dir: Path = DEFAULT_LOCAL_DIR
    follow_symlinks: bool = False
    filters: FileFilter = ALL_CSV
    shard: Shard | None = None
    bwlimit: int | None = None  # request body bytes per second, all uploads together
    quiet: bool = False
    log_format: Literal["text", "json"] = "text"
    progress_interval: float = 5.0
    manifest_key: str | None = None  # template; None: no manifest (--no-manifest)
    manifest_always: bool = False  # a manifest even for a run that uploaded and failed nothing
    verbose: bool = False  # an event per S3 request and retry (--verbose)
    stdin_name: str | None = None  # SOURCE - (standard input) and its --name
    serve: bool = False  # with local: keep the embedded server answering after the run
    # The front end's words for the options its messages name ({opt:...} marks in per-file errors and
    # the report's error): Python's unless the command line sets its own. Not part of what the run does.
    spelling: Spelling = field(default=PYTHON_SPELLING, compare=False)
