"""Subscribers that turn pipeline events into output: live bars at a terminal (tqdm), plain lines
for logs, or one JSON object per event for log pipelines. The core never prints; the CLI picks one.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from async_ingest.events import (
    Event,
    FileFinished,
    FileRestarted,
    FileResult,
    FileStarted,
    PartUploaded,
    WindowChanged,
)
from async_ingest.output.display import json_safe, json_text, printable
from async_ingest.output.report import Summary, result_entry
from async_ingest.units import format_size

PLAIN_PROGRESS_EVERY_S = 5.0  # a long file logs a progress line at most this often (non-terminal)


class Printer(Protocol):
    def __call__(self, event: Event) -> None: ...

    def summary(self, summary: Summary) -> None: ...

    def close(self) -> None:
        """Stop drawing (bars): whatever is printed next starts on a line of its own."""


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


def describe_checksum(result: FileResult) -> str:
    """The checksum S3 stores, as a downstream check would compare it: crc64nvme=BASE64."""
    stored = result.checksum
    return f"  {stored.algorithm.lower()}={stored.value}" if stored else ""


def describe_csv(result: FileResult) -> str:
    """The CSV check in a few words, e.g. `rows=1,234 cols=5 delim='|'  ragged=3 (lines 17, 40, 52)`."""
    stats = result.csv
    if stats is None:
        return ""
    text = f"  rows={stats.rows:,} cols={stats.columns} delim={stats.delimiter!r}"
    if stats.not_csv:
        text += f"  not CSV? {stats.not_csv}"
    if stats.ragged_rows:
        more = ", ..." if stats.ragged_rows > len(stats.first_ragged_lines) else ""
        lines = ", ".join(map(str, stats.first_ragged_lines))
        text += f"  ragged={stats.ragged_rows:,} (lines {lines}{more})"
    if stats.unterminated_quote_line is not None:
        text += f"  unterminated quote (line {stats.unterminated_quote_line})"
    return text


def file_line(result: FileResult) -> str:
    target = f"s3://{result.bucket}/{result.key}"
    if result.status == "failed":
        return f"FAILED {result.error}"
    if result.status == "skipped":
        return (
            f"{result.source.location} -> {target}  skipped (already uploaded from this same source)"
            f"{describe_checksum(result)}"
        )
    if result.status == "planned":
        size = format_size(result.source.size)
        return f"{result.source.location} -> {target}  {describe_encoding(result)}  {size}"
    return (
        f"{result.source.location} -> {target}  {describe_encoding(result)}  "
        f"{format_size(result.bytes_read)} -> {format_size(result.bytes_written)}  {result.seconds:.2f} s"
        f"{describe_checksum(result)}"
        f"{describe_csv(result)}"
    )


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return [line, rule, *body]


def plan_table(results: list[FileResult]) -> list[str]:
    """--dry-run: the whole plan at once."""
    rows = []
    for r in results:
        info = r.encoding
        rows.append(
            [
                printable(r.source.location),
                format_size(r.source.size),
                info.encoding if info else "-",
                info.method if info else "-",
                f"{info.confidence:.2f}" if info else "-",
                printable(f"s3://{r.bucket}/{r.key}" if r.status == "planned" else f"FAILED: {r.error}"),
            ]
        )
    return table(["source", "size", "encoding", "how", "confidence", "target"], rows)


def summary_lines(summary: Summary) -> list[str]:
    if summary.planned:
        return [f"{summary.planned} file(s) planned (dry run, nothing written); {summary.failed} failed"]
    encodings = ", ".join(f"{k} x{v}" for k, v in summary.encodings.items()) or "-"
    counts = f"{summary.uploaded} uploaded, {summary.skipped} skipped, {summary.failed} failed"
    rows = [
        ["files", f"{summary.files} ({counts})"],
        ["read", format_size(summary.bytes_read)],
        ["written", format_size(summary.bytes_written)],
        ["encodings", encodings],
        ["seconds", f"{summary.seconds:.2f}"],
        ["throughput", f"{format_size(summary.throughput)}/s"],
    ]
    if summary.replacements:
        rows.append(["replaced", f"{summary.replacements} undecodable sequence(s) -> U+FFFD"])
    lines = [f"{name:<11} {value}" for name, value in rows]
    lines += [f"failed      {reason}" for reason in summary.failures]
    return ["summary", *lines]


@dataclass
class PlainPrinter:
    """For logs and pipes: one line per finished file, failures on stderr, and for long files a
    progress line at most every few seconds. Quiet: failures and the summary only."""

    quiet: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    every_s: float = PLAIN_PROGRESS_EVERY_S
    _last_progress: dict[str, float] = field(default_factory=dict)
    _planned: list[FileResult] = field(default_factory=list)

    def _print(self, line: str, *, error: bool = False) -> None:
        # Every line holds a file name or a message quoting one: escaped, so a name can neither
        # split a line (forging another) nor send control sequences to the terminal.
        print(printable(line), file=self.err if error else self.out, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, FileFinished):
            self._finished(event.result)
        elif self.quiet:
            return
        elif isinstance(event, FileStarted):
            self._last_progress[event.source.location] = time.monotonic()
        elif isinstance(event, PartUploaded):
            self._progress(event)
        elif isinstance(event, FileRestarted):
            self._print(
                f"{event.source.location}: {event.reason}; starting again as {event.encoding.encoding}"
            )

    def _finished(self, result: FileResult) -> None:
        self._last_progress.pop(result.source.location, None)
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

    def close(self) -> None:
        """Nothing is drawn: lines only."""

    def summary(self, summary: Summary) -> None:
        if self._planned and not self.quiet:
            for line in plan_table(self._planned):
                self._print(line)
        for line in summary_lines(summary):
            self._print(line)


class TerminalProgress(PlainPrinter):
    """At a terminal: a live bar per file in flight and a total bar (bytes, throughput, ETA)."""

    def __init__(self, total_bytes: int, total_files: int) -> None:
        super().__init__()
        from tqdm import tqdm  # only at a terminal: logs and containers never pay for it

        self._tqdm = tqdm
        self._total = tqdm(
            total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, position=0,
            desc=f"total ({total_files} files)", dynamic_ncols=True, leave=True,
        )  # fmt: skip
        self._bars: dict[str, Any] = {}
        self._done: dict[str, int] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, FileStarted):
            self._bars[event.source.location] = self._tqdm(
                total=event.source.size, unit="B", unit_scale=True, unit_divisor=1024,
                desc=printable(event.source.file_name)[-30:], leave=False, dynamic_ncols=True,
            )  # fmt: skip
            self._done[event.source.location] = 0
        elif isinstance(event, PartUploaded):
            self._advance(event.source.location, min(event.source_bytes_read, event.source.size))
        elif isinstance(event, FileFinished):
            path = event.result.source.location
            self._advance(path, event.result.source.size)
            bar = self._bars.pop(path, None)
            if bar is not None:
                bar.close()
            self._done.pop(path, None)
            if event.result.status != "uploaded":
                self._total.update(event.result.source.size)
            self._finished(event.result)
        else:
            super().__call__(event)  # a restart line, printed through tqdm.write

    def _advance(self, path: str, position: int) -> None:
        if path not in self._done:
            return
        step = position - self._done[path]
        if step > 0:
            self._done[path] = position
            self._bars[path].update(step)
            self._total.update(step)

    def close(self) -> None:
        """Every bar closed, the total last (it stays on screen): anything printed later starts on
        a new line, and no bar is drawn again below it. Closing twice does nothing."""
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
        self._done.clear()
        self._total.close()

    def _print(self, line: str, *, error: bool = False) -> None:
        if self._total.disable:  # closed: tqdm.write would clear and redraw bars that are gone
            print(printable(line), file=self.err if error else self.out, flush=True)
        else:
            self._tqdm.write(printable(line), file=self.err if error else self.out)

    def summary(self, summary: Summary) -> None:
        self.close()
        super().summary(summary)


@dataclass
class JsonLogPrinter:
    """One JSON object per event on stdout, for log pipelines."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    started: float = field(default_factory=time.monotonic)

    def _write(self, record: dict[str, Any]) -> None:
        record["t"] = round(time.monotonic() - self.started, 3)  # seconds since start: rates from logs
        print(json_text(record), file=self.out, flush=True)

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
            record = result_entry(event.result)
            self._write({"event": f"file_{event.result.status}", **record})
        elif isinstance(event, WindowChanged):
            self._write({"event": "parts_in_flight", "window": event.window, "sending": event.sending})

    def close(self) -> None:
        """Nothing is drawn: lines only."""

    def summary(self, summary: Summary) -> None:
        self._write(
            {"event": "summary", "files": summary.files, "uploaded": summary.uploaded,
             "skipped": summary.skipped, "failed": summary.failed, "planned": summary.planned,
             "bytes_read": summary.bytes_read, "bytes_written": summary.bytes_written,
             "seconds": round(summary.seconds, 3), "encodings": summary.encodings,
             "failures": summary.failures}
        )  # fmt: skip
