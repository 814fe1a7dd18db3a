"""Subscribers that turn pipeline events into lines for people (text) or log pipelines (json)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from async_ingest.events import Event, FileFinished, FileRestarted, FileResult, FileStarted, PartUploaded
from async_ingest.report import Summary, result_entry
from async_ingest.units import format_size


def describe_encoding(result: FileResult) -> str:
    info = result.encoding
    if info is None:
        return "?"
    text = f"{info.encoding} ({info.method}"
    if info.method == "detected":
        text += f", confidence {info.confidence:.2f}"
    if info.bom_removed:
        text += ", BOM removed"
    text += ")"
    if result.replacements:
        text += f", {result.replacements} replacement(s)"
    return text


def file_line(result: FileResult) -> str:
    target = f"s3://{result.bucket}/{result.key}"
    if result.status == "failed":
        return f"FAILED {result.error}"
    if result.status == "skipped":
        return f"{result.source.path} -> {target}  skipped (already uploaded from this same source)"
    if result.status == "planned":
        size = format_size(result.source.size)
        return f"{result.source.path} -> {target}  {describe_encoding(result)}  {size}"
    return (
        f"{result.source.path} -> {target}  {describe_encoding(result)}  "
        f"{format_size(result.bytes_read)} -> {format_size(result.bytes_written)}  {result.seconds:.2f} s"
    )


def summary_lines(summary: Summary) -> list[str]:
    counts = (
        f"{summary.files} file(s): {summary.uploaded} uploaded, {summary.skipped} skipped, "
        f"{summary.failed} failed"
    )
    if summary.planned:
        counts = f"{summary.files} file(s) planned (dry run, nothing written)"
    lines = [
        counts,
        f"{format_size(summary.bytes_read)} read, {format_size(summary.bytes_written)} written "
        f"in {summary.seconds:.2f} s ({format_size(summary.throughput)}/s)",
    ]
    if summary.encodings:
        lines.append("encodings: " + ", ".join(f"{k} x{v}" for k, v in summary.encodings.items()))
    if summary.replacements:
        lines.append(f"{summary.replacements} undecodable byte sequence(s) replaced by U+FFFD")
    return lines


@dataclass
class TextPrinter:
    """One line per file on stdout, failures on stderr. Quiet: failures and the summary only."""

    quiet: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def __call__(self, event: Event) -> None:
        if isinstance(event, FileFinished):
            line = file_line(event.result)
            if event.result.status == "failed":
                print(line, file=self.err, flush=True)
            elif not self.quiet:
                print(line, file=self.out, flush=True)
        elif isinstance(event, FileRestarted) and not self.quiet:
            print(
                f"{event.source.path}: {event.reason}; starting again as {event.encoding.encoding}",
                file=self.out,
                flush=True,
            )

    def summary(self, summary: Summary) -> None:
        for line in summary_lines(summary):
            print(line, file=self.out, flush=True)


@dataclass
class JsonLogPrinter:
    """One JSON object per event on stdout, for log pipelines."""

    out: TextIO = field(default_factory=lambda: sys.stdout)

    def _write(self, record: dict[str, Any]) -> None:
        print(json.dumps(record, ensure_ascii=False), file=self.out, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, FileStarted):
            self._write(
                {
                    "event": "file_started",
                    "source": str(event.source.path),
                    "key": event.key,
                    "encoding": event.encoding.encoding,
                    "size": event.source.size,
                }
            )
        elif isinstance(event, PartUploaded):
            self._write(
                {
                    "event": "part_uploaded",
                    "source": str(event.source.path),
                    "part": event.number,
                    "size": event.size,
                }
            )
        elif isinstance(event, FileRestarted):
            self._write({"event": "file_restarted", "source": str(event.source.path), "reason": event.reason})
        elif isinstance(event, FileFinished):
            record = result_entry(event.result)
            self._write({"event": f"file_{event.result.status}", **record})

    def summary(self, summary: Summary) -> None:
        self._write(
            {
                "event": "summary",
                "files": summary.files,
                "uploaded": summary.uploaded,
                "skipped": summary.skipped,
                "failed": summary.failed,
                "bytes_read": summary.bytes_read,
                "bytes_written": summary.bytes_written,
                "seconds": round(summary.seconds, 3),
                "encodings": summary.encodings,
                "failures": summary.failures,
            }
        )
