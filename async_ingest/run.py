"""One run, end to end, for both front ends (the command line and the Python API): list the
sources, check where the run writes, open S3 (or the embedded server), schedule the files, write
the run manifest and the report, and hand back a RunResult. It emits events to the printer it is
given and never prints itself; what is wrong before any upload is raised as ConfigError."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as dt
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from async_ingest.events import (
    Event,
    FileFinished,
    FileQueued,
    FileRestarted,
    FileResult,
    ManifestSkipped,
    ManifestWritten,
    Status,
)
from async_ingest.keys import collision_message, key_collisions
from async_ingest.local_mode import run_local
from async_ingest.outcome import ConfigError, Output, RunResult, Spelling
from async_ingest.output.display import printable
from async_ingest.output.lines import keep_end
from async_ingest.output.manifest import (
    MANIFEST_CONTENT_TYPE,
    MANIFEST_PART,
    in_parts,
    manifest_chunks,
    manifest_key,
    new_run_id,
)
from async_ingest.output.progress import Printer
from async_ingest.output.report import (
    ReportPathError,
    Summary,
    check_report_path,
    summarise,
    summary_entry,
    write_report,
)
from async_ingest.pipeline.identity import key_plan
from async_ingest.pipeline.resume import may_take_parts
from async_ingest.pipeline.scheduler import ingest_all
from async_ingest.s3.model import S3Error
from async_ingest.settings import RunSettings
from async_ingest.sources.files import SourceFile
from async_ingest.sources.stdin import STDIN, stdin_source
from async_ingest.sources.walk import SourceError, Unreadable, find_sources
from async_ingest.subscribers import LOGGING, beside
from async_ingest.units import format_size

EXIT_OK = 0  # every file landed or was skipped as unchanged
EXIT_FAILED = 1  # at least one file failed (the others still landed), or the manifest/report did
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD = 1024 * 1024
T = TypeVar("T")


async def list_sources(settings: RunSettings) -> tuple[list[SourceFile], list[Unreadable]]:
    """This worker's files, and the folders that could not be read (every worker reports those:
    any of them may have held files of its share). The folders are walked on a thread of their own:
    a long listing (a huge folder, a slow network mount) leaves the event loop free to take Ctrl-C
    and SIGTERM, and is told to stop when the run is cancelled."""
    unreadable: list[Unreadable] = []
    files = [source for source in settings.sources if str(source) != STDIN]
    sources: list[SourceFile] = [stdin_source(settings.stdin_name)] if settings.stdin_name else []
    stop = threading.Event()

    def listing() -> list[SourceFile]:
        return find_sources(
            files,
            follow_symlinks=settings.follow_symlinks,
            unreadable=unreadable,
            filters=settings.filters,
            stop=stop,
        )

    try:
        sources += await in_daemon_thread(listing) if files else []
    except SourceError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        stop.set()  # cancelled: the walk ends at its next entry, whoever waits for it or not
    refuse_key_collisions(sources, settings)  # over the whole listing: two shards would collide too
    if settings.shard is not None:
        sources = [s for s in sources if settings.shard.owns(s)]
    return sources, unreadable


async def in_daemon_thread(work: Callable[[], T]) -> T:
    """work() on a daemon thread, awaited. Not asyncio.to_thread: asyncio.run waits for the default
    executor's threads on the way out, so a listing stuck in a slow mount would hold up the exit
    after Ctrl-C; nothing waits for a daemon thread."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # cancelled meanwhile: nobody wants the result
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = work(), None
        except BaseException as exc:  # handed to the awaiting task, raised there
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="async-ingest-listing", daemon=True).start()
    return await future


def refuse_key_collisions(sources: list[SourceFile], settings: RunSettings) -> None:
    """Two sources on one key would both be reported uploaded, the bucket holding only one."""
    plan = key_plan(sources, settings.ingest)  # made as it is read: 100,000 keys never held at once
    collisions = key_collisions((source.location, key) for source, key in plan)
    if collisions:
        raise ConfigError(collision_message(collisions, settings.ingest.key_template))


def check_paths(settings: RunSettings) -> None:
    """Where the run will write locally, checked before any upload (not found out at the end)."""
    if settings.report is not None:
        try:
            check_report_path(settings.report)
        except ReportPathError as exc:  # option and value apart: ConfigError.option is "report"
            raise ConfigError(exc.reason, option="report", value=str(exc.path)) from None
    if settings.local:
        _check_local_dir(settings.local_dir)


def _check_local_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(f"{{opt:local_dir}} {path}: cannot write there: {exc.strerror or exc}") from None


def unreadable_results(
    unreadable: list[Unreadable], settings: RunSettings, printer: Printer
) -> list[FileResult]:
    """Folders that could not be read, as failed sources: in the output, the report and exit 1."""
    results = []
    for item in unreadable:
        where = SourceFile(str(item.path), "", 0, 0)
        result = FileResult(where, settings.ingest.bucket, "", Status.FAILED, error=item.cause)
        printer(FileQueued(where, ""))  # a subscriber sees every source queued, then done
        printer(FileFinished(result))
        results.append(result)
    return results


def save_report(
    settings: RunSettings,
    results: list[FileResult],
    summary: Summary,
    manifest_key: str | None = None,
    run_id: str | None = None,
) -> str | None:
    """The report, once the uploads are done: the error if it cannot be written (the run fails)."""
    if settings.report is None:
        return None
    try:
        write_report(settings.report, results, summary, manifest_key=manifest_key, run_id=run_id)
    except ReportPathError as exc:
        return f"async-ingest: error: {printable(settings.spelling(str(exc)))}"
    return None


class SpelledErrors:
    """The run's printer, behind which each failed file's error (and a file's notes, why it starts
    again, why no manifest was written) gets the front end's words for the options it names (lower
    modules write {opt:...} marks: settings.spelling). Said once, on the FileResult itself, before
    any printer, the logger or a subscriber sees it: the results handed back, the report and the
    manifest read the same text."""

    def __init__(self, printer: Printer, spelling: Spelling) -> None:
        self.printer = printer
        self.spelling = spelling

    def __call__(self, event: Event) -> None:
        if isinstance(event, FileFinished):
            result = event.result
            if result.error:
                result.error = self.spelling(result.error)
            if result.notes:
                result.notes = tuple(self.spelling(note) for note in result.notes)
        elif isinstance(event, FileRestarted):
            event = FileRestarted(event.source, self.spelling(event.reason), event.encoding)
        elif isinstance(event, ManifestSkipped):
            event = ManifestSkipped(self.spelling(event.reason))
        self.printer(event)

    def summary(self, summary: Summary) -> None:
        self.printer.summary(summary)

    def close(self) -> None:
        self.printer.close()


async def execute(settings: RunSettings, output: Output, *, serve: bool | None = None) -> RunResult:
    """One run, from checked settings to its result: the command and the Python API both come here.
    ConfigError (UsageError) for what is found before any upload; per-file failures are in the result.
    serve (with settings.local): keep the embedded server answering after the run, until SIGINT or
    SIGTERM (or cancellation), then stop it; the result is the run's."""
    check_paths(settings)
    sources, unreadable = await list_sources(settings)
    if settings.local:
        keep = settings.serve if serve is None else serve
        return await run_local(
            settings, lambda local: _ingest(local, sources, unreadable, output), output, serve=keep
        )
    return await _ingest(settings, sources, unreadable, output)


async def _ingest(
    settings: RunSettings, sources: list[SourceFile], unreadable: list[Unreadable], output: Output
) -> RunResult:
    started = time.monotonic()
    started_at = dt.datetime.now(dt.UTC)
    errors: list[str] = []
    written: str | None = None
    run_id: str | None = None
    printer: Printer = SpelledErrors(  # and the `async_ingest` logger
        beside(output.printer(settings, sources), LOGGING), settings.spelling
    )
    failed = unreadable_results(unreadable, settings, printer)
    if settings.ingest.dry_run:
        results = await _plan(settings, sources, output, printer)
    else:
        # Imported here: botocore, aiohttp and the CRT cost ~0.4 s of CPU that a dry run never needs.
        from async_ingest.s3.client import open_s3

        try:
            watch = printer if settings.verbose else None  # --verbose: an event per request
            async with open_s3(settings.connection, settings.bwlimit, watch) as (s3, region):
                await s3.ensure_bucket(settings.ingest.bucket, region, create=settings.create_bucket)
                results = await ingest_all(sources, settings.ingest, s3, printer)
                printer.close()  # bars first: the listing must start on its own line, below them
                if settings.manifest_key is not None and not _manifest_wanted(settings, failed + results):
                    printer(ManifestSkipped(settings.spelling(NOTHING_UPLOADED)))
                elif settings.manifest_key is not None:
                    written, run_id = await _write_manifest(
                        s3, settings, failed + results, started_at, output, printer
                    )
                    if written is None:
                        errors.append("the run manifest could not be written")
                if settings.local and not settings.quiet and settings.log_format == "text":
                    await _list_bucket(s3, settings.ingest.bucket, output)
        except S3Error as exc:
            printer.close()
            raise ConfigError(str(exc)) from None  # pre-flight: nothing was uploaded
    results = failed + results
    summary = summarise(results, time.monotonic() - started)
    summary.dry_run = settings.ingest.dry_run  # an empty share of --shard is still a plan: 0 planned
    printer.summary(summary)
    report_error = save_report(settings, results, summary, written, run_id)
    if report_error is not None:
        output.warn(report_error)
        errors.append(report_error.removeprefix("async-ingest: error: "))
    return RunResult(
        summary=summary_entry(summary),
        results=results,
        exit_code=EXIT_FAILED if summary.failed or errors else EXIT_OK,
        errors=errors,
        manifest_key=written,
    )


# Said instead of a manifest's key when a run changed nothing (a re-run that skipped every file).
NOTHING_UPLOADED = "nothing uploaded and nothing failed; {opt:manifest_always} writes one"
# The checks of the options (validate.py) name the bucket so when a dry run is given none: nothing
# to look in.
NO_BUCKET = "dry-run"


def _manifest_wanted(settings: RunSettings, results: list[FileResult]) -> bool:
    """A manifest tells the downstream job what a run landed: one that uploaded nothing and failed
    nothing (every file skipped as already there) would only set it going again on the same data."""
    if settings.manifest_always:
        return True
    return any(result.status in (Status.UPLOADED, Status.FAILED) for result in results)


async def _plan(
    settings: RunSettings, sources: list[SourceFile], output: Output, printer: Printer
) -> list[FileResult]:
    """--dry-run. A file that would go in parts has its key's unfinished uploads looked for (read
    only), since the run would resume (--resume) or abort them: S3 is opened only when there is
    such a file, so a dry run of small files, or without a bucket, still sends nothing (and never
    loads botocore). If S3 cannot be opened, the plan is shown all the same, with one warning."""
    if settings.ingest.bucket == NO_BUCKET or not any(may_take_parts(s, settings.ingest) for s in sources):
        return await ingest_all(sources, settings.ingest, None, printer)
    from async_ingest.s3.client import open_s3

    async with contextlib.AsyncExitStack() as stack:
        s3 = None
        watch = printer if settings.verbose else None
        try:
            s3, _ = await stack.enter_async_context(open_s3(settings.connection, None, watch))
        except S3Error as exc:
            cause = printable(settings.spelling(str(exc)))
            output.warn(f"async-ingest: warning: unfinished uploads not looked for: {cause}")
        return await ingest_all(sources, settings.ingest, s3, printer)
    raise AssertionError("unreachable")  # mypy: AsyncExitStack may swallow exceptions


async def _write_manifest(
    s3: Any, settings: RunSettings, results: list[Any], started: dt.datetime, output: Output, printer: Printer
) -> tuple[str | None, str]:
    """The run manifest, once every file has landed or failed (its appearance tells the downstream
    job the run is over): its key (None, with one error line, when it cannot be written) and the
    run id. The printers name it (ManifestWritten: a text line, a JSON event)."""
    assert settings.manifest_key is not None
    run_id = new_run_id(started)
    key = manifest_key(settings.manifest_key, settings.ingest.date, run_id)
    chunks = manifest_chunks(results, run_id, settings.ingest.bucket, started, dt.datetime.now(dt.UTC))
    parts = in_parts(chunks, MANIFEST_PART)
    try:
        await s3.put_in_parts(
            settings.ingest.bucket, key, parts, MANIFEST_PART, {"ContentType": MANIFEST_CONTENT_TYPE}
        )
    except S3Error as exc:
        output.warn(f"FAILED manifest s3://{settings.ingest.bucket}/{key}: {settings.spelling(str(exc))}")
        return None, run_id
    printer(ManifestWritten(bucket=settings.ingest.bucket, key=key, run_id=run_id))
    return key, run_id


async def _list_bucket(s3: Any, bucket: str, output: Output) -> None:
    objects = await s3.list_objects(bucket)
    output.say(f"s3://{bucket} now holds {len(objects)} object(s):")
    width = output.columns()
    for item in objects:
        url = printable(f"s3://{bucket}/{item['Key']}")
        if width is not None:  # a terminal: the key's end (the name) kept, the line never wraps
            url = keep_end(url, max(width - 14, 16))
        output.say(f"  {format_size(item['Size']):>10}  {url}")


def drop_connection_noise(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """aiohttp leaves the task writing a request body unretrieved when the connection drops before
    the server's '100 Continue': asyncio would print its traceback, though the request itself failed
    cleanly (and was retried). Every other unhandled error is reported as usual."""
    if isinstance(context.get("exception"), OSError) and "never retrieved" in context.get("message", ""):
        return
    loop.default_exception_handler(context)


def tune_allocator() -> None:
    """Serve part-sized buffers straight from mmap and give them back on free.

    glibc raises its mmap threshold after the first large free, so later 8 MiB buffers come from
    per-thread heaps that fragment and are not returned: measured here, RSS grew to 2-3x the part
    buffers in flight and the kernel time tripled. A fixed threshold keeps RSS at what is in use.
    """
    if sys.platform != "linux" or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc (e.g. musl): nothing to tune
    libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
