"""One upload attempt of one file: read, transcode, fill parts on a worker thread (or ahead, in
parallel), check the CSV, send; the upload is aborted on any error or cancellation. ingest.py
decides whether and how often to make it; scheduler.py runs many files at once.

The core emits events and returns results; it never prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass

from async_ingest.events import FileResult, PartSending, PartUploaded, Status
from async_ingest.pipeline.detection import encoding_info
from async_ingest.pipeline.gate import GATE_KEY, gate_flags
from async_ingest.pipeline.identity import object_extra
from async_ingest.pipeline.job import FileJob, reads_inline
from async_ingest.pipeline.parts import FilledPart, Part, PartFiller
from async_ingest.pipeline.readahead import (
    ParallelFiller,
    parallel_workers,
    readahead_memory,
    splits_independently,
)
from async_ingest.pipeline.resume import abort_stale_uploads, resume_point
from async_ingest.s3.checksums import CHECKSUMS
from async_ingest.s3.model import S3Error
from async_ingest.s3.writer import ObjectWriter
from async_ingest.settings import IngestSettings
from async_ingest.sources.files import Reader
from async_ingest.sources.stdin import StdinSource
from async_ingest.transform.csvcheck import CsvChecker, CsvPolicy, csv_metadata
from async_ingest.transform.transcode import Transcoder


async def upload_stream(job: FileJob) -> FileResult:
    """Read, transcode, fill parts and send one file. Aborts the upload on any error or cancellation."""
    source, settings = job.source, job.settings
    part_size = job.part_size()
    transcoder = Transcoder(
        job.detection.encoding,
        errors=job.errors,
        bom=job.detection.bom,
    )

    # Where the source stood once each part was filled (part n is number n+1): a part's share of the
    # source, which the bars use to turn its bytes sent into source bytes.
    source_ends: list[int] = []

    def span(number: int) -> int:
        """The source bytes part `number` holds; 0 if not known."""
        if 0 < number <= len(source_ends):
            return source_ends[number - 1] - (source_ends[number - 2] if number > 1 else 0)
        return 0

    def part_done(number: int, size: int) -> None:
        read = reader.source_bytes_read(transcoder.bytes_in)
        job.emit(PartUploaded(source, number, size, read, span(number)))

    def part_sending(number: int, sent: int, size: int) -> None:
        if holds := span(number):
            job.emit(PartSending(source, number, sent, size, holds))

    checksum = CHECKSUMS[settings.checksum]
    extra = object_extra(source, job.detection, job.fingerprint, settings)
    check = csv_check(settings)
    if check is not None and (gate := gate_flags(settings)):
        extra["Metadata"][GATE_KEY] = gate  # the object completes only once the whole file passed it
    compress = settings.compress
    writer = ObjectWriter(
        job.s3,
        settings.bucket,
        job.key,
        extra,
        job.budget,
        job.reservation(),
        verify_etag=settings.verify_etag and settings.sse != "aws:kms",
        checksum=checksum,
        on_part=part_done,
        on_sending=part_sending,
        flight=job.flight,
    )
    md5_parts: list[int] = []  # parts to compare with the ETags of parts already uploaded
    if job.planned_size > part_size or not source.size_known:
        found = await resume_point(job.s3, settings.bucket, job.key, checksum) if job.resume else None
        if found is not None:
            writer.resume(*found)
            md5_parts = [number for number, part in found[1].items() if part.checksum is None]
        else:
            await abort_stale_uploads(job.s3, settings.bucket, job.key)
    reader = source.open_reader(*job.expansion_bound())
    readahead = reads_ahead(job, transcoder)
    filler: PartFiller
    if readahead:
        try:
            filler = ParallelFiller(
                source.location,
                transcoder,
                part_size,
                job.read_length,
                checksum,
                md5_parts=md5_parts,
                whole_sha256=settings.sha256,
                bom=job.detection.bom,
                csv=check.checker if check is not None else None,
            )
        except BaseException:
            job.budget.give_back(readahead)
            raise
    else:
        filler = PartFiller(
            reader,
            transcoder,
            part_size,
            job.read_length,
            checksum,
            md5_parts=md5_parts,
            whole_sha256=settings.sha256,
            compressor=compress.compressor() if compress.name != "none" else None,
            on_text=check.checker.feed if check is not None else None,
        )
    codec_memory = 0
    inline = reads_inline(source)
    try:
        if job.codecs is not None:  # compressor and decompressor state
            needed = compress.memory + await asyncio.to_thread(source.codec_memory)
            codec_memory = await job.codecs.acquire(needed) if needed else 0
        while True:
            part = await fill_part(filler, reader, await writer.next_buffer(), check, inline)
            source_ends.append(reader.source_bytes_read(transcoder.bytes_in))
            if check is not None:  # read when the upload starts: after the first part, or at the end
                extra["Metadata"].update(csv_metadata(check.checker))
            if filler.exhausted:
                if filler.compressor is not None:  # known in time for a single PUT only
                    extra["Metadata"]["uncompressed-size"] = str(filler.text_bytes)
                break
            await writer.write_part(part, input_done=filler.input_done)
        written = await writer.finish(part)
    except BaseException:
        await asyncio.shield(_abort(writer))
        raise
    finally:
        reader.close()
        if isinstance(filler, ParallelFiller):
            filler.close()  # (waits for a segment being read: a few ms at most)
            job.budget.give_back(readahead)
        if codec_memory and job.codecs is not None:
            job.codecs.release(codec_memory)
    reused = f"resumed: {writer.parts_reused} of {written.parts} parts were already uploaded"
    notes = (reused,) if job.resume and writer.parts_reused else ()  # said only when it did resume
    if not source.size_known:  # it is known now
        source = dataclasses.replace(source, size=transcoder.bytes_in)
    return FileResult(
        notes=notes,
        source=source,
        bucket=settings.bucket,
        key=job.key,
        status=Status.UPLOADED,
        encoding=encoding_info(job.detection),
        bytes_read=transcoder.bytes_in,
        bytes_written=written.size,
        bytes_uncompressed=filler.text_bytes if filler.compressor is not None else None,
        parts=written.parts,
        replacements=transcoder.replacements,
        etag=written.etag,
        checksum=written.checksum,
        sha256=filler.sha256.hexdigest() if filler.sha256 is not None else None,
        csv=check.checker.finish() if check is not None else None,
    )


# Read-ahead pays for itself on files of several parts, when the budget holds it beside a few parts.
READAHEAD_MIN_PARTS = 4


def reads_ahead(job: FileJob, transcoder: Transcoder) -> int:
    """The memory lent from the budget to ParallelFiller's read-ahead when this upload uses one (the
    caller gives it back), else 0: a plain file (not a stream, a compressed source or an archive
    member) of several parts, in UTF-8 or a single-byte code page, without --compress (a compressor
    is one sequential stream), with the C core (ASYNC_INGEST_NO_EXTENSIONS=1: sequential), on a
    machine with more than one core, when the budget has the memory free right now."""
    source = job.source
    workers = parallel_workers()
    if (
        workers < 2
        or isinstance(source, StdinSource)
        or source.compression is not None
        or source.member is not None
        or job.settings.compress.name != "none"
        or not splits_independently(transcoder)
        # Strict UTF-8 is read straight into the part buffer and checked there (no copy): faster
        # alone than through segments (bench/parallel_fill.py, 256 MiB: 1.12 against 0.98 GB/s).
        or (transcoder.encoding == "utf-8" and transcoder.errors == "strict")
    ):
        return 0
    # Lent from the budget's capacity, never waited for (MemoryBudget.lend): a loan taken beside a
    # free part never stops the file's own parts, whatever the parts-in-flight window does to the
    # limit. Left out on budgets too small to spare it beside a few parts.
    part_size = job.part_size()
    memory = readahead_memory(transcoder.encoding, workers)
    if job.planned_size <= part_size or job.budget.capacity < READAHEAD_MIN_PARTS * part_size + memory:
        return 0
    return memory if job.budget.lend(memory, part_size) else 0


@dataclass
class CsvCheck:
    """The CSV check of one upload attempt: fed each part's UTF-8 on the filling thread."""

    checker: CsvChecker
    policy: CsvPolicy

    def part(self, data: Part, last: bool) -> None:
        """Raises CsvRejected (strict mode, --expect-*): before the part is sent."""
        self.checker.feed(data)
        self.settle(last)

    def settle(self, last: bool) -> None:
        """The policy on what was fed (--compress: the filler feeds the UTF-8 before compressing)."""
        self.policy.check(self.checker, self.checker.finish() if last else None)


def csv_check(settings: IngestSettings) -> CsvCheck | None:
    if settings.csv_check == "off":
        return None
    policy = CsvPolicy(settings.csv_check, settings.expect_columns, settings.expect_header)
    return CsvCheck(CsvChecker(settings.csv_delimiter), policy)


def fill_next(
    filler: PartFiller, reader: Reader, buffer: bytearray, check: CsvCheck | None = None
) -> FilledPart:
    """The next part; after the last one, the file is closed and checked against its listing."""
    part = filler.fill(buffer)
    if filler.exhausted:
        reader.close()
        reader.check_unchanged(filler.transcoder.bytes_in)
    if check is not None and filler.text_checked:
        check.settle(filler.exhausted)
    elif check is not None:
        check.part(part.data, filler.exhausted)
    return part


async def fill_part(
    filler: PartFiller,
    reader: Reader,
    buffer: bytearray,
    check: CsvCheck | None = None,
    inline: bool = False,
) -> FilledPart:
    """The next part, filled on a worker thread (one hand-off per part), or right here for a small
    file (inline: see INLINE_MAX). If this task is cancelled meanwhile, the thread is still let
    finish: the buffer must not go back to the pool, nor the file be closed, under it."""
    if inline:
        return fill_next(filler, reader, buffer, check)
    filling = asyncio.ensure_future(asyncio.to_thread(fill_next, filler, reader, buffer, check))
    try:
        return await asyncio.shield(filling)
    except asyncio.CancelledError:
        await asyncio.gather(filling, return_exceptions=True)
        raise


async def _abort(writer: ObjectWriter) -> None:
    # The original error is what the user needs; an abort that fails leaves a stale upload, which
    # the next run for the same key aborts.
    with contextlib.suppress(S3Error):
        await writer.abort()
