"""The public, typed options of one run (IngestOptions), and the one function that checks them.

Both front ends build an IngestOptions: the command line from its arguments and ASYNC_INGEST_*
variables (cli/table.py), the Python API from keyword arguments. ``resolve`` turns it into the frozen
RunSettings the run uses, or raises ConfigError(option, value, reason); each front end spells the
option its own way (``--part-size 1: ...`` on the command line, ``part_size=1: ...`` in Python).
Nothing here knows a flag's spelling, parses argv or reads ASYNC_INGEST_* variables.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypedDict

from async_ingest.keys import DEFAULT_KEY_TEMPLATE, InvalidKey, validate_template
from async_ingest.outcome import ConfigError
from async_ingest.output.manifest import DEFAULT_MANIFEST_KEY, validate_manifest_key
from async_ingest.output.progress import PLAIN_PROGRESS_EVERY_S
from async_ingest.pipeline.budget import physical_memory
from async_ingest.pipeline.parts import DEFAULT_PART_SIZE, MAX_EXPANDED_CEILING, MAX_PART_SIZE, MIN_PART_SIZE
from async_ingest.s3.checksums import CHECKSUM_NAMES, DEFAULT_CHECKSUM
from async_ingest.s3.local import PLACEHOLDER_KEY_ID, PLACEHOLDER_SECRET
from async_ingest.s3.model import (
    READ_TIMEOUT_S,
    ConnectionSettings,
    Credentials,
    credentials_file_too_open,
    load_credentials_file,
    validate_bucket_name,
    validate_endpoint_url,
    validate_region,
)
from async_ingest.s3.object_options import (
    parse_content_type,
    parse_kms_key_id,
    parse_metadata,
    parse_storage_class,
    parse_tags,
)
from async_ingest.settings import (
    DEFAULT_CONCURRENCY,
    DEFAULT_LOCAL_BUCKET,
    DEFAULT_LOCAL_DIR,
    DEFAULT_MAX_MEMORY,
    MAX_MEMORY_CEILING,
    IngestSettings,
    RunSettings,
)
from async_ingest.sources.files import FileFilter, Shard, parse_shard, shard_from_environment
from async_ingest.sources.stdin import STDIN, stdin_closed, validate_name
from async_ingest.transform.compression import COMPRESS_NAMES, DEFAULT_MAX_EXPANDED_SIZE, output_compression
from async_ingest.transform.detect import resolve_codec
from async_ingest.units import format_size, parse_size

__all__ = ["Credentials", "IngestOptions", "OptionChanges", "resolve"]

MAX_PINNED_PARTS = 1000
LOCAL_CREDENTIALS = Credentials(PLACEHOLDER_KEY_ID, PLACEHOLDER_SECRET)  # the embedded server takes any
DELIMITERS = {",": ",", ";": ";", "|": "|", "tab": "\t", "\\t": "\t", "\t": "\t"}

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
    quiet: bool = False
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
    quiet: bool
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
_BOOLS = frozenset(f.name for f in fields(IngestOptions) if f.type == "bool")


def default(name: str) -> Any:
    """An option's default, as IngestOptions() has it (the command's --help shows these)."""
    return getattr(_DEFAULTS, name)


_DEFAULTS = IngestOptions()


# ---- checks of one value ------------------------------------------------------------------------


def _fail(option: str, value: Any, reason: str) -> ConfigError:
    return ConfigError(reason, option=option, value=value)


def _check_types(options: IngestOptions) -> None:
    """Wrong Python types, refused at the call (the command line only ever gives strings)."""
    for name in sorted(_BOOLS):
        value = getattr(options, name)
        if not isinstance(value, bool):
            raise _fail(name, value, "expected True or False")
    for name in ("max_attempts", "concurrency"):
        _whole(name, getattr(options, name))
    for name in ("compress_level", "expect_columns"):
        if getattr(options, name) is not None:
            _whole(name, getattr(options, name))
    for name, choices in CHOICES.items():
        value = getattr(options, name)
        if value is not None and value not in choices:
            raise ConfigError(f"{{opt:{name}}} {value!r}: choose from {', '.join(choices)}")


def _whole(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, value, "expected a whole number")
    return value


def _size(name: str, value: Size) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _fail(name, value, "expected a size in bytes or a text such as 8MiB")
    if isinstance(value, int):
        if value < 0:
            raise _fail(name, value, "must not be negative")
        return value
    try:
        return parse_size(value)
    except ValueError as exc:
        raise ConfigError(str(exc), option=name) from None


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, value, "expected a number of seconds")
    if not (math.isfinite(value) and value > 0):  # nan compares False with everything
        raise _fail(name, value, "must be a positive number of seconds")
    return float(value)


def _date(value: dt.date | str | None) -> dt.date:
    if value is None or value == "":
        return dt.date.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{{opt:date}} {value!r}: expected YYYY-MM-DD")


def _strings(name: str, value: Sequence[str] | str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(item, str) for item in values):
        raise _fail(name, value, "expected a string or a list of strings")
    return tuple(values)


def _pairs(name: str, value: Mapping[str, str] | Sequence[str]) -> list[str]:
    """tags/metadata: a mapping, or KEY=VALUE texts (as the command line gives them)."""
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise _fail(name, dict(value), "expected a mapping of strings to strings")
        return [f"{k}={v}" for k, v in value.items()]
    return list(_strings(name, value))


# ---- the whole run --------------------------------------------------------------------------------


def resolve(
    sources: Sequence[PathLike],
    options: IngestOptions,
    environ: Mapping[str, str],
    warn: Callable[[str], None],
) -> RunSettings:
    """Options -> the run's frozen settings, every check made before anything is read or sent.
    environ: the AWS_* variables (endpoint) and, for the command line, the job's shard index.
    warn: one line about the configuration that does not stop the run (a credentials file others can
    read, a metadata key given with S3's prefix)."""
    _check_types(options)
    endpoint = _endpoint(options, environ)  # first: a refused URL may hold a password, say so at once
    paths = tuple(Path(source) for source in sources)
    if not paths:
        raise ConfigError("no SOURCE given: name CSV files or folders")
    bucket = _bucket(options)
    try:
        if options.region is not None:
            validate_region(options.region)
        validate_bucket_name(bucket)
        validate_template(options.key_template)
        encoding = options.encoding if options.encoding == "auto" else resolve_codec(options.encoding)
        compress = output_compression(options.compress, options.compress_level)
    except (ValueError, InvalidKey) as exc:
        raise ConfigError(str(exc)) from None
    manifest = _manifest_key(options)
    shard = _shard(options.shard, environ)
    part_size = _size("part_size", options.part_size)
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise _fail("part_size", options.part_size, "must be between 5MiB and 5GiB")
    pinned = _parts_in_flight(options.parts_in_flight)
    max_memory = _max_memory(options, part_size, pinned)
    if options.concurrency < 1:
        raise ConfigError("must be at least 1", option="concurrency")
    read_timeout = _seconds("read_timeout", options.read_timeout)
    progress_interval = _seconds("progress_interval", options.progress_interval)
    if options.max_attempts < 1:
        raise ConfigError("must be at least 1", option="max_attempts")
    _sse(options)
    ingest = IngestSettings(
        bucket=bucket,
        key_template=options.key_template,
        date=_date(options.date),
        encoding=encoding,
        on_decode_error=options.on_decode_error,
        part_size=part_size,
        concurrency=options.concurrency,
        max_memory=max_memory,
        parts_in_flight=pinned,
        dry_run=options.dry_run,
        force=options.force,
        resume=options.resume,
        sse=options.sse,
        sse_kms_key_id=options.sse_kms_key_id,
        checksum=options.checksum,  # type: ignore[arg-type]  # checked against CHECKSUM_NAMES
        compress=compress,
        max_expanded_size=_max_expanded_size(options.max_expanded_size),
        **_object_fields(options, warn),
        **_csv_fields(options),
    )
    connection = ConnectionSettings(
        endpoint_url=endpoint,
        region=options.region,
        profile=options.profile,
        credentials=_credentials(options, environ, warn),
        max_connections=options.concurrency + (pinned or max(1, max_memory // part_size)),
        max_attempts=options.max_attempts,
        read_timeout_s=read_timeout,
    )
    return RunSettings(
        sources=paths,
        ingest=ingest,
        connection=connection,
        create_bucket=options.create_bucket,
        report=Path(options.report) if options.report is not None else None,
        local=options.local,
        local_dir=Path(options.local_dir),
        follow_symlinks=options.follow_symlinks,
        filters=FileFilter(_strings("include", options.include), _strings("exclude", options.exclude)),
        shard=shard,
        bwlimit=_bwlimit(options.bwlimit),
        quiet=options.quiet,
        log_format=options.log_format,
        progress_interval=progress_interval,
        manifest_key=manifest,
        stdin_name=_stdin_name(paths, options),
        serve=_serve(options),
    )


def _serve(options: IngestOptions) -> bool:
    if options.serve and not options.local:
        raise ConfigError("{opt:serve} needs {opt:local}: it keeps the embedded server running")
    return options.serve


def _endpoint(options: IngestOptions, environ: Mapping[str, str]) -> str | None:
    """The endpoint URL in use, checked (the local server is ours: nothing to check). The URL is
    never echoed: it may hold a password."""
    if options.local:
        return None
    for option, url in (
        ("endpoint_url", options.endpoint_url),
        ("AWS_ENDPOINT_URL_S3", environ.get("AWS_ENDPOINT_URL_S3")),
        ("AWS_ENDPOINT_URL", environ.get("AWS_ENDPOINT_URL")),
    ):
        if url:
            origin = "{opt:endpoint_url}" if option == "endpoint_url" else option
            try:
                return validate_endpoint_url(url, origin)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
    return None


def _bucket(options: IngestOptions) -> str:
    bucket = options.bucket or (DEFAULT_LOCAL_BUCKET if options.local else None)
    if bucket is None:
        if not options.dry_run:
            raise ConfigError("no target: give {opt:bucket} NAME, or {opt:local} to try it locally")
        return "dry-run"
    return bucket


def _parts_in_flight(value: int | str) -> int | None:
    """'auto' -> None (the controller decides); a positive count pins the window."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    count: object = value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        count = int(value)  # ASCII digits only: str.isdigit() alone takes any script's digits
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PINNED_PARTS:
        raise ConfigError(
            f"{{opt:parts_in_flight}} {value!r}: expected auto or a count from 1 to {MAX_PINNED_PARTS}"
        )
    return count


def _max_memory(options: IngestOptions, part_size: int, pinned: int | None) -> int:
    """The part buffers' ceiling; pinned parts raise it, and the result must fit this machine (a
    budget it cannot hold would end in an OOM kill mid-run, not a clear error)."""
    max_memory = _size("max_memory", options.max_memory)
    if max_memory < part_size:
        raise _fail("max_memory", options.max_memory, f"must hold at least one part ({options.part_size})")
    _fits_the_machine(f"{{opt:max_memory}} {options.max_memory}", max_memory)
    if pinned is not None and pinned * part_size > max_memory:  # pinned parts raise the budget
        max_memory = pinned * part_size
        _fits_the_machine(
            f"{{opt:parts_in_flight}} {pinned} x {{opt:part_size}} {options.part_size} = "
            f"{format_size(max_memory)}",
            max_memory,
        )
    return max_memory


def _fits_the_machine(what: str, size: int) -> None:
    machine = physical_memory()
    if machine is not None and size > machine:
        raise ConfigError(f"{what}: more than this machine's memory ({format_size(machine)})")
    if size > MAX_MEMORY_CEILING:
        raise ConfigError(f"{what}: above the {format_size(MAX_MEMORY_CEILING)} ceiling")


def _max_expanded_size(value: Size) -> int:
    """Parts of a compressed source are planned for this bound: beyond what 10,000 parts of 5 GiB
    hold, every compressed source would fail (said here, before any upload)."""
    size = _size("max_expanded_size", value)
    if size < 1:
        raise _fail("max_expanded_size", value, "must be at least 1 byte")
    if size > MAX_EXPANDED_CEILING:
        raise _fail(
            "max_expanded_size",
            value,
            f"above {format_size(MAX_EXPANDED_CEILING)}, what 10,000 parts of 5 GiB hold of a source that "
            "can triple as UTF-8",
        )
    return size


def _bwlimit(value: Size | None) -> int | None:
    """A size per second ('10MiB', '10MiB/s', '500k' or bytes), binary units as the part size."""
    if value is None:
        return None
    rate = _size("bwlimit", value.strip().removesuffix("/s") if isinstance(value, str) else value)
    if rate < 1:
        raise _fail("bwlimit", value, "must be at least 1 byte per second (leave it out for no limit)")
    return rate


def _sse(options: IngestOptions) -> None:
    if options.sse_kms_key_id and options.sse != "aws:kms":
        raise ConfigError("{opt:sse_kms_key_id} needs {opt:sse} aws:kms")
    if options.sse_kms_key_id is not None:
        try:
            parse_kms_key_id(options.sse_kms_key_id)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def _shard(value: str | Shard | None, environ: Mapping[str, str]) -> Shard | None:
    if isinstance(value, Shard):
        return value
    try:
        return parse_shard(value) if value else shard_from_environment(dict(environ))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _object_fields(options: IngestOptions, warn: Callable[[str], None]) -> dict[str, Any]:
    """Tags, metadata, storage class, content type, checked against S3's rules."""
    try:
        return {
            "tags": parse_tags(_pairs("tags", options.tags)),
            "metadata": parse_metadata(_pairs("metadata", options.metadata), warn),
            "storage_class": parse_storage_class(options.storage_class) if options.storage_class else None,
            "content_type": parse_content_type(options.content_type) if options.content_type else None,
        }
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _csv_fields(options: IngestOptions) -> dict[str, Any]:
    delimiter = None
    if options.delimiter is not None:
        delimiter = DELIMITERS.get(options.delimiter)
        if delimiter is None:
            raise ConfigError(f"{{opt:delimiter}} {options.delimiter!r}: choose from , ; | tab")
    header: tuple[str, ...] | None = None
    if isinstance(options.expect_header, str):
        header = tuple(next(csv.reader([options.expect_header]), []))
    elif options.expect_header is not None:
        header = _strings("expect_header", options.expect_header)
    if options.expect_columns is not None and options.expect_columns < 1:
        raise ConfigError("must be at least 1", option="expect_columns")
    if options.csv_check == "off" and (header is not None or options.expect_columns is not None):
        raise ConfigError(
            "{opt:expect_columns} and {opt:expect_header} need the CSV check (not {opt:csv_check} off)"
        )
    return {
        "csv_check": options.csv_check,
        "csv_delimiter": delimiter,
        "expect_columns": options.expect_columns,
        "expect_header": header,
    }


def _manifest_key(options: IngestOptions) -> str | None:
    if not options.manifest:
        return None
    try:
        validate_manifest_key(options.manifest_key)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return options.manifest_key


def _stdin_name(paths: Sequence[Path], options: IngestOptions) -> str | None:
    """The name of standard input (SOURCE -), checked: both or neither, - at most once."""
    given = sum(1 for path in paths if str(path) == STDIN)
    if not given:
        if options.name is not None:
            raise ConfigError("{opt:name} names standard input: give - as SOURCE")
        return None
    if given > 1:
        raise ConfigError("- (standard input) given more than once")
    if options.name is None:
        raise ConfigError("- reads standard input: give {opt:name} NAME (e.g. movies.csv) for its key")
    if options.resume:
        raise ConfigError("{opt:resume} cannot continue standard input (-): a stream cannot be read again")
    if stdin_closed():
        raise ConfigError(
            "- reads standard input, but it is closed: pipe the data in (e.g. cat f.csv | async-ingest - ...)"
        )
    try:
        return validate_name(options.name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _credentials(
    options: IngestOptions, environ: Mapping[str, str], warn: Callable[[str], None]
) -> Credentials | None:
    if options.credentials is not None:
        if options.credentials_file is not None or options.profile is not None:
            raise ConfigError("give one of {opt:credentials}, {opt:credentials_file} and {opt:profile}")
        return _given_credentials(options.credentials)
    if options.credentials_file is None:
        local_default = options.local and not options.profile and not environ.get("AWS_ACCESS_KEY_ID")
        return LOCAL_CREDENTIALS if local_default else None
    path = Path(options.credentials_file)
    try:
        credentials = load_credentials_file(path)
        if credentials_file_too_open(path):
            warn(f"{path} is readable by group or others; chmod 600 it")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return credentials


def _given_credentials(given: Any) -> Credentials:
    """Credentials as an orchestrator holds them: ours, a boto3/aioboto3/botocore Session
    (get_credentials()), or a botocore credential provider (load()). Read once, at the call: keys
    that expire during a long run are the caller's to refresh (a new run). Never echoed."""
    if isinstance(given, Credentials):
        return given
    getter = getattr(given, "get_credentials", None) or getattr(given, "load", None)
    found = getter() if callable(getter) else None
    frozen = getattr(found, "get_frozen_credentials", None)
    found = frozen() if callable(frozen) else found
    key = getattr(found, "access_key", None)
    secret = getattr(found, "secret_key", None)
    if not isinstance(key, str) or not isinstance(secret, str):
        raise ConfigError(
            "{opt:credentials}: expected async_ingest.Credentials(access_key_id, secret_access_key), "
            "a boto3 Session or a botocore credential provider that holds keys"
        )
    token = getattr(found, "token", None)
    return Credentials(key, secret, token if isinstance(token, str) and token else None)
