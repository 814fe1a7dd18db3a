"""The command line's one option table: each row gives a flag, the IngestOptions field it sets, its
ASYNC_INGEST_* variable, its help, and how its text becomes the field's value. The parser, the
environment mapping and the defaults in --help all come from here; the defaults themselves come from
IngestOptions, so --help cannot disagree with the code.

Over 400 lines because the table is: one row per option, in --help's order, kept in one place so
that a new option is one row (the code around it is ~150 lines)."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from async_ingest import __version__
from async_ingest.options import CHOICES, IngestOptions, default
from async_ingest.outcome import ConfigError
from async_ingest.units import format_size

ENV_PREFIX = "ASYNC_INGEST_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
Kind = Literal["value", "flag", "negated", "repeat"]


@dataclass(frozen=True)
class Flag:
    """One option of the command."""

    field: str  # the IngestOptions field it sets
    flag: str  # its long spelling, e.g. --part-size
    group: str
    help: str
    kind: Kind = "value"
    short: str | None = None
    metavar: str | None = None
    convert: Callable[[str], Any] | None = None  # text -> value (int, float); None: the text itself
    size: bool = False  # the default is shown as a size (8MiB)

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.flag.removeprefix("--").replace("-", "_").upper()

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


def _number(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        if not text.strip().isascii():  # int() takes any script's digits: '٣' would be 3
            raise ValueError(text)
        return kind(text)

    return convert


INT = _number(int)
FLOAT = _number(float)

TABLE: tuple[Flag, ...] = (
    Flag("bucket", "--bucket", "S3", "target bucket (created when missing)"),
    Flag("endpoint_url", "--endpoint-url", "S3", "S3-compatible endpoint (AWS_ENDPOINT_URL is honoured too)"),
    Flag("region", "--region", "S3", "region (default: AWS config, else us-east-1)"),
    Flag("profile", "--profile", "S3", "AWS shared config profile"),
    Flag(
        "credentials_file",
        "--credentials-file",
        "S3",
        "JSON with aws_access_key_id, aws_secret_access_key",
        metavar="PATH",
    ),
    Flag("create_bucket", "--no-create-bucket", "S3", "fail if the bucket does not exist", kind="negated"),
    Flag("sse", "--sse", "S3", "server-side encryption"),
    Flag("sse_kms_key_id", "--sse-kms-key-id", "S3", "KMS key for --sse aws:kms"),
    Flag("max_attempts", "--max-attempts", "S3", "attempts per request, retries included", convert=INT),
    Flag(
        "read_timeout",
        "--read-timeout",
        "S3",
        "seconds without an answer before a request is retried",
        convert=FLOAT,
    ),
    Flag(
        "key_template",
        "--key-template",
        "keys",
        "the object key; fields {dataset} {stem} {filename} {reldir} {yyyy} {mm} {dd}",
    ),
    Flag("date", "--date", "keys", "YYYY-MM-DD for {yyyy}/{mm}/{dd} (default: today, local date)"),
    Flag("name", "--name", "keys", "file name of standard input (SOURCE -): its key's {filename}"),
    Flag("encoding", "--encoding", "encoding", "auto, or a codec name to force"),
    Flag("on_decode_error", "--on-decode-error", "encoding", "fail, or replace with U+FFFD and count"),
    Flag("part_size", "--part-size", "transfer", "part size, >= 5MiB", size=True),
    Flag("concurrency", "--concurrency", "transfer", "files in flight", convert=INT),
    Flag(
        "max_memory",
        "--max-memory",
        "transfer",
        "ceiling of part buffers, all files: parts in flight follow the link up to it",
        size=True,
    ),
    Flag(
        "parts_in_flight",
        "--parts-in-flight",
        "transfer",
        "auto (follow the link, within --max-memory) or N to pin the part buffers",
    ),
    Flag(
        "checksum",
        "--checksum",
        "transfer",
        "checksum of every part and of the object, verified by S3 and stored with it; "
        "md5: Content-MD5 and ETag, for stores without S3 checksums",
    ),
    Flag("compress", "--compress", "transfer", "store objects compressed (key + .gz/.zst)"),
    Flag(
        "compress_level",
        "--compress-level",
        "transfer",
        "gzip 1-9 (2; 1-3 ISA-L, 4-9 zlib), zstd 1-19 (3)",
        convert=INT,
    ),
    Flag(
        "max_expanded_size",
        "--max-expanded-size",
        "transfer",
        "a compressed source expanding beyond this is refused as a bomb",
        size=True,
    ),
    Flag("force", "--force", "transfer", "upload even files already uploaded unchanged", kind="flag"),
    Flag("resume", "--resume", "transfer", "continue unfinished uploads of an interrupted run", kind="flag"),
    Flag(
        "follow_symlinks", "--follow-symlinks", "transfer", "follow links leading outside SOURCE", kind="flag"
    ),
    Flag("shard", "--shard", "transfer", "INDEX/COUNT: take only this worker's share of the files"),
    Flag(
        "include",
        "--include",
        "transfer",
        "take files matching GLOB in folders instead of *.csv[.gz|.zst|.bz2], *.zip (repeatable)",
        kind="repeat",
        metavar="GLOB",
    ),
    Flag(
        "exclude",
        "--exclude",
        "transfer",
        "leave out files matching GLOB (repeatable)",
        kind="repeat",
        metavar="GLOB",
    ),
    Flag(
        "bwlimit",
        "--bwlimit",
        "transfer",
        "upload bytes per second, all files together (e.g. 10MiB)",
        metavar="RATE",
    ),
    Flag(
        "dry_run",
        "--dry-run",
        "transfer",
        "show sources, encodings and keys; write nothing",
        kind="flag",
        short="-n",
    ),
    Flag("tags", "--tag", "objects", "object tag (repeatable)", kind="repeat", metavar="KEY=VALUE"),
    Flag(
        "metadata",
        "--metadata",
        "objects",
        "user metadata beside ours (repeatable)",
        kind="repeat",
        metavar="KEY=VALUE",
    ),
    Flag("storage_class", "--storage-class", "objects", "STANDARD, STANDARD_IA, ...", metavar="CLASS"),
    Flag("content_type", "--content-type", "objects", "instead of text/csv; charset=utf-8"),
    Flag(
        "csv_check",
        "--csv-check",
        "CSV check",
        "report: rows, columns, ragged rows in the output, report and metadata; "
        "strict: also fail a file with ragged rows or an unterminated quote; off: no check",
    ),
    Flag("delimiter", "--delimiter", "CSV check", "',' ';' '|' or 'tab' (default: sniffed per file)"),
    Flag(
        "expect_columns",
        "--expect-columns",
        "CSV check",
        "fail a file whose header has another count",
        convert=INT,
    ),
    Flag("expect_header", "--expect-header", "CSV check", "a,b,c: fail a file whose header differs"),
    Flag("report", "--report", "output", "write a JSON report here", metavar="PATH"),
    Flag(
        "manifest_key",
        "--manifest-key",
        "output",
        "key of the run manifest written after every file ({yyyy} {mm} {dd} {run_id})",
    ),
    Flag("manifest", "--no-manifest", "output", "write no run manifest", kind="negated"),
    Flag(
        "manifest_always",
        "--manifest-always",
        "output",
        "write the run manifest even when nothing was uploaded and nothing failed (by default a re-run "
        "that skipped every file writes none)",
        kind="flag",
    ),
    Flag("quiet", "--quiet", "output", "only errors and the summary", kind="flag", short="-q"),
    Flag(
        "verbose",
        "--verbose",
        "output",
        "a line per S3 request on stderr (operation, key, part, status, request id, seconds) and per "
        "retry with its cause; never a header, signature or credential",
        kind="flag",
        short="-v",
    ),
    Flag("log_format", "--log-format", "output", "json: one JSON object per event"),
    Flag(
        "progress_interval",
        "--progress-interval",
        "output",
        "seconds between progress lines of a long file when output is not a terminal",
        convert=FLOAT,
    ),
    Flag(
        "local",
        "--local",
        "local S3 (no AWS account needed)",
        "run an embedded SeaweedFS S3 server and upload there",
        kind="flag",
    ),
    Flag("local_dir", "--local-dir", "local S3 (no AWS account needed)", "its data", metavar="DIR"),
    Flag(
        "serve",
        "--serve",
        "local S3 (no AWS account needed)",
        "with --local: keep the server running after the run (endpoint and keys printed) until Ctrl-C",
        kind="flag",
    ),
)
BY_FIELD: Mapping[str, Flag] = {row.field: row for row in TABLE}
BY_ENV: Mapping[str, Flag] = {row.env: row for row in TABLE}


def spell(option: str) -> str:
    """An IngestOptions field as the command line spells it (ConfigError.render)."""
    row = BY_FIELD.get(option)
    return row.flag if row is not None else option


def shown_default(row: Flag) -> str | None:
    value = default(row.field)
    if row.kind != "value" or value is None or value == () or value == {}:
        return None
    if row.size and isinstance(value, int):
        return format_size(value).replace(" ", "").replace(".0", "")
    return str(value)


class UsageError(ConfigError):
    """What argparse refuses: one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(message)


class _Repeat(argparse.Action):
    """A repeatable option: its values on the command line replace its variable's, not add to them."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest)
        given = [] if current is None else list(current)
        setattr(namespace, self.dest, [*given, values])


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="async-ingest",
        description="Stream CSV files into S3 as UTF-8 (encoding detected and converted on the fly). "
        f"Every option can also be set as an environment variable {ENV_PREFIX}<OPTION> "
        "(e.g. ASYNC_INGEST_BUCKET); command-line options win.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        allow_abbrev=False,
    )
    parser.add_argument("sources", nargs="*", metavar="SOURCE", help="CSV files or folders; - reads stdin")
    parser.add_argument("--version", action="version", version=version_line())
    groups: dict[str, Any] = {}
    for row in TABLE:
        group = groups.get(row.group) or groups.setdefault(row.group, parser.add_argument_group(row.group))
        names = [row.flag] if row.short is None else [row.short, row.flag]
        if row.kind in ("flag", "negated"):
            group.add_argument(*names, dest=row.dest, action="store_true", default=None, help=row.help)
            continue
        help_text = row.help
        shown = shown_default(row)
        if shown is not None:
            help_text += f" (default: {shown})"
        choices = CHOICES.get(row.field)
        if choices is not None:
            help_text += f"; one of {', '.join(choices)}"
        action = _Repeat if row.kind == "repeat" else "store"
        group.add_argument(
            *names,
            dest=row.dest,
            action=action,
            default=None,
            metavar=row.metavar,
            help=help_text.replace("%", "%%"),
        )
    return parser


def version_line() -> str:
    from async_ingest.transform.native import IMPLEMENTATION

    return f"async-ingest {__version__} (per-byte core: {IMPLEMENTATION})"


EPILOG = """examples:
  async-ingest data/ --local                        try it on an embedded S3 server
  async-ingest data/ --bucket my-datalake           AWS (standard credential chain)
  async-ingest data/ --bucket raw --endpoint-url http://127.0.0.1:8333
  async-ingest data/ --bucket my-datalake -n        the plan, nothing written
  pg_dump ... | async-ingest - --name movies.csv --bucket my-datalake

exit codes:
  0 every file landed or was skipped as unchanged   1 at least one file failed
  2 usage or configuration error, before any upload  130 SIGINT   143 SIGTERM
"""


def _from_text(row: Flag, text: str, origin: str) -> Any:
    """One value, from the command line or a variable, as the IngestOptions field takes it."""
    if row.kind in ("flag", "negated"):
        lowered = text.strip().lower()
        if lowered not in _TRUE | _FALSE:
            raise UsageError(f"{origin}={text!r}: expected true/false")
        return (lowered in _TRUE) != (row.kind == "negated")
    if row.kind == "repeat":
        return [item.strip() for item in text.split(",") if item.strip()]
    if row.convert is None:
        return text
    try:
        return row.convert(text)
    except ValueError:
        raise UsageError(f"{origin} {text!r}: expected a number (ASCII digits)") from None


def options_from(
    args: argparse.Namespace, environ: Mapping[str, str], warn: Callable[[str], None]
) -> tuple[list[str], IngestOptions]:
    """The command line over the ASYNC_INGEST_* variables over IngestOptions' defaults."""
    warn_unknown_variables(environ, warn)
    values: dict[str, Any] = {}
    for row in TABLE:
        raw = environ.get(row.env)
        if raw is not None:
            values[row.field] = _from_text(row, raw, row.env)
        given = getattr(args, row.dest)
        if given is None:
            continue
        if row.kind == "flag":
            values[row.field] = True
        elif row.kind == "negated":
            values[row.field] = False
        elif row.kind == "repeat":
            values[row.field] = list(given)
        else:
            values[row.field] = _from_text(row, given, row.flag)
    return list(args.sources), IngestOptions(**values)


# ASYNC_INGEST_* variables that are no option but are read all the same: the twin switch, the
# shard count of an indexed job (sources), the host port of docker-compose.yml's S3 server.
OTHER_VARIABLES = frozenset(
    {"ASYNC_INGEST_NO_EXTENSIONS", "ASYNC_INGEST_SHARD_COUNT", "ASYNC_INGEST_S3_PORT"}
)


def warn_unknown_variables(environ: Mapping[str, str], warn: Callable[[str], None]) -> None:
    """A misspelled ASYNC_INGEST_* variable would be ignored without a word: say so."""
    known = set(BY_ENV)
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known and name not in OTHER_VARIABLES:
            near = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            warn(f"{name} is not an async-ingest variable; ignored{hint}")


def suggest(argv: Sequence[str]) -> str | None:
    """For a misspelled option, the one meant: --dryrun -> --dry-run."""
    known = [row.flag for row in TABLE] + ["--help", "--version"]
    for arg in argv:
        if arg.startswith("--"):
            flag = arg.split("=", 1)[0]
            if flag not in known:
                near = difflib.get_close_matches(flag, known, n=1, cutoff=0.8)
                if near:
                    return f"did you mean {near[0]}?"
    return None


def parse(argv: Sequence[str] | None, environ: Mapping[str, str], warn: Callable[[str], None]) -> Any:
    """argv and environment -> (sources, IngestOptions); UsageError/ConfigError on bad input."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        hint = suggest(list(argv) if argv is not None else sys.argv[1:])
        if hint is not None:
            raise UsageError(f"{exc}; {hint}") from None
        raise
    return options_from(args, environ, warn)


__all__ = ["TABLE", "Flag", "UsageError", "build_parser", "parse", "spell"]
