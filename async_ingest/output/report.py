"""The JSON report (--report PATH) and the run summary, built from the file results."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import textwrap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from async_ingest.events import FileResult
from async_ingest.outcome import option_mark
from async_ingest.output.display import json_safe, json_text
from async_ingest.transform.csvcheck import DELIMITER_NAMES, CsvStats

TMP_SUFFIX = ".tmp"
TMP_NAME_CHARS = 100  # of PATH's name in the temporary file's name (NAME_MAX is 255 bytes)


# What the CSV check found, by the name the summaries count it under (a file counts once per kind).
CSV_FINDINGS = ("ragged_rows", "unterminated_quote", "no_header", "not_csv")


def delimiter_name(delimiter: str | None) -> str:
    """comma, semicolon, pipe, tab, or none (one column): the notation of the `csv-delimiter`
    metadata, which re-runs read back from objects already landed, used in every output too."""
    return DELIMITER_NAMES.get(delimiter or "", "none")


def csv_findings(stats: CsvStats | None) -> list[str]:
    """The CSV_FINDINGS this file has (none without the check): what a loader would trip on."""
    if stats is None:
        return []
    found = {
        "ragged_rows": stats.ragged_rows > 0,
        "unterminated_quote": stats.unterminated_quote_line is not None,
        "no_header": not stats.header,
        "not_csv": stats.not_csv is not None,
    }
    return [name for name in CSV_FINDINGS if found[name]]


class ReportPathError(ValueError):
    """--report PATH cannot be written there (checked before any upload, and again at the end).
    The message names the option as a mark ({opt:report=PATH}): the front end spells it."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{option_mark('report', path)}: {reason}")


@dataclass
class Summary:
    files: int = 0
    uploaded: int = 0
    skipped: int = 0
    failed: int = 0
    planned: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    replacements: int = 0
    seconds: float = 0.0
    encodings: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    csv_flagged: int = 0  # files with at least one CSV finding (uploaded all the same in report mode)
    csv_findings: dict[str, int] = field(default_factory=dict)  # files per finding, the found ones
    dry_run: bool = False  # a plan: its summary says how many files are planned, even none

    @property
    def throughput(self) -> float:
        """Source bytes per second over the whole run."""
        return self.bytes_read / self.seconds if self.seconds > 0 else 0.0


def summarise(results: list[FileResult], seconds: float) -> Summary:
    statuses: Counter[str] = Counter(r.status for r in results)
    encodings = Counter(r.encoding.encoding for r in results if r.encoding is not None)
    flagged = 0
    findings: Counter[str] = Counter()
    for result in results:
        found = csv_findings(result.csv)
        flagged += bool(found)
        findings.update(found)
    return Summary(
        files=len(results),
        uploaded=statuses["uploaded"],
        skipped=statuses["skipped"],
        failed=statuses["failed"],
        planned=statuses["planned"],
        bytes_read=sum(r.bytes_read for r in results),
        bytes_written=sum(r.bytes_written for r in results),
        replacements=sum(r.replacements for r in results),
        seconds=seconds,
        encodings=dict(sorted(encodings.items())),
        failures=[json_safe(r.error_line) for r in results if r.error_line],
        csv_flagged=flagged,
        csv_findings={name: findings[name] for name in CSV_FINDINGS if findings[name]},
    )


def result_entry(result: FileResult) -> dict[str, Any]:
    encoding = result.encoding
    return {
        "source": json_safe(result.source.location),
        "source_size": result.source.size,
        "bucket": result.bucket,
        "key": result.key,
        "status": result.status,
        "source_encoding": encoding.encoding if encoding else None,
        "encoding_method": encoding.method if encoding else None,
        "encoding_confidence": round(encoding.confidence, 3) if encoding else None,
        "bom_removed": encoding.bom_removed if encoding else None,
        "replacements": result.replacements,
        "bytes_read": result.bytes_read,
        "bytes_written": result.bytes_written,
        "bytes_uncompressed": result.bytes_uncompressed,
        "parts": result.parts,
        "etag": result.etag,
        "checksum_algorithm": result.checksum.algorithm if result.checksum else None,
        "checksum": result.checksum.value if result.checksum else None,
        "checksum_type": result.checksum.type if result.checksum else None,
        "sha256": result.sha256,
        "seconds": round(result.seconds, 3),
        "error": json_safe(result.error_line) if result.error_line else None,  # with the path, as ever
        "notes": [json_safe(note) for note in result.notes],
        **csv_entry(result),
    }


def csv_entry(result: FileResult) -> dict[str, Any]:
    """The CSV check's findings (absent with --csv-check off)."""
    stats = result.csv
    if stats is None:
        return {}
    return {
        "rows": stats.rows,
        "columns": stats.columns,
        "delimiter": delimiter_name(stats.delimiter),
        "header": list(stats.names) if stats.header else None,
        "ragged_rows": stats.ragged_rows,
        "first_ragged_lines": list(stats.first_ragged_lines),
        "unterminated_quote_line": stats.unterminated_quote_line,
        "missing_final_newline": stats.missing_final_newline,
        "not_csv": stats.not_csv,
    }


def summary_entry(summary: Summary) -> dict[str, Any]:
    return {
        "files": summary.files,
        "uploaded": summary.uploaded,
        "skipped": summary.skipped,
        "failed": summary.failed,
        "planned": summary.planned,
        "bytes_read": summary.bytes_read,
        "bytes_written": summary.bytes_written,
        "replacements": summary.replacements,
        "seconds": round(summary.seconds, 3),
        "encodings": summary.encodings,
        "csv_flagged": summary.csv_flagged,
        "csv_findings": summary.csv_findings,
    }


def report_chunks(
    results: list[FileResult], summary: Summary, manifest_key: str | None = None, run_id: str | None = None
) -> Iterator[str]:
    """The report, {"run_id", "manifest_key", "files": [result_entry...], "summary": summary_entry},
    as JSON with indent 2, one file entry at a time: a report of 100,000 files is never held whole,
    as dicts or as text. manifest_key is null when no manifest was written (--no-manifest, failed)."""
    head = json_text({"run_id": run_id, "manifest_key": manifest_key}, indent=2)
    yield head[: head.rindex("\n")] + ',\n  "files": ['
    for index, result in enumerate(results):
        entry = textwrap.indent(json_text(result_entry(result), indent=2), "    ")
        yield ("\n" if index == 0 else ",\n") + entry
    yield ("\n  ]" if results else "]") + ',\n  "summary": '
    yield textwrap.indent(json_text(summary_entry(summary), indent=2), "  ").lstrip() + "\n}\n"


def _refuse_special(path: Path) -> None:
    """PATH may be missing or a regular file; anything else is refused, never replaced: a symbolic
    link (it could lead anywhere: planted in a shared folder, it would aim the write), a folder,
    a device, a FIFO or a socket."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ReportPathError(path, str(exc.strerror or exc)) from None
    if stat.S_ISLNK(mode):
        raise ReportPathError(path, "is a symbolic link; name the file itself")
    if stat.S_ISDIR(mode):
        raise ReportPathError(path, "is a folder; name a file in it")
    if not stat.S_ISREG(mode):
        raise ReportPathError(path, "is not a regular file (device, FIFO or socket)")


def _temporary(path: Path) -> tuple[int, str]:
    """A new file beside PATH, created exclusively under an unpredictable name (nothing planted
    there in advance can be written through)."""
    try:
        return tempfile.mkstemp(prefix=f".{path.name[:TMP_NAME_CHARS]}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise ReportPathError(path, f"cannot write in {path.parent}: {exc.strerror or exc}") from None


def check_report_path(path: Path) -> None:
    """Before any upload: PATH is a regular file or missing, and a file can be created beside it.
    A missing folder is created."""
    _refuse_special(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportPathError(path, f"cannot create {path.parent}: {exc.strerror or exc}") from None
    fd, probe = _temporary(path)
    os.close(fd)
    os.unlink(probe)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_report(
    path: Path,
    results: list[FileResult],
    summary: Summary,
    *,
    manifest_key: str | None = None,
    run_id: str | None = None,
) -> None:
    """Written to a temporary file beside PATH, then renamed over it: a reader never sees half a
    report. ReportPathError if PATH became something else than a regular file meanwhile."""
    _refuse_special(path)
    fd, tmp = _temporary(path)
    try:
        with open(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o666 & ~_umask())  # as a plain open() would (mkstemp: 0600)
            out.writelines(report_chunks(results, summary, manifest_key, run_id))
            out.flush()
            os.fsync(out.fileno())
        _refuse_special(path)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ReportPathError(path, str(exc.strerror or exc)) from None
        raise
