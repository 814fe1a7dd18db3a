"""Command line: arguments and ASYNC_INGEST_* environment variables -> RunSettings -> run -> exit code.

Exit codes: 0 every file landed (or was skipped as unchanged); 1 at least one file failed (the
others still landed); 2 usage or configuration error, before any upload; 130 interrupted (SIGINT);
143 terminated (SIGTERM). In-flight multipart uploads are aborted before exiting.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from async_ingest import __version__
from async_ingest.keys import (
    DEFAULT_KEY_TEMPLATE,
    InvalidKey,
    validate_template,
)
from async_ingest.outcome import ConfigError, Output
from async_ingest.output.display import printable
from async_ingest.output.manifest import (
    DEFAULT_MANIFEST_KEY,
    validate_manifest_key,
)
from async_ingest.output.progress import (
    PLAIN_PROGRESS_EVERY_S,
    JsonLogPrinter,
    PlainPrinter,
    Printer,
    TerminalProgress,
    json_error_line,
)
from async_ingest.pipeline.budget import physical_memory
from async_ingest.pipeline.parts import DEFAULT_PART_SIZE, MAX_EXPANDED_CEILING, MAX_PART_SIZE, MIN_PART_SIZE
from async_ingest.run import drop_connection_noise, execute, tune_allocator
from async_ingest.s3.checksums import CHECKSUM_NAMES, DEFAULT_CHECKSUM
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
    STORAGE_CLASSES,
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
from async_ingest.sources.files import (
    FileFilter,
    SourceFile,
    parse_shard,
    shard_from_environment,
)
from async_ingest.sources.stdin import STDIN, stdin_closed, validate_name
from async_ingest.transform import native
from async_ingest.transform.compression import COMPRESS_NAMES, DEFAULT_MAX_EXPANDED_SIZE, output_compression
from async_ingest.transform.detect import resolve_codec
from async_ingest.units import format_size, parse_size

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
ENV_PREFIX = "ASYNC_INGEST_"
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD = 1024 * 1024
MAX_PINNED_PARTS = 1000
LOCAL_CREDENTIALS = Credentials("async-ingest-local", "async-ingest-local-secret")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
T = TypeVar("T")


class UsageError(ConfigError):
    """Bad option, value or configuration: one line on stderr, exit 2 (the API raises it as ConfigError)."""


class _Repeatable(argparse.Action):
    """A repeatable option (--include, --tag, ...). Its values on the command line replace those of
    its environment variable rather than adding to them: the command line wins, as for every option."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest)
        given = [] if current is self.default else list(current)  # the first use drops the default
        setattr(namespace, self.dest, [*given, values])


def split_list(raw: str) -> list[str]:
    """A repeatable option's environment variable: values separated by commas."""
    return [item.strip() for item in raw.split(",") if item.strip()]


class _Parser(argparse.ArgumentParser):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for kind, parse in NUMBER_PARSERS.items():  # type=int / type=float read ASCII numbers only
            self.register("type", kind, parse)

    def error(self, message: str) -> Any:  # argparse's own errors: one line, exit 2
        raise UsageError(message)


def _is_whole_number(text: str) -> bool:
    """ASCII digits: str.isdigit() and int() also take other scripts' digits ('\u0663' is 3)."""
    digits = text.strip()
    return digits.isascii() and digits.isdigit()


def whole_number(text: str) -> int:
    """An option of type=int: ASCII digits, an optional sign (the option's own check bounds it)."""
    if not _is_whole_number(text.strip().removeprefix("-").removeprefix("+")):
        raise ValueError(f"not a whole number: {text!r}")
    return int(text)


def decimal_number(text: str) -> float:
    """An option of type=float: float() takes other scripts' digits too; only ASCII is read."""
    if not text.isascii():
        raise ValueError(f"not a number: {text!r}")
    return float(text)


NUMBER_PARSERS: dict[type, Callable[[str], Any]] = {int: whole_number, float: decimal_number}


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="async-ingest",
        description="Stream CSV files into S3 as UTF-8 (encoding detected and converted on the fly). "
        f"Every option can also be set as an environment variable {ENV_PREFIX}<OPTION> "
        "(e.g. ASYNC_INGEST_BUCKET); command-line options win.",
    )
    p.add_argument(
        "sources",
        nargs="*",
        type=Path,
        metavar="SOURCE",
        help="CSV files or folders; - reads stdin",
    )
    p.add_argument(
        "--version",
        action="version",
        version=f"async-ingest {__version__} (per-byte core: {native.IMPLEMENTATION})",
    )
    s3 = p.add_argument_group("S3")
    s3.add_argument("--bucket", help="target bucket (created when missing)")
    s3.add_argument("--endpoint-url", help="S3-compatible endpoint (AWS_ENDPOINT_URL is honoured too)")
    s3.add_argument("--region", help="region (default: AWS config, else us-east-1)")
    s3.add_argument("--profile", help="AWS shared config profile")
    s3.add_argument(
        "--credentials-file", type=Path, help="JSON with aws_access_key_id, aws_secret_access_key"
    )
    s3.add_argument("--no-create-bucket", action="store_true", help="fail if the bucket does not exist")
    s3.add_argument("--sse", choices=["AES256", "aws:kms"], help="server-side encryption")
    s3.add_argument("--sse-kms-key-id", help="KMS key for --sse aws:kms")
    s3.add_argument("--max-attempts", type=int, default=5, help="attempts per request, retries included (5)")
    s3.add_argument(
        "--read-timeout",
        type=float,
        default=READ_TIMEOUT_S,
        help=f"seconds without an answer before a request is retried ({READ_TIMEOUT_S})",
    )
    keys = p.add_argument_group("keys")
    keys.add_argument("--key-template", default=DEFAULT_KEY_TEMPLATE, help=f"default {DEFAULT_KEY_TEMPLATE}")
    keys.add_argument("--date", help="YYYY-MM-DD for {yyyy}/{mm}/{dd} (default: today)")
    keys.add_argument("--name", help="file name of standard input (SOURCE -): its key's {filename}")
    enc = p.add_argument_group("encoding")
    enc.add_argument("--encoding", default="auto", help="auto (default) or a codec name to force")
    enc.add_argument("--on-decode-error", choices=["fail", "replace"], default="fail")
    run = p.add_argument_group("transfer")
    run.add_argument("--part-size", default=format_size(DEFAULT_PART_SIZE).replace(" ", ""), help="8MiB")
    run.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="files in flight")
    run.add_argument(
        "--max-memory",
        default=format_size(DEFAULT_MAX_MEMORY).replace(" ", ""),
        help="ceiling of part buffers, all files: parts in flight follow the link up to it",
    )
    run.add_argument(
        "--parts-in-flight",
        default="auto",
        help="auto (default: follow the link, within --max-memory) or N to pin the part buffers",
    )
    run.add_argument(
        "--checksum",
        choices=CHECKSUM_NAMES,
        default=DEFAULT_CHECKSUM,
        help="checksum of every part and of the object, verified by S3 and stored with it (crc64nvme); "
        "md5: Content-MD5 and ETag, for stores without S3 checksums",
    )
    run.add_argument(
        "--compress",
        choices=COMPRESS_NAMES,
        default="none",
        help="store objects gzip- or zstd-compressed (key + .gz/.zst); none (default): the UTF-8 CSV",
    )
    run.add_argument("--compress-level", type=int, help="gzip 1-9 (2; 1-3 ISA-L, 4-9 zlib), zstd 1-19 (3)")
    run.add_argument(
        "--max-expanded-size",
        default=format_size(DEFAULT_MAX_EXPANDED_SIZE).replace(" ", ""),
        help="a compressed source (a zip: its CSV members together) expanding past this is refused (32GiB)",
    )
    run.add_argument("--force", action="store_true", help="upload even files already uploaded unchanged")
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue unfinished uploads of an interrupted run (checks parts)",
    )
    run.add_argument("--follow-symlinks", action="store_true", help="follow links leading outside SOURCE")
    run.add_argument("--shard", help="INDEX/COUNT: take only this worker's share of the files")
    _add_everyday_options(p, run)
    run.add_argument("--dry-run", action="store_true", help="show sources, encodings and keys; write nothing")
    check = p.add_argument_group("CSV check")
    check.add_argument(
        "--csv-check",
        choices=["off", "report", "strict"],
        default="report",
        help="report (default): rows, columns, ragged rows in the output, report and metadata; "
        "strict: also fail a file with ragged rows or an unterminated quote; off: no check",
    )
    check.add_argument("--delimiter", help="',' ';' '|' or 'tab' (default: sniffed per file)")
    check.add_argument("--expect-columns", type=int, help="fail a file whose header has another count")
    check.add_argument("--expect-header", help="a,b,c: fail a file whose header differs (schema drift)")
    out = p.add_argument_group("output")
    out.add_argument("--report", type=Path, help="write a JSON report here")
    out.add_argument(
        "--manifest-key",
        default=DEFAULT_MANIFEST_KEY,
        help="key of the run manifest written to the bucket after every file ({yyyy} {mm} {dd} {run_id})",
    )
    out.add_argument("--no-manifest", action="store_true", help="write no run manifest")
    out.add_argument("--quiet", action="store_true", help="only errors and the summary")
    out.add_argument("--log-format", choices=["text", "json"], default="text")
    out.add_argument(
        "--progress-interval",
        type=float,
        default=PLAIN_PROGRESS_EVERY_S,
        help="seconds between progress lines of a long file when output is not a terminal (5)",
    )
    local = p.add_argument_group("local S3 (no AWS account needed)")
    local.add_argument(
        "--local", action="store_true", help="run an embedded SeaweedFS S3 server and upload there"
    )
    local.add_argument(
        "--local-dir", type=Path, default=DEFAULT_LOCAL_DIR, help=f"its data ({DEFAULT_LOCAL_DIR})"
    )
    return p


def _add_everyday_options(p: argparse.ArgumentParser, run: argparse._ArgumentGroup) -> None:
    run.add_argument(
        "--include", action=_Repeatable, default=(), metavar="GLOB",
        help="take files matching GLOB in folders instead of *.csv[.gz|.zst|.bz2], *.zip (repeatable)",
    )  # fmt: skip
    run.add_argument(
        "--exclude", action=_Repeatable, default=(), metavar="GLOB",
        help="leave out files matching GLOB (repeatable)",
    )  # fmt: skip
    run.add_argument(
        "--bwlimit", metavar="RATE", help="upload bytes per second, all files together (e.g. 10MiB)"
    )
    objects = p.add_argument_group("objects")
    objects.add_argument(
        "--tag", action=_Repeatable, default=(), metavar="KEY=VALUE", help="object tag (repeatable)"
    )
    objects.add_argument(
        "--metadata", action=_Repeatable, default=(), metavar="KEY=VALUE",
        help="user metadata beside ours (repeatable)",
    )  # fmt: skip
    objects.add_argument("--storage-class", metavar="CLASS", help=", ".join(STORAGE_CLASSES))
    objects.add_argument("--content-type", help="instead of text/csv; charset=utf-8")


def env_name(action: argparse.Action) -> str:
    return ENV_PREFIX + action.dest.upper()


def apply_environment(parser: argparse.ArgumentParser, environ: dict[str, str]) -> None:
    """Options missing from the command line default to their ASYNC_INGEST_* variable."""
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "version"):
            continue
        raw = environ.get(env_name(action))
        if raw is None:
            continue
        if isinstance(action, argparse._StoreTrueAction):
            if raw.strip().lower() not in _TRUE | _FALSE:
                raise UsageError(f"{env_name(action)}={raw!r}: expected true/false")
            parser.set_defaults(**{action.dest: raw.strip().lower() in _TRUE})
            continue
        if isinstance(action, _Repeatable):
            parser.set_defaults(**{action.dest: split_list(raw)})
            continue
        if action.choices is not None and raw not in action.choices:
            raise UsageError(f"{env_name(action)}={raw!r}: choose from {', '.join(map(str, action.choices))}")
        try:
            kind: Any = action.type
            kind = NUMBER_PARSERS.get(kind, kind)
            value = kind(raw) if callable(kind) else raw
        except (TypeError, ValueError):
            raise UsageError(f"{env_name(action)}={raw!r}: invalid value") from None
        parser.set_defaults(**{action.dest: value})


def _size(name: str, text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}") from None


def _max_expanded_size(text: str) -> int:
    """Parts of a compressed source are planned for this bound: beyond what 10,000 parts of 5 GiB
    hold, every compressed source would fail (said here, before any upload)."""
    size = _size("--max-expanded-size", text)
    if size < 1:
        raise UsageError(f"--max-expanded-size {text}: must be at least 1 byte")
    if size > MAX_EXPANDED_CEILING:
        raise UsageError(
            f"--max-expanded-size {text}: above {format_size(MAX_EXPANDED_CEILING)}, what 10,000 parts "
            "of 5 GiB hold of a source that can triple as UTF-8"
        )
    return size


def _positive_seconds(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):  # nan compares False with everything
        raise UsageError(f"{name} {value}: must be a positive number of seconds")


def _check_max_memory(text: str, max_memory: int) -> None:
    """A budget the machine cannot hold would end in an OOM kill mid-run, not a clear error. text
    names the options that set it (--max-memory, or --parts-in-flight times --part-size)."""
    machine = physical_memory()
    if machine is not None and max_memory > machine:
        raise UsageError(f"{text}: more than this machine's memory ({format_size(machine)})")
    if max_memory > MAX_MEMORY_CEILING:
        raise UsageError(f"{text}: above the {format_size(MAX_MEMORY_CEILING)} ceiling")


def _endpoint(args: argparse.Namespace, environ: dict[str, str]) -> str | None:
    """The endpoint URL in use, checked (--local runs its own server: nothing to check)."""
    if args.local:
        return None
    for origin, url in (
        ("--endpoint-url", args.endpoint_url),
        ("AWS_ENDPOINT_URL_S3", environ.get("AWS_ENDPOINT_URL_S3")),
        ("AWS_ENDPOINT_URL", environ.get("AWS_ENDPOINT_URL")),
    ):
        if url:
            try:
                return validate_endpoint_url(url, origin)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
    return None


def object_fields(args: argparse.Namespace, warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """--tag, --metadata, --storage-class, --content-type, checked: IngestSettings fields."""
    say = warn or _stderr

    def note(line: str) -> None:
        say(f"async-ingest: warning: {line}")

    try:
        return {
            "tags": parse_tags(list(args.tag)),
            "metadata": parse_metadata(list(args.metadata), note),
            "storage_class": parse_storage_class(args.storage_class) if args.storage_class else None,
            "content_type": parse_content_type(args.content_type) if args.content_type else None,
        }
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _bwlimit(text: str | None) -> int | None:
    """--bwlimit RATE: a size per second ('10MiB', '10MiB/s', '500k'), binary units as --part-size."""
    if text is None:
        return None
    rate = _size("--bwlimit", text.strip().removesuffix("/s"))
    if rate < 1:
        raise UsageError(f"--bwlimit {text}: must be at least 1 byte per second (leave it out for no limit)")
    return rate


def _parts_in_flight(text: str) -> int | None:
    """'auto' -> None (the controller decides); a positive count pins the window."""
    if text.strip().lower() == "auto":
        return None
    if not _is_whole_number(text) or not 1 <= int(text) <= MAX_PINNED_PARTS:
        raise UsageError(f"--parts-in-flight {text!r}: expected auto or a count from 1 to {MAX_PINNED_PARTS}")
    return int(text)


def _date(text: str | None) -> dt.date:
    if not text:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--date {text!r}: expected YYYY-MM-DD") from None


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _credentials(
    args: argparse.Namespace, environ: dict[str, str], warn: Callable[[str], None]
) -> Credentials | None:
    path: Path | None = args.credentials_file
    if path is None:
        local_default = args.local and not args.profile and not environ.get("AWS_ACCESS_KEY_ID")
        return LOCAL_CREDENTIALS if local_default else None
    try:
        credentials = load_credentials_file(path)
        if credentials_file_too_open(path):
            warn(f"async-ingest: warning: {path} is readable by group or others; chmod 600 it")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return credentials


DELIMITERS = {",": ",", ";": ";", "|": "|", "tab": "\t", "\\t": "\t", "\t": "\t"}


def _csv_options(args: argparse.Namespace) -> tuple[str | None, tuple[str, ...] | None]:
    """--delimiter and --expect-header, checked (the header is read as one CSV row)."""
    delimiter = None
    if args.delimiter is not None:
        delimiter = DELIMITERS.get(args.delimiter)
        if delimiter is None:
            raise UsageError(f"--delimiter {args.delimiter!r}: choose from , ; | tab")
    expect_header = None
    if args.expect_header is not None:
        expect_header = tuple(next(csv.reader([args.expect_header]), []))
    if args.expect_columns is not None and args.expect_columns < 1:
        raise UsageError("--expect-columns: must be at least 1")
    if args.csv_check == "off" and (expect_header is not None or args.expect_columns is not None):
        raise UsageError("--expect-columns and --expect-header need the CSV check (not --csv-check off)")
    return delimiter, expect_header


def _stdin_name(args: argparse.Namespace) -> str | None:
    """--name for SOURCE - (standard input), checked: both or neither, - at most once."""
    given = sum(1 for source in args.sources if str(source) == STDIN)
    if not given:
        if args.name is not None:
            raise UsageError(
                "--name names standard input: give - as SOURCE (e.g. cat f | async-ingest - --name f)"
            )
        return None
    if given > 1:
        raise UsageError("- (standard input) given more than once")
    if args.name is None:
        raise UsageError("- reads standard input: give --name NAME (e.g. --name movies.csv) for its key")
    if args.resume:
        raise UsageError("--resume cannot continue standard input (-): a stream cannot be read again")
    if stdin_closed():
        raise UsageError(
            "- reads standard input, but it is closed: pipe the data in (e.g. cat f.csv | async-ingest - ...)"
        )
    try:
        return validate_name(args.name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def settings_from_args(
    args: argparse.Namespace, environ: dict[str, str], warn: Callable[[str], None] = _stderr
) -> RunSettings:
    endpoint = _endpoint(args, environ)  # first: a refused URL may hold a password, say so at once
    if not args.sources:
        raise UsageError("no SOURCE given: name CSV files or folders, e.g. async-ingest data/ --bucket NAME")
    bucket = args.bucket or (DEFAULT_LOCAL_BUCKET if args.local else None)
    if bucket is None and not args.dry_run:
        raise UsageError(
            "no target: give --bucket NAME (or ASYNC_INGEST_BUCKET), or --local to try it locally"
        )
    bucket = bucket or "dry-run"
    try:
        if args.region is not None:
            validate_region(args.region)
        validate_bucket_name(bucket)
        validate_template(args.key_template)
        if not args.no_manifest:
            validate_manifest_key(args.manifest_key)
        encoding = args.encoding if args.encoding == "auto" else resolve_codec(args.encoding)
        shard = parse_shard(args.shard) if args.shard else shard_from_environment(environ)
        compress = output_compression(args.compress, args.compress_level)
    except (ValueError, InvalidKey) as exc:
        raise UsageError(str(exc)) from None
    part_size = _size("--part-size", args.part_size)
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise UsageError(f"--part-size {args.part_size}: must be between 5MiB and 5GiB")
    max_memory = _size("--max-memory", args.max_memory)
    if max_memory < part_size:
        raise UsageError(f"--max-memory {args.max_memory}: must hold at least one part ({args.part_size})")
    _check_max_memory(f"--max-memory {args.max_memory}", max_memory)
    pinned = _parts_in_flight(args.parts_in_flight)
    if pinned is not None and pinned * part_size > max_memory:  # pinned parts raise the budget: checked
        max_memory = pinned * part_size
        _check_max_memory(
            f"--parts-in-flight {pinned} x --part-size {args.part_size} = {format_size(max_memory)}",
            max_memory,
        )
    if args.concurrency < 1:
        raise UsageError("--concurrency: must be at least 1")
    _positive_seconds("--read-timeout", args.read_timeout)
    _positive_seconds("--progress-interval", args.progress_interval)
    if args.max_attempts < 1:
        raise UsageError("--max-attempts: must be at least 1")
    if args.sse_kms_key_id and args.sse != "aws:kms":
        raise UsageError("--sse-kms-key-id needs --sse aws:kms")
    if args.sse_kms_key_id is not None:
        try:
            parse_kms_key_id(args.sse_kms_key_id)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    delimiter, expect_header = _csv_options(args)
    stdin_name = _stdin_name(args)
    ingest = IngestSettings(
        bucket=bucket,
        key_template=args.key_template,
        date=_date(args.date),
        encoding=encoding,
        on_decode_error=args.on_decode_error,
        part_size=part_size,
        concurrency=args.concurrency,
        max_memory=max_memory,
        parts_in_flight=pinned,
        dry_run=args.dry_run,
        force=args.force,
        resume=args.resume,
        sse=args.sse,
        sse_kms_key_id=args.sse_kms_key_id,
        checksum=args.checksum,
        compress=compress,
        max_expanded_size=_max_expanded_size(args.max_expanded_size),
        **object_fields(args, warn),
        csv_check=args.csv_check,
        csv_delimiter=delimiter,
        expect_columns=args.expect_columns,
        expect_header=expect_header,
    )
    parts_in_flight = pinned or max(1, max_memory // part_size)
    connection = ConnectionSettings(
        endpoint_url=endpoint,
        region=args.region,
        profile=args.profile,
        credentials=_credentials(args, environ, warn),
        max_connections=args.concurrency + parts_in_flight,
        max_attempts=args.max_attempts,
        read_timeout_s=args.read_timeout,
    )
    return RunSettings(
        sources=tuple(args.sources),
        ingest=ingest,
        connection=connection,
        create_bucket=not args.no_create_bucket,
        report=args.report,
        local=args.local,
        local_dir=args.local_dir,
        follow_symlinks=args.follow_symlinks,
        filters=FileFilter(tuple(args.include), tuple(args.exclude)),
        shard=shard,
        bwlimit=_bwlimit(args.bwlimit),
        quiet=args.quiet,
        log_format=args.log_format,
        progress_interval=args.progress_interval,
        manifest_key=None if args.no_manifest else args.manifest_key,
        stdin_name=stdin_name,
    )


def parse_settings(argv: Sequence[str] | None, environ: dict[str, str]) -> RunSettings:
    parser = build_parser()
    apply_environment(parser, environ)
    return settings_from_args(parser.parse_args(argv), environ)


class Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def make_printer(settings: RunSettings, sources: list[SourceFile]) -> Printer:
    if settings.log_format == "json":
        return JsonLogPrinter()
    if sys.stdout.isatty() and not settings.quiet and not settings.ingest.dry_run:
        return TerminalProgress(sum(s.size for s in sources), len(sources))
    return PlainPrinter(
        quiet=settings.quiet,
        every_s=settings.progress_interval,
        total_files=len(sources),
        total_bytes=sum(s.size for s in sources),
    )


_PRINTERS: list[Printer] = []  # the run's printer, closed (bars cleared) before a signal's line


def _cli_printer(settings: RunSettings, sources: list[SourceFile]) -> Printer:
    printer = make_printer(settings, sources)
    _PRINTERS.append(printer)
    return printer


CLI_OUTPUT = Output(printer=_cli_printer, say=print, warn=_stderr)


async def _run_with_signals(settings: RunSettings, received: list[int]) -> int:
    """SIGINT and SIGTERM cancel the run; every file's upload aborts on the way out."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(drop_connection_noise)
    main_task = asyncio.current_task()
    assert main_task is not None

    def on_signal(signum: int) -> None:
        if received:
            return  # already stopping: let the aborts finish
        received.append(signum)
        for printer in _PRINTERS:
            printer.close()  # the bars go first: the line below must not be drawn over them
        print(f"async-ingest: {signal.Signals(signum).name}: aborting uploads in flight...", file=sys.stderr)
        main_task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    return (await execute(settings, CLI_OUTPUT)).exit_code


def _json_mode(argv: Sequence[str] | None, environ: dict[str, str]) -> bool:
    """--log-format json, read before the options are checked: their errors are JSON too."""
    args = list(sys.argv[1:] if argv is None else argv)
    chosen = environ.get("ASYNC_INGEST_LOG_FORMAT", "text")
    for index, arg in enumerate(args):
        if arg == "--log-format" and index + 1 < len(args):
            chosen = args[index + 1]
        elif arg.startswith("--log-format="):
            chosen = arg.split("=", 1)[1]
    return chosen == "json"


def main(argv: Sequence[str] | None = None) -> int:
    tune_allocator()
    environ = dict(os.environ)
    received: list[int] = []
    try:
        settings = parse_settings(argv, environ)
        return asyncio.run(_run_with_signals(settings, received))
    except ConfigError as exc:
        line = f"async-ingest: error: {printable(str(exc))}"
        print(json_error_line(line) if _json_mode(argv, environ) else line, file=sys.stderr)
        return EXIT_USAGE
    except (asyncio.CancelledError, KeyboardInterrupt):
        if received and received[0] == signal.SIGTERM:
            return EXIT_SIGTERM
        return EXIT_SIGINT
