"""The public, typed options of one run (IngestOptions, and OptionChanges for the API's keywords).

Both front ends build an IngestOptions: the command line from its arguments and ASYNC_INGEST_*
variables (cli/table.py), the Python API from keyword arguments. ``resolve`` (resolve.py, with the
checks of validate.py) turns it into the frozen RunSettings the run uses, or raises
ConfigError(option, value, reason); each front end spells the option its own way
(``--part-size 1: ...`` on the command line, ``part_size=1: ...`` in Python).
Nothing here knows a flag's spelling, parses argv or reads ASYNC_INGEST_* variables.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypedDict

from async_ingest.keys import DEFAULT_KEY_TEMPLATE
from async_ingest.output.manifest import DEFAULT_MANIFEST_KEY
from async_ingest.output.progress import PLAIN_PROGRESS_EVERY_S
from async_ingest.pipeline.parts import DEFAULT_PART_SIZE
from async_ingest.s3.checksums import CHECKSUM_NAMES, DEFAULT_CHECKSUM
from async_ingest.s3.model import READ_TIMEOUT_S, Credentials
from async_ingest.settings import DEFAULT_CONCURRENCY, DEFAULT_LOCAL_DIR, DEFAULT_MAX_MEMORY
from async_ingest.sources.compressed import DEFAULT_MAX_EXPANDED_SIZE
from async_ingest.sources.shard import Shard
from async_ingest.transform.compression import COMPRESS_NAMES

__all__ = ["Credentials", "IngestOptions", "OptionChanges"]

Size = int | str  # bytes, or "8MiB", "8M", "8388608"
PathLike = str | os.PathLike[str]


@dataclass(frozen=True, kw_only=True)
class IngestOptions:
    """Every option of a run; the names are the command's long options with underscores, the
    negative flags turned positive (``--no-manifest`` is ``manifest=False``). Defaults are the
    command's defaults (``--help`` shows these values)."""

    # S3
    bucket: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    credentials: Credentials | Any = None  # API only: Credentials, a boto3 Session or a provider
    credentials_file: PathLike | None = None
    create_bucket: bool = True
    sse: Literal["AES256", "aws:kms"] | None = None
    sse_kms_key_id: str | None = None
    max_attempts: int = 5
    read_timeout: float = READ_TIMEOUT_S
    # keys
    key_template: str = DEFAULT_KEY_TEMPLATE
    date: dt.date | str | None = None  # None: today (the local date)
    name: str | None = None  # standard input's file name (SOURCE -)
    # encoding
    encoding: str = "auto"
    on_decode_error: Literal["fail", "replace"] = "fail"
    # transfer
    part_size: Size = DEFAULT_PART_SIZE
    concurrency: int = DEFAULT_CONCURRENCY
    max_memory: Size = DEFAULT_MAX_MEMORY
    parts_in_flight: int | Literal["auto"] = "auto"
    checksum: str = DEFAULT_CHECKSUM
    compress: Literal["none", "gzip", "zstd"] = "none"
    compress_level: int | None = None
    max_expanded_size: Size = DEFAULT_MAX_EXPANDED_SIZE
    force: bool = False
    resume: bool = False
    follow_symlinks: bool = False
    shard: str | Shard | None = None  # "INDEX/COUNT"
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    bwlimit: Size | None = None  # bytes per second
    dry_run: bool = False
    # objects
    tags: Mapping[str, str] | Sequence[str] = field(default_factory=dict)
    metadata: Mapping[str, str] | Sequence[str] = field(default_factory=dict)
    storage_class: str | None = None
    content_type: str | None = None
    # CSV check
    csv_check: Literal["off", "report", "strict"] = "report"
    delimiter: str | None = None
    expect_columns: int | None = None
    expect_header: Sequence[str] | str | None = None
    # output
    report: PathLike | None = None
    manifest: bool = True
    manifest_key: str = DEFAULT_MANIFEST_KEY
    manifest_always: bool = False  # also when nothing was uploaded and nothing failed
    quiet: bool = False
    verbose: bool = False  # a line per S3 request (status, request id, duration) and per retry
    log_format: Literal["text", "json"] = "text"
    progress_interval: float = PLAIN_PROGRESS_EVERY_S
    # local S3
    local: bool = False
    local_dir: PathLike = DEFAULT_LOCAL_DIR
    serve: bool = False  # with local: keep the embedded server running after the run, until Ctrl-C


class OptionChanges(TypedDict, total=False):
    """The keyword arguments of ingest()/ingest_async(): IngestOptions' fields (mypy checks them)."""

    bucket: str | None
    endpoint_url: str | None
    region: str | None
    profile: str | None
    credentials: Credentials | Any
    credentials_file: PathLike | None
    create_bucket: bool
    sse: Literal["AES256", "aws:kms"] | None
    sse_kms_key_id: str | None
    max_attempts: int
    read_timeout: float
    key_template: str
    date: dt.date | str | None
    name: str | None
    encoding: str
    on_decode_error: Literal["fail", "replace"]
    part_size: Size
    concurrency: int
    max_memory: Size
    parts_in_flight: int | Literal["auto"]
    checksum: str
    compress: Literal["none", "gzip", "zstd"]
    compress_level: int | None
    max_expanded_size: Size
    force: bool
    resume: bool
    follow_symlinks: bool
    shard: str | Shard | None
    include: Sequence[str]
    exclude: Sequence[str]
    bwlimit: Size | None
    dry_run: bool
    tags: Mapping[str, str] | Sequence[str]
    metadata: Mapping[str, str] | Sequence[str]
    storage_class: str | None
    content_type: str | None
    csv_check: Literal["off", "report", "strict"]
    delimiter: str | None
    expect_columns: int | None
    expect_header: Sequence[str] | str | None
    report: PathLike | None
    manifest: bool
    manifest_key: str
    manifest_always: bool
    quiet: bool
    verbose: bool
    log_format: Literal["text", "json"]
    progress_interval: float
    local: bool
    local_dir: PathLike
    serve: bool


OPTION_NAMES = frozenset(f.name for f in fields(IngestOptions))
CHOICES: dict[str, tuple[str, ...]] = {
    "sse": ("AES256", "aws:kms"),
    "on_decode_error": ("fail", "replace"),
    "checksum": tuple(CHECKSUM_NAMES),
    "compress": tuple(COMPRESS_NAMES),
    "csv_check": ("off", "report", "strict"),
    "log_format": ("text", "json"),
}


def default(name: str) -> Any:
    """An option's default, as IngestOptions() has it (the command's --help shows these)."""
    return getattr(_DEFAULTS, name)


_DEFAULTS = IngestOptions()
