"""The run manifest: one JSON object listing every object of a run, written after all of them have
landed or failed, so that its appearance can trigger the downstream job."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from async_ingest.events import FileResult
from async_ingest.keys import MAX_KEY_BYTES
from async_ingest.output.display import json_safe, json_text
from async_ingest.output.report import csv_entry
from async_ingest.units import MiB

DEFAULT_MANIFEST_KEY = "Raw/Local/CSV/_manifests/{yyyy}/{mm}/{dd}/{run_id}.json"
MANIFEST_FIELDS = ("yyyy", "mm", "dd", "run_id")
MANIFEST_CONTENT_TYPE = "application/json"


def new_run_id(now: dt.datetime | None = None) -> str:
    """Sortable and unique: UTC time of the start, then random hex (two shards never collide)."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def validate_manifest_key(template: str) -> None:
    """Raises ValueError: unknown fields, or a key that cannot be distinct per run."""
    fields = set(re.findall(r"{([^{}]*)}", template))
    unknown = sorted(fields - set(MANIFEST_FIELDS))
    if unknown:
        raise ValueError(f"{{opt:manifest_key}} {template!r}: unknown field(s) {', '.join(unknown)}")
    if "run_id" not in fields:
        raise ValueError(f"{{opt:manifest_key}} {template!r}: must contain {{run_id}} (one manifest per run)")
    if template.startswith("/") or "//" in template:
        raise ValueError(f"{{opt:manifest_key}} {template!r}: empty path segment")
    try:
        sample = manifest_key(template, dt.date(2000, 1, 1), new_run_id())
    except (ValueError, IndexError) as exc:  # an unbalanced brace, {0}
        raise ValueError(f"{{opt:manifest_key}} {template!r}: {exc}") from None
    size = len(sample.encode("utf-8", "surrogateescape"))
    if size > MAX_KEY_BYTES:  # found now, not by S3 once every file has been uploaded
        raise ValueError(
            f"{{opt:manifest_key}} {template[:40]!r}...: its keys are {size} bytes, S3 allows {MAX_KEY_BYTES}"
        )


def manifest_key(template: str, date: dt.date, run_id: str) -> str:
    return template.format(yyyy=f"{date:%Y}", mm=f"{date:%m}", dd=f"{date:%d}", run_id=run_id)


def object_entry(result: FileResult) -> dict[str, Any]:
    stats = result.csv
    entry: dict[str, Any] = {
        "key": result.key,
        "status": result.status,
        "source": json_safe(result.source.location),
        "size": result.bytes_written if result.status == "uploaded" else None,
        "etag": result.etag,
        "checksum_algorithm": result.checksum.algorithm if result.checksum else None,
        "checksum": result.checksum.value if result.checksum else None,
        "sha256": result.sha256,
        "source_encoding": result.encoding.encoding if result.encoding else None,
        "rows": stats.rows if stats else None,
        "columns": stats.columns if stats else None,
        "header": list(stats.names) if stats and stats.header else None,
        "error": json_safe(result.error_line) if result.error_line else None,
    }
    extra = csv_entry(result)
    entry.update({k: extra[k] for k in ("delimiter", "ragged_rows") if k in extra})
    return entry


# The manifest goes up in parts of this size, S3's smallest (one PUT when it fits in one): a run
# of 100,000 files has a ~45 MB manifest, which held whole (and copied for the request) had doubled
# the run's memory.
MANIFEST_PART = 5 * MiB


def manifest_chunks(
    results: list[FileResult], run_id: str, bucket: str, started: dt.datetime, finished: dt.datetime
) -> Iterator[bytes]:
    """The manifest's JSON, entry by entry, one object per line."""
    failed = sum(r.status == "failed" for r in results)
    head = {
        "run_id": run_id,
        "bucket": bucket,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "complete": failed == 0,
        "files": len(results),
        "failed": failed,
    }
    yield json_text(head)[:-1].encode() + b', "objects": ['  # the head without its closing brace
    for index, result in enumerate(results):
        separator = b"\n  " if index == 0 else b",\n  "
        yield separator + json_text(object_entry(result)).encode()  # names that are not UTF-8 escaped
    yield b"\n]}\n"


def in_parts(chunks: Iterable[bytes], part_size: int) -> Iterator[bytearray]:
    """The chunks joined into parts of at least part_size bytes (the last one smaller). A part grows
    as it is filled (a run of a few files holds a few KB, not a whole part; growing a large
    bytearray moves no bytes on Linux, realloc remaps it), and at most one is held here: the
    consumer lets go of a part before asking for the next."""
    part = bytearray()
    for chunk in chunks:
        part += chunk
        if len(part) >= part_size:
            yield part
            del part  # before the next one is started
            part = bytearray()
    if part:
        yield part
