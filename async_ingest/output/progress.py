"""Printers that turn pipeline events into output: plain lines for logs and pipes, or one JSON
object per event for log pipelines; live bars at a terminal are bars.py's. The core never prints;
default_printer picks one. The lines' words are lines.py's.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from async_ingest.events import (
    Event,
    FileFinished,
    FileRestarted,
    FileResult,
    FileStarted,
    ManifestSkipped,
    ManifestWritten,
    PartSending,
    PartUploaded,
    RequestDone,
    RequestRetried,
    WindowChanged,
)
from async_ingest.output.display import json_safe, json_text, printable
from async_ingest.output.lines import file_line, manifest_line, plan_table, summary_lines
from async_ingest.output.report import Summary, result_entry
from async_ingest.output.requests import request_line, request_record
from async_ingest.units import format_size

if TYPE_CHECKING:
    from async_ingest.settings import RunSettings
    from async_ingest.sources.files import SourceFile

PLAIN_PROGRESS_EVERY_S = 5.0  # a long file logs a progress line at most this often (non-terminal)


class Printer(Protocol):
    def __call__(self, event: Event) -> None: ...

    def summary(self, summary: Summary) -> None: ...

    def close(self) -> None:
        """Stop drawing (bars): whatever is printed next starts on a line of its own. Idempotent:
        the run calls it before the manifest, and the CLI again before its SIGINT/SIGTERM line."""


@dataclass
class PlainPrinter:
    """For logs and pipes: one line per finished file, failures on stderr, for long files a
    progress line at most every few seconds, and for runs of several files an overall one as often.
    Quiet: failures and the summary only. total_files/total_bytes: the run's (None: not known)."""

    quiet: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    every_s: float = PLAIN_PROGRESS_EVERY_S
    total_files: int | None = None
    total_bytes: int | None = None
    _last_progress: dict[str, float] = field(default_factory=dict)
    _planned: list[FileResult] = field(default_factory=list)
    _reading: dict[str, int] = field(default_factory=dict)  # source bytes read of each file in flight
    _files_done: int = 0
    _bytes_done: int = 0  # source bytes of the finished files
    _started: float = field(default_factory=time.monotonic)
    _last_overall: float = field(default_factory=time.monotonic)

    def _print(self, line: str, *, error: bool = False) -> None:
        # Every line holds a file name or a message quoting one: escaped, so a name can neither
        # split a line (forging another) nor send control sequences to the terminal.
        print(printable(line), file=self.err if error else self.out, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, RequestDone | RequestRetried):  # --verbose, asked for: even with --quiet
            self._print(request_line(event), error=True)
            return
        if isinstance(event, PartSending):  # the bars' (bars.py): lines and logs count landed parts
            return
        if isinstance(event, FileFinished):
            self._finished(event.result)
        elif self.quiet:
            return
        elif isinstance(event, FileStarted):
            self._last_progress[event.source.location] = time.monotonic()
        elif isinstance(event, PartUploaded):
            self._reading[event.source.location] = min(event.source_bytes_read, event.source.size)
            self._progress(event)
        elif isinstance(event, FileRestarted):
            self._print(
                f"{event.source.location}: {event.reason}; starting again as {event.encoding.encoding}"
            )
        elif isinstance(event, ManifestWritten):
            self._print(manifest_line(f"s3://{event.bucket}/{event.key}", self.width()))
        elif isinstance(event, ManifestSkipped):
            self._print(f"no manifest: {event.reason}")
        self._overall()

    def _finished(self, result: FileResult) -> None:
        self._last_progress.pop(result.source.location, None)
        self._reading.pop(result.source.location, None)
        self._files_done += 1
        self._bytes_done += result.source.size
        if result.status == "failed":
            self._print(file_line(result), error=True)
        elif result.status == "planned":
            self._planned.append(result)
        elif not self.quiet:
            self._print(file_line(result))

    def _progress(self, event: PartUploaded) -> None:
        now = time.monotonic()
        last = self._last_progress.get(event.source.location, now)
        if now - last < self.every_s:
            return
        self._last_progress[event.source.location] = now
        size = event.source.size
        done = min(event.source_bytes_read, size)
        percent = 100 * done / size if size else 100
        self._print(f"{event.source.location}: {format_size(done)} of {format_size(size)} ({percent:.0f}%)")

    def _overall(self) -> None:
        """`progress  12/40 files, 96.0 MiB of 300.0 MiB (32%), 19.2 MiB/s` at most every every_s:
        a log of a long run of many small files shows it moving (a single file has its own line)."""
        now = time.monotonic()
        if self.quiet or self.total_files == 1 or now - self._last_overall < self.every_s:
            return
        if self._files_done == self.total_files:
            return  # the summary follows
        self._last_overall = now
        done = self._bytes_done + sum(self._reading.values())
        files = f"{self._files_done}/{self.total_files}" if self.total_files else f"{self._files_done}"
        size = format_size(done)
        if self.total_bytes:
            size += f" of {format_size(self.total_bytes)} ({100 * done / self.total_bytes:.0f}%)"
        rate = format_size(done / max(now - self._started, 1e-9))
        self._print(f"progress    {files} files, {size}, {rate}/s")

    def close(self) -> None:
        """Nothing is drawn: lines only."""

    def summary(self, summary: Summary) -> None:
        if self._planned and not self.quiet:
            for line in plan_table(self._planned):
                self._print(line)
        for line in summary_lines(summary, self.width()):
            self._print(line)

    def width(self) -> int | None:
        """The terminal's columns when lines must fit it (bars.py); None: piped, lines stay whole."""
        return None


@dataclass
class JsonLogPrinter:
    """One JSON object per event on stdout, for log pipelines; a failed file's `FAILED <file>:
    <cause>` line also on stderr, as in text mode (the exit-code contract: one line per failure)."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    started: float = field(default_factory=time.monotonic)

    def _write(self, record: dict[str, Any], to: TextIO | None = None) -> None:
        record["t"] = round(time.monotonic() - self.started, 3)  # seconds since start: rates from logs
        print(json_text(record), file=to or self.out, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, FileStarted):
            self._write(
                {"event": "file_started", "source": json_safe(event.source.location), "key": event.key,
                 "encoding": event.encoding.encoding, "size": event.source.size}
            )  # fmt: skip
        elif isinstance(event, PartUploaded):
            self._write(
                {"event": "part_uploaded", "source": json_safe(event.source.location),
                 "part": event.number, "size": event.size, "source_bytes_read": event.source_bytes_read}
            )  # fmt: skip
        elif isinstance(event, FileRestarted):
            self._write(
                {
                    "event": "file_restarted",
                    "source": json_safe(event.source.location),
                    "reason": json_safe(event.reason),
                }
            )
        elif isinstance(event, FileFinished):
            self._finished(event.result)
        elif isinstance(event, WindowChanged):
            self._write({"event": "parts_in_flight", "window": event.window, "sending": event.sending})
        elif isinstance(event, ManifestWritten):
            self._write(
                {"event": "manifest", "key": event.key, "run_id": event.run_id, "bucket": event.bucket}
            )
        elif isinstance(event, ManifestSkipped):
            self._write({"event": "manifest_skipped", "reason": event.reason})
        elif isinstance(event, RequestDone | RequestRetried):  # --verbose: on stderr, as in text mode
            self._write(request_record(event), to=self.err)

    def _finished(self, result: FileResult) -> None:
        self._write({"event": f"file_{result.status}", **result_entry(result)})
        if result.status == "failed":
            print(printable(file_line(result)), file=self.err, flush=True)

    def close(self) -> None:
        """Nothing is drawn: lines only."""

    def summary(self, summary: Summary) -> None:
        self._write(
            {"event": "summary", "files": summary.files, "uploaded": summary.uploaded,
             "skipped": summary.skipped, "failed": summary.failed, "planned": summary.planned,
             "bytes_read": summary.bytes_read, "bytes_written": summary.bytes_written,
             "seconds": round(summary.seconds, 3), "encodings": summary.encodings,
             "csv_flagged": summary.csv_flagged, "csv_findings": summary.csv_findings,
             "failures": summary.failures}
        )  # fmt: skip


def default_printer(settings: RunSettings, sources: Sequence[SourceFile]) -> Printer:
    """The command's output, for the command and for the API's progress=True: JSON lines, bars at
    a terminal, or plain lines (with an overall progress line every few seconds when piped)."""
    if settings.log_format == "json":
        return JsonLogPrinter()
    if sys.stdout.isatty() and not settings.quiet and not settings.ingest.dry_run:
        from async_ingest.output.bars import TerminalProgress  # it builds on PlainPrinter, here

        return TerminalProgress(sum(s.size for s in sources), len(sources))
    return PlainPrinter(
        quiet=settings.quiet,
        every_s=settings.progress_interval,
        total_files=len(sources),
        total_bytes=sum(s.size for s in sources),
    )
