"""Live bars at a terminal (tqdm): a total bar and one per multipart file in flight; finished
files' lines fit the terminal's width. Built on the plain printer (progress.py), which prints the
rest (restarts, the manifest, failures, the summary)."""

from __future__ import annotations

import shutil
from typing import Any

from async_ingest.events import Event, FileFinished, FileResult, FileStarted, PartSending, PartUploaded
from async_ingest.output.display import printable
from async_ingest.output.lines import keep_end, short_line
from async_ingest.output.progress import PlainPrinter
from async_ingest.output.report import Summary
from async_ingest.sources.files import SourceFile
from async_ingest.units import format_size

MAX_FILE_BARS = 12  # more bars than this redraw more than they tell (the total bar says the rest)
RESERVED_ROWS = 4  # the total bar, the line being printed, the prompt: bars never scroll the screen
ECHO_COLUMNS = 3  # bars leave these free: ^C echoed after the bar stays on its line


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
            if found.get("bar_format") == BAR_FORMAT and (found.get("ncols") or NARROW_BELOW) < NARROW_BELOW:
                found["bar_format"] = NARROW_FORMAT  # what fits: the times go, the sizes and rate stay
            return found

    return SizeBar


BAR_FORMAT = (
    "{desc}: {percentage:3.0f}%|{bar}| {done_size} / {total_size} [{elapsed}<{remaining}, {rate_size}]"
)
STREAM_FORMAT = "{desc}: {done_size} [{elapsed}, {rate_size}]"  # standard input: no size known
NARROW_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {done_size} {rate_size}"
NARROW_BELOW = 78  # columns: below this the full format has no room left for the bar itself


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
        # Bytes going out, per file in flight: each part's source bytes sent so far (the most any
        # attempt reached: a retried part never counts twice; a landed part counts whole), their
        # sum, and where the reader stood at the last part landed. The bars show the larger.
        self._sent: dict[str, dict[int, tuple[int, int]]] = {}  # part -> (source bytes sent, of span)
        self._sent_sum: dict[str, int] = {}
        self._landed: dict[str, int] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, FileStarted):
            self._done[event.source.location] = 0
        elif isinstance(event, PartSending):
            self._sending(event)
        elif isinstance(event, PartUploaded):
            self._part(event)
        elif isinstance(event, FileFinished):
            path = event.result.source.location
            self._advance(path, event.result.source.size)
            bar = self._bars.pop(path, None)
            if bar is not None:
                bar.close()
            for state in (self._done, self._sent, self._sent_sum, self._landed):
                state.pop(path, None)
            if event.result.status != "uploaded":
                self._total.update(event.result.source.size)
            self._finished(event.result)
        else:
            super().__call__(event)  # a restart or manifest line, printed through tqdm.write

    def _sending(self, event: PartSending) -> None:
        """Part of a part's body went out: its source bytes in proportion (a transcoded part's UTF-8
        size differs from its share of the source), never less than an earlier attempt reached."""
        path = event.source.location
        if path not in self._done:
            return
        share = event.source_bytes * min(event.sent, event.size) // event.size if event.size else 0
        self._credit(path, event.number, share, event.source_bytes)
        position = self._position(path, event.source.size)
        if event.number > 1:  # a second part: a multipart file, worth a bar (see _part)
            self._bar(event.source)
        self._advance(path, position)

    def _credit(self, path: str, number: int, share: int, span: int) -> None:
        parts = self._sent.setdefault(path, {})
        before, _ = parts.get(number, (0, span))
        if share > before:
            parts[number] = (share, span)
            self._sent_sum[path] = self._sent_sum.get(path, 0) + share - before

    def _position(self, path: str, size: int | None = None) -> int:
        """Source bytes to show for a file: its parts' bytes sent, or the reader's position at the
        last part landed, whichever is further; never past the file's size."""
        position = max(self._sent_sum.get(path, 0), self._landed.get(path, 0))
        return min(position, size) if size else position

    def _part(self, event: PartUploaded) -> None:
        path, size = event.source.location, event.source.size
        if event.source_bytes:  # it landed whole, whatever its last report said
            self._credit(path, event.number, event.source_bytes, event.source_bytes)
        else:  # its share unknown: where the reader stood (ahead of what landed, when it reads ahead)
            self._landed[path] = max(self._landed.get(path, 0), event.source_bytes_read)
        position = self._position(path, size)
        # A bar only once a part has gone and more is to come: a file of one part (most of a folder
        # of small files) would sit at 0% until done, then vanish.
        if not size or position < size:
            self._bar(event.source)
        self._advance(path, position)

    def _bar(self, source: SourceFile) -> None:
        """The file's own bar, if it has none and the terminal has room for one more."""
        path, size = source.location, source.size
        if path in self._bars or len(self._bars) >= self._bar_room():
            return
        self._bars[path] = self._tqdm(
            total=size or None, desc=keep_end(printable(source.file_name), 30), leave=False,
            dynamic_ncols=True, bar_format=BAR_FORMAT if size else STREAM_FORMAT,
        )  # fmt: skip
        self._bars[path].update(self._done.get(path, 0))

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

    def width(self) -> int | None:
        return shutil.get_terminal_size().columns
