"""One file's way: its key, its encoding, the re-run check, the upload, a restart (a decode failure
with a better encoding, a resume that does not match). It never raises for a problem of the file:
that becomes a failed FileResult, and the others go on."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from async_ingest.events import (
    FileFinished,
    FileRestarted,
    FileResult,
    FileStarted,
    Status,
)
from async_ingest.keys import InvalidKey
from async_ingest.pipeline.detection import detect_source, encoding_info, redetect
from async_ingest.pipeline.file import upload_stream
from async_ingest.pipeline.identity import object_key
from async_ingest.pipeline.job import FileJob
from async_ingest.pipeline.resume import unfinished_note
from async_ingest.pipeline.skip import already_landed, passes_csv_gate
from async_ingest.s3.checksums import CHECKSUMS
from async_ingest.s3.model import S3Error
from async_ingest.s3.writer import IntegrityError, ResumeMismatch
from async_ingest.settings import IngestSettings
from async_ingest.sources.files import SourceChanged, SourceFile
from async_ingest.sources.stdin import NOT_AGAIN, STDIN_HEAD
from async_ingest.transform.csvcheck import CsvRejected
from async_ingest.transform.detect import UndetectableEncoding
from async_ingest.transform.transcode import DecodeFailure
from async_ingest.units import MiB

if TYPE_CHECKING:
    from async_ingest.pipeline.scheduler import RunContext


async def ingest_file(source: SourceFile, ctx: RunContext, key: str | None = None) -> FileResult:
    """One file, never raising for a problem of that file: failures become a 'failed' result.
    key: its object key when already rendered (None: rendered here, or found invalid here)."""
    started = time.monotonic()
    result = FileResult(source, ctx.settings.bucket, key or "", Status.FAILED)
    try:
        result = await _ingest_file(source, ctx, result)
    except (
        DecodeFailure,
        UndetectableEncoding,
        S3Error,
        SourceChanged,
        IntegrityError,
        ResumeMismatch,
        InvalidKey,
        OSError,
        ValueError,
        CsvRejected,
    ) as exc:
        result.status = Status.FAILED
        result.error = f"{exc}{checksum_hint(exc, ctx.settings)}"  # the path is result.source's
    result.seconds = time.monotonic() - started
    ctx.emit(FileFinished(result))
    return result


async def _unfinished(job: FileJob) -> str | None:
    """--dry-run: what upload_stream would do with the key's unfinished uploads (a stream is never
    resumed: it cannot be read again)."""
    resume = job.settings.resume and job.source.rereadable
    checksum = CHECKSUMS[job.settings.checksum]
    return await unfinished_note(job.s3, job.settings.bucket, job.key, checksum, resume)


# What stores without flexible checksums answer to an x-amz-checksum-* header they do not know.
REFUSED_CHECKSUM_CODES = {"InvalidArgument", "InvalidRequest", "NotImplemented", "BadRequest", "400", "501"}


def checksum_hint(exc: Exception, settings: IngestSettings) -> str:
    """A request refused as invalid while it carried a checksum header: the store may not know the
    header, and --checksum md5 is the way around it."""
    if not isinstance(exc, S3Error) or exc.code not in REFUSED_CHECKSUM_CODES or settings.checksum == "md5":
        return ""
    name = f"x-amz-checksum-{settings.checksum}"
    return f" (this store may not accept the {name} header: use {{opt:checksum=md5}})"


async def _ingest_file(source: SourceFile, ctx: RunContext, result: FileResult) -> FileResult:
    settings, s3, emit = ctx.settings, ctx.s3, ctx.emit
    result.key = result.key or object_key(source, settings)
    detection, fp = await detect_source(source, ctx)
    result.encoding = encoding_info(detection)
    if settings.dry_run or s3 is None:
        result.status = Status.PLANNED
        if s3 is not None:  # a dry run that may read the bucket (run.py): its unfinished uploads
            job = FileJob(source, result.key, detection, fp, settings, s3, ctx.budget, emit)
            in_parts = job.planned_size > job.part_size() or not source.size_known  # as upload_stream
            note = await _unfinished(job) if in_parts else None
            result.notes += (note,) if note else ()
        return result
    job = FileJob(
        source, result.key, detection, fp, settings, s3, ctx.budget, emit, settings.resume, flight=ctx.flight
    )
    job.codecs = ctx.codecs
    # With --on-decode-error replace, a guessed encoding is first tried strictly: a sequence that
    # does not decode more likely means a wrong guess (re-detected below) than a damaged file.
    guessed = detection.method in ("ascii", "detected")
    stream = not source.rereadable  # read once: no restart, no re-run check, no resume
    if settings.on_decode_error == "replace" and (not guessed or stream):
        job.errors = "replace"
    job.resume = job.resume and not stream
    if not settings.force and not stream:
        landed = await already_landed(job, ctx.listed, ctx.detecting, ctx.listing_trust)
        if landed is not None and await passes_csv_gate(job, landed, ctx.detecting):
            stored = landed.stored
            result.status, result.etag, result.checksum = Status.SKIPPED, stored.etag, stored.checksum
            return result
    emit(FileStarted(source, result.key, result.encoding))
    try:
        return await upload_stream(job)
    except ResumeMismatch as mismatch:
        emit(FileRestarted(source, str(mismatch), encoding_info(detection)))
        job.resume = False  # the unfinished upload was aborted on the way out: start clean
        restarted = await upload_stream(job)
        restarted.notes += (f"restarted without resume: {mismatch}",)
        return restarted
    except DecodeFailure as failure:
        if stream and settings.encoding == "auto":
            raise ValueError(
                f"{failure} (encoding detected on the first {STDIN_HEAD // MiB} MiB); {NOT_AGAIN}"
            ) from None
        if stream:
            raise
        retry = await asyncio.to_thread(redetect, source, settings, failure.offset)
        if retry.encoding == detection.encoding and settings.on_decode_error == "fail":
            raise
        # Either a better encoding (start again with it), or --on-decode-error replace with the
        # encoding confirmed: only now are the bad sequences replaced.
        emit(FileRestarted(source, str(failure), encoding_info(retry)))
        job.detection = retry
        job.errors = "strict" if settings.on_decode_error == "fail" else "replace"
        restarted = await upload_stream(job)
        restarted.notes += (f"restarted: {failure}",)
        return restarted
