"""The JSON report (--report PATH) and the run summary, built from the file results."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from async_ingest.events import FileResult


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

    @property
    def throughput(self) -> float:
        """Source bytes per second over the whole run."""
        return self.bytes_read / self.seconds if self.seconds > 0 else 0.0


def summarise(results: list[FileResult], seconds: float) -> Summary:
    statuses = Counter(r.status for r in results)
    encodings = Counter(r.encoding.encoding for r in results if r.encoding is not None)
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
        failures=[r.error for r in results if r.error],
    )


def result_entry(result: FileResult) -> dict[str, Any]:
    encoding = result.encoding
    return {
        "source": str(result.source.path),
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
        "parts": result.parts,
        "etag": result.etag,
        "sha256": result.sha256,
        "seconds": round(result.seconds, 3),
        "error": result.error,
        "notes": result.notes,
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
        "delimiter": stats.delimiter,
        "header": list(stats.names) if stats.header else None,
        "ragged_rows": stats.ragged_rows,
        "first_ragged_lines": list(stats.first_ragged_lines),
        "unterminated_quote_line": stats.unterminated_quote_line,
        "missing_final_newline": stats.missing_final_newline,
        "not_csv": stats.not_csv,
    }


def build_report(results: list[FileResult], summary: Summary) -> dict[str, Any]:
    return {
        "files": [result_entry(r) for r in results],
        "summary": {
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
        },
    }


def write_report(path: Path, results: list[FileResult], summary: Summary) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(build_report(results, summary), indent=2, ensure_ascii=False) + "\n", "utf-8")
    tmp.replace(path)  # a reader never sees half a report
