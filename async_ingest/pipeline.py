"""One file end to end (detect, transcode, cut, upload) and many files at once under one memory budget.

The core emits events and returns results; it never prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiofiles
import aiofiles.os

from async_ingest import __version__
from async_ingest.budget import MemoryBudget
from async_ingest.encoding import (
    SAMPLE_WINDOW,
    Detection,
    UndetectableEncoding,
    detect,
    forced,
    sample_offsets,
)
from async_ingest.events import (
    Emit,
    EncodingInfo,
    FileFinished,
    FileRestarted,
    FileResult,
    FileStarted,
    PartUploaded,
)
from async_ingest.keys import InvalidKey, KeyFields, render_key
from async_ingest.parts import PartCutter, max_expansion, plan_part_size
from async_ingest.s3 import S3, S3Error
from async_ingest.settings import IngestSettings
from async_ingest.sources import SourceFile
from async_ingest.transcode import DecodeFailure, Transcoder
from async_ingest.units import KiB, MiB
from async_ingest.writer import IntegrityError, ObjectWriter, abort_upload

# Reads are small next to a part: a file waiting for budget holds at most one block (and its UTF-8)
# beyond the parts it has paid for, and decoding makes a str of up to 4 bytes per character, so the
# transient memory is a few times the block. Copying each block into its part costs ~0.1 s per GiB;
# thread hops for 1 MiB reads about as much.
READ_BLOCK = 1 * MiB
MIN_RESERVATION = 64 * KiB
REDETECT_CONTEXT = 256 * KiB  # bytes around a decode failure added to the samples when re-detecting


class SourceChanged(RuntimeError):
    """The file changed (size or modification time) while it was being read."""


@dataclass(frozen=True)
class Sampled:
    """The windows read for detection, and a fingerprint of the file derived from them."""

    windows: list[bytes]
    fingerprint: str


def encoding_info(detection: Detection) -> EncodingInfo:
    return EncodingInfo(detection.encoding, detection.method, detection.confidence, bool(detection.bom))


async def read_windows(source: SourceFile) -> list[bytes]:
    windows: list[bytes] = []
    async with aiofiles.open(source.path, "rb") as reader:
        offsets = sample_offsets(source.size)
        for offset in offsets:
            await reader.seek(offset)
            windows.append(await reader.read(source.size if offsets == [0] else SAMPLE_WINDOW))
    return windows


async def read_region(source: SourceFile, offset: int, length: int) -> bytes:
    async with aiofiles.open(source.path, "rb") as reader:
        await reader.seek(max(0, offset - length // 2))
        return await reader.read(length)


def fingerprint(source: SourceFile, windows: list[bytes], settings: IngestSettings) -> str:
    """Cheap identity of a source and of the options that shape its object: size, mtime, the sampled
    bytes. Stored in the object's metadata; a re-run with the same fingerprint skips the file."""
    digest = hashlib.sha256()
    digest.update(f"{source.size}|{source.mtime_ns}|{settings.encoding}|{settings.on_decode_error}|".encode())
    for window in windows:
        digest.update(hashlib.sha256(window).digest())
    return digest.hexdigest()[:32]


async def sample(source: SourceFile, settings: IngestSettings) -> Sampled:
    windows = await read_windows(source)
    return Sampled(windows, fingerprint(source, windows, settings))


def choose_encoding(windows: list[bytes], settings: IngestSettings, extra: list[bytes]) -> Detection:
    if settings.encoding == "auto":
        return detect(windows, extra=extra)
    return forced(settings.encoding, windows[0] if windows else b"")


def object_extra(
    source: SourceFile, detection: Detection, fp: str, settings: IngestSettings
) -> dict[str, Any]:
    """PutObject/CreateMultipartUpload arguments besides the body. Metadata must be ASCII."""
    metadata = {
        "source-name": quote(source.path.name, safe=""),
        "source-size": str(source.size),
        "source-mtime-ns": str(source.mtime_ns),
        "source-encoding": detection.encoding,
        "encoding-method": detection.method,
        "fingerprint": fp,
        "ingested-by": f"async_ingest/{__version__}",
    }
    extra: dict[str, Any] = {"Metadata": metadata}
    if settings.sse:
        extra["ServerSideEncryption"] = settings.sse
    if settings.sse_kms_key_id:
        extra["SSEKMSKeyId"] = settings.sse_kms_key_id
    return extra


@dataclass
class FileJob:
    """Everything one file's upload needs; one instance per attempt."""

    source: SourceFile
    key: str
    detection: Detection
    fingerprint: str
    settings: IngestSettings
    s3: S3
    budget: MemoryBudget
    emit: Emit

    def reservation(self) -> int:
        """Budget paid per part: a full part, or less for a file that cannot fill one."""
        worst = int(self.source.size * max_expansion(self.detection.encoding)) + MIN_RESERVATION
        return min(self.part_size(), worst)

    def part_size(self) -> int:
        return plan_part_size(self.source.size, self.detection.encoding, self.settings.part_size)


async def abort_stale_uploads(s3: S3, bucket: str, key: str) -> int:
    """Unfinished uploads to this exact key (a killed earlier run): abort them, they would be orphans."""
    stale = [u for u in await s3.list_uploads(bucket, key) if u.get("Key") == key]
    for upload in stale:
        await abort_upload(s3, bucket, key, str(upload["UploadId"]))
    return len(stale)


async def upload_stream(job: FileJob) -> FileResult:
    """Read, transcode, cut and send one file. Aborts the upload on any error or cancellation."""
    source, settings = job.source, job.settings
    part_size = job.part_size()
    transcoder = Transcoder(
        job.detection.encoding,
        errors="strict" if settings.on_decode_error == "fail" else "replace",
        bom=job.detection.bom,
    )
    cutter = PartCutter(part_size)
    bytes_read = 0

    def part_done(number: int, size: int) -> None:
        job.emit(PartUploaded(source, number, size, bytes_read))

    writer = ObjectWriter(
        job.s3,
        settings.bucket,
        job.key,
        object_extra(source, job.detection, job.fingerprint, settings),
        job.budget,
        job.reservation(),
        verify_etag=settings.verify_etag and settings.sse != "aws:kms",
        on_part=part_done,
    )
    if source.size > part_size and not settings.resume:
        await abort_stale_uploads(job.s3, settings.bucket, job.key)
    try:
        async with aiofiles.open(source.path, "rb") as reader:
            while True:
                await writer.reserve()
                block = await reader.read(READ_BLOCK)
                if not block:
                    break
                bytes_read += len(block)
                input_done = bytes_read >= source.size
                for part in cutter.feed(transcoder.feed(block)):
                    await writer.reserve()  # a block can complete two parts: each is paid for
                    await writer.write_part(part, input_done=input_done)
            for part in cutter.feed(transcoder.finish()):
                await writer.reserve()
                await writer.write_part(part, input_done=True)
            await check_unchanged(source, bytes_read)
            written = await writer.finish(cutter.finish())
    except BaseException:
        await asyncio.shield(_abort(writer))
        raise
    return FileResult(
        source=source,
        bucket=settings.bucket,
        key=job.key,
        status="uploaded",
        encoding=encoding_info(job.detection),
        bytes_read=bytes_read,
        bytes_written=written.size,
        parts=written.parts,
        replacements=transcoder.replacements,
        etag=written.etag,
        sha256=written.sha256,
    )


async def _abort(writer: ObjectWriter) -> None:
    # The original error is what the user needs; an abort that fails leaves a stale upload, which
    # the next run for the same key aborts.
    with contextlib.suppress(S3Error):
        await writer.abort()


async def check_unchanged(source: SourceFile, bytes_read: int) -> None:
    stat = await aiofiles.os.stat(source.path)
    if bytes_read != source.size or stat.st_size != source.size or stat.st_mtime_ns != source.mtime_ns:
        raise SourceChanged(
            f"changed while being read (size {source.size} -> {stat.st_size}, read {bytes_read} bytes); "
            "nothing was uploaded"
        )


async def already_landed(s3: S3, settings: IngestSettings, key: str, fp: str) -> str | None:
    """The ETag of an object already uploaded from this same source, or None."""
    head = await s3.head_object(settings.bucket, key)
    if head is None or head.get("Metadata", {}).get("fingerprint") != fp:
        return None
    return str(head.get("ETag"))


async def ingest_file(
    source: SourceFile, settings: IngestSettings, s3: S3 | None, budget: MemoryBudget, emit: Emit
) -> FileResult:
    """One file, never raising for a problem of that file: failures become a 'failed' result."""
    started = time.monotonic()
    result = FileResult(source, settings.bucket, "", "failed")
    try:
        result = await _ingest_file(source, settings, s3, budget, emit, result)
    except (
        DecodeFailure,
        UndetectableEncoding,
        S3Error,
        SourceChanged,
        IntegrityError,
        InvalidKey,
        OSError,
        ValueError,
    ) as exc:
        result.status = "failed"
        result.error = f"{source.path}: {exc}"
    result.seconds = time.monotonic() - started
    emit(FileFinished(result))
    return result


async def _ingest_file(
    source: SourceFile,
    settings: IngestSettings,
    s3: S3 | None,
    budget: MemoryBudget,
    emit: Emit,
    result: FileResult,
) -> FileResult:
    result.key = render_key(settings.key_template, KeyFields(source.path.name, source.reldir, settings.date))
    sampled = await sample(source, settings)
    detection = choose_encoding(sampled.windows, settings, [])
    fp = sampled.fingerprint
    del sampled  # up to 8 MiB of windows: not kept for the whole upload, re-read if ever needed
    result.encoding = encoding_info(detection)
    if settings.dry_run or s3 is None:
        result.status = "planned"
        return result
    if not settings.force:
        etag = await already_landed(s3, settings, result.key, fp)
        if etag is not None:
            result.status, result.etag = "skipped", etag
            return result
    emit(FileStarted(source, result.key, result.encoding))
    job = FileJob(source, result.key, detection, fp, settings, s3, budget, emit)
    try:
        return await upload_stream(job)
    except DecodeFailure as failure:
        if detection.method in ("forced", "bom"):
            raise
        region = await read_region(source, failure.offset, REDETECT_CONTEXT)
        retry = choose_encoding(await read_windows(source), settings, [region])
        if retry.encoding == detection.encoding:
            raise
        emit(FileRestarted(source, str(failure), encoding_info(retry)))
        job.detection = retry
        restarted = await upload_stream(job)
        restarted.notes.append(f"restarted: {failure}")
        return restarted


async def ingest_all(
    sources: list[SourceFile], settings: IngestSettings, s3: S3 | None, emit: Emit
) -> list[FileResult]:
    """Every file, `concurrency` at a time, part buffers bounded by one shared budget.

    Cancellation (Ctrl-C, SIGTERM) propagates into every file, each of which aborts its upload.
    """
    budget = MemoryBudget(settings.max_memory)
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(source: SourceFile) -> FileResult:
        async with gate:
            return await ingest_file(source, settings, s3, budget, emit)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(source)) for source in sources]
    return [task.result() for task in tasks]
