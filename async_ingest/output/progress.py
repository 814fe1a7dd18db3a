"""Subscribers that turn pipeline events into output: live bars at a terminal (tqdm), plain lines
for logs, or one JSON object per event for log pipelines. The core never prints; the CLI picks one.
"""

from __future__ import annotations

import shutil
import sys
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from async_ingest.events import (
    Event,
    FileFinished,
    FileRestarted,
    FileResult,
    FileStarted,
    ManifestWritten,
    PartUploaded,
    WindowChanged,
)
from async_ingest.output.display import json_safe, json_text, printable
from async_ingest.output.report import Summary, csv_findings, delimiter_name, result_entry
from async_ingest.units import format_size

if TYPE_CHECKING:
    from async_ingest.settings import RunSettings
    from async_ingest.sources.files import SourceFile

PLAIN_PROGRESS_EVERY_S = 5.0  # a long file logs a progress line at most this often (non-terminal)
MAX_FILE_BARS = 12  # more bars than this redraw more than they tell (the total bar says the rest)
RESERVED_ROWS = 4  # the total bar, the line being printed, the prompt: bars never scroll the screen
MIN_KEY_COLUMNS = 16  # a shortened key keeps at least the end of its name
MIN_NAME_COLUMNS = 12
ECHO_COLUMNS = 3  # bars leave these free: ^C echoed after the bar stays on its line
SHORT_FINDING_WORDS = {  # at a terminal, where the line must fit
    "ragged_rows": "ragged",
    "unterminated_quote": "open quote",
    "no_header": "no header",
    "not_csv": "not CSV",
}
FINDING_WORDS = {
    "ragged_rows": "ragged rows",
    "unterminated_quote": "unterminated quote",
    "no_header": "no header",
    "not_csv": "not CSV",
}


class Printer(Protocol):
    def __call__(self, event: Event) -> None: ...

    def summary(self, summary: Summary) -> None: ...

    def close(self) -> None:
        """Stop drawing (bars): whatever is printed next starts on a line of its own. Idempotent:
        the run calls it before the manifest, and the CLI again before its SIGINT/SIGTERM line."""


def json_error_line(message: str) -> str:
    """A configuration error under --log-format json: one JSON object (for stderr), as parseable
    by the log pipeline as every other line of the run."""
    return json_text({"event": "error", "error": json_safe(message)})


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
    """The CSV check in a few words, e.g. `rows=1,234 cols=5 delim=pipe  ragged=3 (lines 17, 40, 52)`."""
    stats = result.csv
    if stats is None:
        return ""
    text = f"  rows={stats.rows:,} cols={stats.columns} delim={delimiter_name(stats.delimiter)}"
    if not stats.header:
        text += "  no header"
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
        return f"FAILED {result.error_line}"
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
        f"{''.join(f'  ({note})' for note in result.notes)}"  # e.g. (resumed: 2 of 3 parts ...)
    )


def columns_of(text: str) -> int:
    """Terminal columns text takes: East Asian wide characters two, combining marks none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text
    )


def keep_end(text: str, width: int) -> str:
    """text in at most width columns, its start replaced by '...' if it must be shortened: the end
    of a path (folder and name) is what tells files apart."""
    if columns_of(text) <= width:
        return text
    kept = ""
    for char in reversed(text):
        if columns_of(kept) + columns_of(char) + 3 > width:
            break
        kept = char + kept
    return ("..." + kept)[-width:] if width < 3 else "..." + kept


def short_line(result: FileResult, width: int) -> str:
    """At a terminal, one line of at most width columns (it never wraps): name, encoding, size,
    rows, CSV findings, then the key; the name and the key shortened from the left (their ends tell
    files apart). printable() already applied."""
    name = printable(result.source.location)
    key = printable(f"s3://{result.bucket}/{result.key}")  # shortened from the left: the bucket goes first
    if result.status == "skipped":
        facts = ["skipped (already uploaded)"]
    else:
        info = result.encoding
        facts = [info.encoding if info else "?", format_size(result.bytes_read)]
        if result.replacements:
            facts.append(f"{result.replacements} replaced")
        if result.csv is not None:
            facts.append(f"{result.csv.rows:,} rows")
            facts += [SHORT_FINDING_WORDS[found] for found in csv_findings(result.csv)]
    middle = "  " + "  ".join(facts) + "  -> "
    line = name + middle + key
    if columns_of(line) <= width:
        return line
    room = width - columns_of(middle)  # for the name and the key
    if room < MIN_NAME_COLUMNS + MIN_KEY_COLUMNS:  # narrow: no key, the name and the facts
        facts_only = middle.removesuffix("  -> ")
        return keep_start(
            keep_end(name, max(MIN_NAME_COLUMNS, width - columns_of(facts_only))) + facts_only, width
        )
    # The name gets three fifths (all it needs if the key is short), the key the rest: the key's
    # end mostly repeats the name, its start holds the template's folders.
    name = keep_end(name, max(room - columns_of(key), room * 3 // 5))
    return name + middle + keep_end(key, room - columns_of(name))


def keep_start(text: str, width: int) -> str:
    """text in at most width columns, cut at the right."""
    kept = ""
    for char in text:
        if columns_of(kept) + columns_of(char) > width:
            break
        kept += char
    return kept


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


def csv_summary(summary: Summary) -> str:
    """e.g. `40 file(s) with findings: 40 unterminated quote, 2 ragged rows` (a file may have several)."""
    found = ", ".join(f"{count} {FINDING_WORDS[name]}" for name, count in summary.csv_findings.items())
    return f"{summary.csv_flagged} file(s) with findings: {found}"


def summary_lines(summary: Summary) -> list[str]:
    if summary.planned or summary.dry_run:
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
    if summary.csv_flagged:
        rows.append(["csv check", csv_summary(summary)])
    lines = [f"{name:<11} {value}" for name, value in rows]
    lines += [f"failed      {reason}" for reason in summary.failures]
    return ["summary", *lines]


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
            self._print(f"manifest s3://{event.bucket}/{event.key}")
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
        for line in summary_lines(summary):
            self._print(line)


def _bar_class() -> Any:
    """tqdm, showing sizes and rates as the summary does (format_size: KiB, MiB/s), not tqdm's
    own 'MB/s' for the same 1024-based numbers."""
    from tqdm import tqdm  # only at a terminal: logs and containers never pay for it

    class SizeBar(tqdm):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            screen: Any = self.dynamic_ncols  # tqdm replaces its flag by a function of the stream
            if screen:  # a few columns short of the width: the terminal's ^C echo fits after the bar

                def narrower(fp: Any) -> tuple[int | None, int | None]:
                    columns, rows = screen(fp)
                    return (columns - ECHO_COLUMNS if columns else columns), rows

                self.dynamic_ncols = narrower  # type: ignore[assignment]

        @property
        def format_dict(self) -> dict[str, Any]:
            found = dict(super().format_dict)
            rate = found.get("rate")
            if rate is None and found["elapsed"] > 0:
                rate = found["n"] / found["elapsed"]
            found["done_size"] = format_size(found["n"])
            found["total_size"] = format_size(found["total"] or 0)
            found["rate_size"] = f"{format_size(rate)}/s" if rate else "? B/s"
            return found

    return SizeBar


BAR_FORMAT = (
    "{desc}: {percentage:3.0f}%|{bar}| {done_size} / {total_size} [{elapsed}<{remaining}, {rate_size}]"
)
STREAM_FORMAT = "{desc}: {done_size} [{elapsed}, {rate_size}]"  # standard input: no size known


class TerminalProgress(PlainPrinter):
    """At a terminal: a total bar (bytes, throughput, ETA) and a bar for each multipart file in
    flight, as many as the terminal's rows leave room for; a one-part file is one line when done.
    Finished files' lines fit the terminal's width (the full line is in piped output and logs)."""

    def __init__(self, total_bytes: int, total_files: int) -> None:
        super().__init__(total_files=total_files, total_bytes=total_bytes)
        self._tqdm = _bar_class()
        self._total = self._tqdm(
            total=total_bytes, position=0, desc=f"total ({total_files} files)", dynamic_ncols=True,
            leave=True, bar_format=BAR_FORMAT,
        )  # fmt: skip
        self._bars: dict[str, Any] = {}
        self._done: dict[str, int] = {}  # source bytes counted in the total bar, per file in flight

    def __call__(self, event: Event) -> None:
        if isinstance(event, FileStarted):
            self._done[event.source.location] = 0
        elif isinstance(event, PartUploaded):
            self._part(event)
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
            super().__call__(event)  # a restart or manifest line, printed through tqdm.write

    def _part(self, event: PartUploaded) -> None:
        path, size = event.source.location, event.source.size
        position = min(event.source_bytes_read, size) if size else event.source_bytes_read
        # A bar only once a part has gone and more is to come: a file of one part (most of a folder
        # of small files) would sit at 0% until done, then vanish.
        if path not in self._bars and (not size or position < size) and len(self._bars) < self._bar_room():
            self._bars[path] = self._tqdm(
                total=size or None, desc=keep_end(printable(event.source.file_name), 30), leave=False,
                dynamic_ncols=True, bar_format=BAR_FORMAT if size else STREAM_FORMAT,
            )  # fmt: skip
            self._bars[path].update(self._done.get(path, 0))
        self._advance(path, position)

    @staticmethod
    def _bar_room() -> int:
        rows = shutil.get_terminal_size().lines
        return max(0, min(MAX_FILE_BARS, rows - RESERVED_ROWS))

    def _advance(self, path: str, position: int) -> None:
        if path not in self._done:
            return
        step = position - self._done[path]
        if step > 0:
            self._done[path] = position
            if path in self._bars:
                self._bars[path].update(step)
            self._total.update(step)

    def _finished(self, result: FileResult) -> None:
        if result.status in ("uploaded", "skipped") and not self.quiet:
            self._write(short_line(result, shutil.get_terminal_size().columns), error=False)
        else:
            super()._finished(result)

    def _overall(self) -> None:
        """The total bar says it."""

    def close(self) -> None:
        """Every bar closed, the total last (it stays on screen): anything printed later starts on
        a new line, and no bar is drawn again below it. Closing twice does nothing."""
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
        self._done.clear()
        self._total.close()

    def _print(self, line: str, *, error: bool = False) -> None:
        self._write(printable(line), error=error)

    def _write(self, line: str, *, error: bool) -> None:
        if self._total.disable:  # closed: tqdm.write would clear and redraw bars that are gone
            print(line, file=self.err if error else self.out, flush=True)
        else:
            self._tqdm.write(line, file=self.err if error else self.out)

    def summary(self, summary: Summary) -> None:
        self.close()
        super().summary(summary)


@dataclass
class JsonLogPrinter:
    """One JSON object per event on stdout, for log pipelines; a failed file's `FAILED <file>:
    <cause>` line also on stderr, as in text mode (the exit-code contract: one line per failure)."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
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
            self._finished(event.result)
        elif isinstance(event, WindowChanged):
            self._write({"event": "parts_in_flight", "window": event.window, "sending": event.sending})
        elif isinstance(event, ManifestWritten):
            self._write(
                {"event": "manifest", "key": event.key, "run_id": event.run_id, "bucket": event.bucket}
            )

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
        return TerminalProgress(sum(s.size for s in sources), len(sources))
    return PlainPrinter(
        quiet=settings.quiet,
        every_s=settings.progress_interval,
        total_files=len(sources),
        total_bytes=sum(s.size for s in sources),
    )
