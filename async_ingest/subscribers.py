"""Per-file callbacks for a run, in the manner of s3transfer's subscribers, and the `async_ingest`
logger, both beside the run's printers (the command's lines, the JSON log).

    class Counter(BaseSubscriber):
        def on_done(self, result: FileResult) -> None:
            stats[result.status] += 1

    ingest(["exports/"], bucket="datalake", subscriber=Counter())

A subscriber's methods run on the thread of the run's event loop, between uploads: keep them quick
(no blocking I/O). One that raises is logged (ERROR on the `async_ingest` logger, with its
traceback) and the run goes on: a callback's bug never fails an upload.

Every run logs to ``logging.getLogger("async_ingest")``: INFO per file done (uploaded, skipped,
planned), WARNING per failed file, DEBUG when a file is queued and as its parts land; with
``verbose=True`` INFO per S3 request and retry (status, request id, duration). The records
carry ``source``, ``key`` and ``status`` attributes for structured handlers; file names are
escaped (display.printable), and no credential is ever part of a record. The logger has a
NullHandler: nothing is shown until the application configures logging.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from async_ingest.events import (
    Event,
    FileFinished,
    FileQueued,
    FileRestarted,
    FileResult,
    PartUploaded,
    RequestDone,
    RequestRetried,
    Status,
)
from async_ingest.outcome import ConfigError
from async_ingest.output.display import printable
from async_ingest.sources.files import SourceFile

if TYPE_CHECKING:
    from async_ingest.outcome import Output
    from async_ingest.output.progress import Printer
    from async_ingest.output.report import Summary
    from async_ingest.settings import RunSettings

LOGGER_NAME = "async_ingest"
logger = logging.getLogger(LOGGER_NAME)
logger.addHandler(logging.NullHandler())  # a library's logger: silent until the application says


class Subscriber(Protocol):
    """What a run tells about each source. Every source gets on_queued once, then on_done once;
    on_progress in between for each part that lands."""

    def on_queued(self, source: SourceFile, key: str) -> None:
        """A worker took the source on; key is its object key ("" when it cannot be rendered).
        Folders that could not be read come queued and done at once, before the others."""

    def on_progress(self, source: SourceFile, bytes_done: int) -> None:
        """A part landed: bytes_done source bytes are read and sent so far (a running total, not
        an increment). It goes back to 0 when the file starts again (another encoding). Called as
        parts are acknowledged, not as their bytes go out (events.PartSending, which the terminal
        bars follow): bytes sent may still be sent again (a retry), and a landed part is a fact."""

    def on_done(self, result: FileResult) -> None:
        """The source is uploaded, skipped, planned (dry run) or failed: result says which."""


class BaseSubscriber:
    """A Subscriber that does nothing: subclass it and override the calls you need."""

    def on_queued(self, source: SourceFile, key: str) -> None:
        pass

    def on_progress(self, source: SourceFile, bytes_done: int) -> None:
        pass

    def on_done(self, result: FileResult) -> None:
        pass


def _fields(source: SourceFile, key: str, status: str | None = None) -> dict[str, object]:
    return {"source": printable(source.location), "key": printable(key), "status": status}


class LoggingSubscriber:
    """Logs a run to a logger (default: `async_ingest`). Records are built only when their level is
    enabled: a run of 100,000 files with logging off pays a level check per event."""

    def __init__(self, log: logging.Logger = logger) -> None:
        self.log = log

    def on_queued(self, source: SourceFile, key: str) -> None:
        if self.log.isEnabledFor(logging.DEBUG):
            where = printable(source.location)
            self.log.debug("queued %s -> %s", where, printable(key), extra=_fields(source, key))

    def on_progress(self, source: SourceFile, bytes_done: int) -> None:
        if self.log.isEnabledFor(logging.DEBUG):
            where = printable(source.location)
            self.log.debug("%s: %d bytes sent", where, bytes_done, extra=_fields(source, ""))

    def on_done(self, result: FileResult) -> None:
        level = logging.WARNING if result.status == Status.FAILED else logging.INFO
        if not self.log.isEnabledFor(level):
            return
        where = printable(result.source.location)
        extra = _fields(result.source, result.key, str(result.status))
        target = f"s3://{result.bucket}/{printable(result.key)}"
        if result.status == Status.FAILED:
            self.log.warning("failed %s: %s", where, printable(result.error or "failed"), extra=extra)
        elif result.status == Status.UPLOADED:
            size = result.bytes_written
            self.log.info("uploaded %s -> %s (%d bytes)", where, target, size, extra=extra)
        else:
            self.log.info("%s %s -> %s", result.status, where, target, extra=extra)

    def on_request(self, event: RequestDone | RequestRetried) -> None:
        """verbose=True: INFO per S3 request and per retry (asked for, so shown at the level an
        application's logging usually has: DEBUG would also let botocore's own records through, and
        those carry request headers)."""
        if self.log.isEnabledFor(logging.INFO):
            from async_ingest.output.requests import request_line

            self.log.info("%s", printable(request_line(event)), extra={"key": printable(event.key)})


class SubscriberPrinter:
    """A Printer that turns the run's events into a subscriber's calls."""

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber

    def __call__(self, event: Event) -> None:
        try:
            if isinstance(event, PartUploaded):
                self.subscriber.on_progress(event.source, event.source_bytes_read)
            elif isinstance(event, FileQueued):
                self.subscriber.on_queued(event.source, event.key)
            elif isinstance(event, FileRestarted):
                self.subscriber.on_progress(event.source, 0)
            elif isinstance(event, FileFinished):
                self.subscriber.on_done(event.result)
            elif isinstance(event, RequestDone | RequestRetried) and isinstance(
                self.subscriber, LoggingSubscriber
            ):
                self.subscriber.on_request(event)
        except Exception:  # a callback's bug: told, never an upload's failure
            logger.exception("subscriber %r raised on %s", self.subscriber, type(event).__name__)

    def summary(self, summary: Summary) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Tee:
    """Several printers as one: each event, the summary and close() go to each, in order."""

    printers: tuple[Printer, ...]

    def __call__(self, event: Event) -> None:
        for printer in self.printers:
            printer(event)

    def summary(self, summary: Summary) -> None:
        for printer in self.printers:
            printer.summary(summary)

    def close(self) -> None:
        for printer in self.printers:
            printer.close()


def subscriber_printer(subscriber: Subscriber) -> Printer:
    """A Printer for one subscriber. ConfigError (at once, not mid-run) when it lacks one of the
    three calls: subclass BaseSubscriber to implement only some."""
    needed = ("on_queued", "on_progress", "on_done")
    missing = [name for name in needed if not callable(getattr(subscriber, name, None))]
    if missing:
        reason = f"expected a subscriber (lacks {', '.join(missing)}; subclass BaseSubscriber)"
        raise ConfigError(reason, option="subscriber", value=subscriber)
    return SubscriberPrinter(subscriber)


def beside(printer: Printer, *subscribers: Subscriber) -> Printer:
    """printer, and each subscriber, fed the same events."""
    return Tee((printer, *(subscriber_printer(s) for s in subscribers)))


def subscribed(output: Output, subscriber: Subscriber) -> Output:
    """output whose printer also feeds subscriber (the API's ``subscriber=``). Checked at once."""
    extra = subscriber_printer(subscriber)
    make = output.printer

    def printer(settings: RunSettings, sources: list[SourceFile]) -> Printer:
        return Tee((make(settings, sources), extra))

    return replace(output, printer=printer)


LOGGING = LoggingSubscriber()  # every run's printer goes beside it (run.py)
