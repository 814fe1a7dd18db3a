"""The checks behind resolve() (resolve.py): each option's value on its own, and the options that
go together (memory and pinned parts, SSE, the CSV check, standard input and its name). Each
refuses with ConfigError naming the option ({opt:NAME} marks inside a reason); none knows a flag's
spelling."""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from async_ingest.options import CHOICES, IngestOptions, Size
from async_ingest.outcome import ConfigError
from async_ingest.output.manifest import validate_manifest_key
from async_ingest.pipeline.budget import physical_memory
from async_ingest.pipeline.parts import MAX_EXPANDED_CEILING
from async_ingest.s3.object_options import (
    parse_content_type,
    parse_kms_key_id,
    parse_metadata,
    parse_storage_class,
    parse_tags,
)
from async_ingest.settings import DEFAULT_LOCAL_BUCKET, MAX_MEMORY_CEILING
from async_ingest.sources.shard import Shard, parse_shard, shard_from_environment
from async_ingest.sources.stdin import STDIN, stdin_closed, validate_name
from async_ingest.units import format_size, parse_size

MAX_PINNED_PARTS = 1000
DELIMITERS = {",": ",", ";": ";", "|": "|", "tab": "\t", "\\t": "\t", "\t": "\t"}
_BOOLS = frozenset(f.name for f in fields(IngestOptions) if f.type == "bool")


# ---- checks of one value ------------------------------------------------------------------------


def fail(option: str, value: Any, reason: str) -> ConfigError:
    return ConfigError(reason, option=option, value=value)


def types(options: IngestOptions) -> None:
    """Wrong Python types, refused at the call (the command line only ever gives strings)."""
    for name in sorted(_BOOLS):
        value = getattr(options, name)
        if not isinstance(value, bool):
            raise fail(name, value, "expected True or False")
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
        raise fail(name, value, "expected a whole number")
    return value


def size(name: str, value: Size) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise fail(name, value, "expected a size in bytes or a text such as 8MiB")
    if isinstance(value, int):
        if value < 0:
            raise fail(name, value, "must not be negative")
        return value
    try:
        return parse_size(value)
    except ValueError as exc:
        raise ConfigError(str(exc), option=name) from None


def seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(name, value, "expected a number of seconds")
    if not (math.isfinite(value) and value > 0):  # nan compares False with everything
        raise fail(name, value, "must be a positive number of seconds")
    return float(value)


def date(value: dt.date | str | None) -> dt.date:
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


def strings(name: str, value: Sequence[str] | str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(item, str) for item in values):
        raise fail(name, value, "expected a string or a list of strings")
    return tuple(values)


def _pairs(name: str, value: Mapping[str, str] | Sequence[str]) -> list[str]:
    """tags/metadata: a mapping, or KEY=VALUE texts (as the command line gives them)."""
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise fail(name, dict(value), "expected a mapping of strings to strings")
        return [f"{k}={v}" for k, v in value.items()]
    return list(strings(name, value))


# ---- options that go together -------------------------------------------------------------------


def serve(options: IngestOptions) -> bool:
    if options.serve and not options.local:
        raise ConfigError("{opt:serve} needs {opt:local}: it keeps the embedded server running")
    return options.serve


def bucket(options: IngestOptions) -> str:
    bucket = options.bucket or (DEFAULT_LOCAL_BUCKET if options.local else None)
    if bucket is None:
        if not options.dry_run:
            raise ConfigError("no target: give {opt:bucket} NAME, or {opt:local} to try it locally")
        return "dry-run"
    return bucket


def parts_in_flight(value: int | str) -> int | None:
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


def max_memory(options: IngestOptions, part_size: int, pinned: int | None) -> int:
    """The part buffers' ceiling; pinned parts raise it, and the result must fit this machine (a
    budget it cannot hold would end in an OOM kill mid-run, not a clear error)."""
    max_memory = size("max_memory", options.max_memory)
    if max_memory < part_size:
        raise fail("max_memory", options.max_memory, f"must hold at least one part ({options.part_size})")
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


def max_expanded_size(value: Size) -> int:
    """Parts of a compressed source are planned for this bound: beyond what 10,000 parts of 5 GiB
    hold, every compressed source would fail (said here, before any upload)."""
    bound = size("max_expanded_size", value)
    if bound < 1:
        raise fail("max_expanded_size", value, "must be at least 1 byte")
    if bound > MAX_EXPANDED_CEILING:
        raise fail(
            "max_expanded_size",
            value,
            f"above {format_size(MAX_EXPANDED_CEILING)}, what 10,000 parts of 5 GiB hold of a source that "
            "can triple as UTF-8",
        )
    return bound


def bwlimit(value: Size | None) -> int | None:
    """A size per second ('10MiB', '10MiB/s', '500k' or bytes), binary units as the part size."""
    if value is None:
        return None
    rate = size("bwlimit", value.strip().removesuffix("/s") if isinstance(value, str) else value)
    if rate < 1:
        raise fail("bwlimit", value, "must be at least 1 byte per second (leave it out for no limit)")
    return rate


def sse(options: IngestOptions) -> None:
    if options.sse_kms_key_id and options.sse != "aws:kms":
        raise ConfigError("{opt:sse_kms_key_id} needs {opt:sse} aws:kms")
    if options.sse_kms_key_id is not None:
        try:
            parse_kms_key_id(options.sse_kms_key_id)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def shard(value: str | Shard | None, environ: Mapping[str, str]) -> Shard | None:
    if isinstance(value, Shard):
        return value
    try:
        return parse_shard(value) if value else shard_from_environment(dict(environ))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def object_fields(options: IngestOptions, warn: Callable[[str], None]) -> dict[str, Any]:
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


def csv_fields(options: IngestOptions) -> dict[str, Any]:
    delimiter = None
    if options.delimiter is not None:
        delimiter = DELIMITERS.get(options.delimiter)
        if delimiter is None:
            raise ConfigError(f"{{opt:delimiter}} {options.delimiter!r}: choose from , ; | tab")
    header: tuple[str, ...] | None = None
    if isinstance(options.expect_header, str):
        header = tuple(next(csv.reader([options.expect_header]), []))
    elif options.expect_header is not None:
        header = strings("expect_header", options.expect_header)
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


def manifest_key(options: IngestOptions) -> str | None:
    if not options.manifest:
        if options.manifest_always:
            raise ConfigError("{opt:manifest_always} and {opt:manifest} contradict each other: give one")
        return None
    try:
        validate_manifest_key(options.manifest_key)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return options.manifest_key


def stdin_name(paths: Sequence[Path], options: IngestOptions) -> str | None:
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
