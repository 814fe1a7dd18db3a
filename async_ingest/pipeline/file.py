"""One file end to end (detect, fill parts on a worker thread, upload) and many files at once under one
memory budget.

The core emits events and returns results; it never prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from async_ingest import __version__
from async_ingest.events import (
    Emit,
    EncodingInfo,
    FileFinished,
    FileRestarted,
    FileResult,
    FileStarted,
    PartUploaded,
    WindowChanged,
)
from async_ingest.keys import InvalidKey, KeyFields, render_key
from async_ingest.pipeline.budget import MemoryBudget
from async_ingest.pipeline.flight import START_PARTS, FlightController, PartsInFlight
from async_ingest.pipeline.gate import GATE_KEY, GATE_READ, check_source, gate_covered, gate_flags
from async_ingest.pipeline.parts import (
    MAX_PARTS,
    WORST_EXPANSION,
    FilledPart,
    ParallelFiller,
    Part,
    PartFiller,
    fitting_source_size,
    max_expansion,
    parallel_workers,
    plan_part_size,
    readahead_memory,
    same_etag,
    single_put_etag,
    splits_independently,
)
from async_ingest.s3.checksums import CHECKSUMS, Checksum, stored_checksum
from async_ingest.s3.model import Listed, S3Error, StoredObject
from async_ingest.s3.writer import IntegrityError, ObjectWriter, ResumeMismatch, UploadedPart, abort_upload
from async_ingest.settings import IngestSettings
from async_ingest.sources.files import SourceChanged, SourceFile, SourceReader, read_region, read_windows
from async_ingest.sources.stdin import NOT_AGAIN, STDIN_HEAD, StdinSource
from async_ingest.transform.compression import MAX_EXPANDED_OPTION
from async_ingest.transform.csvcheck import CsvChecker, CsvPolicy, CsvRejected, csv_metadata
from async_ingest.transform.detect import (
    SAMPLE_WINDOW,
    SAMPLE_WINDOWS,
    Detection,
    UndetectableEncoding,
    detect,
    forced,
    sample_offsets,
)
from async_ingest.transform.transcode import DecodeFailure, Transcoder
from async_ingest.units import KiB, MiB

if TYPE_CHECKING:  # the S3 face loads botocore: a dry run goes without it
    from async_ingest.s3.client import S3

# Slack over a file's worst-case output in its one-part buffer: a compressor's frame and block
# headers (zstd and deflate add well under 1 KiB to a small input). Small, since every small file in
# flight holds one: at 64 KiB, 256 tiny files in flight had held 16 MiB.
MIN_RESERVATION = 4 * KiB
STREAM_LENGTH = 1 << 62  # what the part filler may read of a stream: until its end
MIN_PARTS_IN_FLIGHT = 2  # one sending while the next fills
REDETECT_CONTEXT = 256 * KiB  # bytes around a decode failure added to the samples when re-detecting


@functools.lru_cache(maxsize=256)  # one shared instance per distinct detection, not one per file
def encoding_info(detection: Detection) -> EncodingInfo:
    return EncodingInfo(detection.encoding, detection.method, detection.confidence, bool(detection.bom))


def fingerprint(source: SourceFile, windows: list[bytes], settings: IngestSettings) -> str:
    """Cheap identity of a source and of the options that shape its object: size, mtime, the sampled
    bytes, the checksum algorithm. Stored in the object's metadata; a re-run with the same fingerprint
    skips the file, so an object stored with another checksum is uploaded again."""
    digest = hashlib.sha256()
    digest.update(f"{source.size}|{source.mtime_ns}|{settings.encoding}|{settings.on_decode_error}|".encode())
    if settings.checksum != "md5":  # md5 objects keep the fingerprints of the versions before --checksum
        digest.update(f"checksum={settings.checksum}|".encode())
    if settings.compress.name != "none":  # uncompressed objects keep their earlier fingerprints
        digest.update(f"compress={settings.compress.name}:{settings.compress.level}|".encode())
    for window in windows:
        digest.update(hashlib.sha256(window).digest())
    digest.update(object_options_identity(settings))
    return digest.hexdigest()[:32]


def object_options_identity(settings: IngestSettings) -> bytes:
    """The object options, for the fingerprint: a re-run with other tags, metadata, storage class or
    content type uploads again. Nothing without them, so earlier fingerprints still match."""
    options = (settings.tags, settings.metadata, settings.storage_class, settings.content_type)
    if options == ((), (), None, None):
        return b""
    return repr(options).encode()


def sample_windows(source: SourceFile, settings: IngestSettings) -> list[bytes]:
    if isinstance(source, StdinSource):
        return [source.stream.head()]  # a pipe: its head only (see stdin.py)
    return read_windows(source, sample_offsets(source.size), SAMPLE_WINDOW, settings.max_expanded_size)


def detect_and_fingerprint(source: SourceFile, settings: IngestSettings) -> tuple[Detection, str]:
    """Read the windows, decide the encoding, fingerprint the file: one worker-thread call, as
    charset-normalizer can take a few hundred ms and parts of other files go on meanwhile."""
    windows = sample_windows(source, settings)
    return choose_encoding(windows, settings, []), fingerprint(source, windows, settings)


def redetect(source: SourceFile, settings: IngestSettings, failed_at: int) -> Detection:
    """Detection again, with the region around a decode failure added to the windows."""
    region = read_region(source, failed_at, REDETECT_CONTEXT, settings.max_expanded_size)
    return choose_encoding(sample_windows(source, settings), settings, [region])


def choose_encoding(windows: list[bytes], settings: IngestSettings, extra: list[bytes]) -> Detection:
    if settings.encoding == "auto":
        return detect(windows, extra=extra)
    return forced(settings.encoding, windows[0] if windows else b"")


def object_extra(
    source: SourceFile, detection: Detection, fp: str, settings: IngestSettings
) -> dict[str, Any]:
    """PutObject/CreateMultipartUpload arguments besides the body. Metadata must be ASCII."""
    metadata = dict(settings.metadata)  # the user's, checked not to use our keys
    metadata |= {
        # The name's own bytes (a name that is not UTF-8 too), percent-encoded: reversible, ASCII.
        "source-name": quote(os.fsencode(key_name(source)), safe=""),
        "source-size": str(source.size) if not isinstance(source, StdinSource) else "unknown",
        "source-mtime-ns": str(source.mtime_ns),
        "source-encoding": detection.encoding,
        "encoding-method": detection.method,
        "fingerprint": fp,
        "ingested-by": f"async_ingest/{__version__}",
    }
    compress = settings.compress
    if compress.content_type is not None:
        metadata["compression"] = compress.name
    extra: dict[str, Any] = {"Metadata": metadata}
    if compress.content_type is not None and not settings.content_type:
        extra["ContentType"] = compress.content_type
    if settings.sse:
        extra["ServerSideEncryption"] = settings.sse
    if settings.sse_kms_key_id:
        extra["SSEKMSKeyId"] = settings.sse_kms_key_id
    extra |= object_options(settings)
    return extra


def object_options(settings: IngestSettings) -> dict[str, Any]:
    """--tag, --storage-class, --content-type as request arguments (tags URL-encoded, as S3 wants)."""
    options: dict[str, Any] = {}
    if settings.tags:
        options["Tagging"] = urlencode(settings.tags, quote_via=quote)
    if settings.storage_class:
        options["StorageClass"] = settings.storage_class
    if settings.content_type:
        options["ContentType"] = settings.content_type
    return options


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
    resume: bool = False
    errors: str = "strict"  # "replace" only once the encoding is known to be right (see _ingest_file)
    flight: PartsInFlight | None = None
    codecs: MemoryBudget | None = None  # compressor state is paid from here (see RunContext.codecs)

    def reservation(self) -> int:
        """Budget paid per part: a full part, or less for a file that cannot fill one."""
        if isinstance(self.source, StdinSource):
            return self.part_size()  # a stream of unknown size
        # Replacing undecodable bytes can triple even UTF-8 (one bad byte -> U+FFFD, 3 bytes).
        expansion = WORST_EXPANSION if self.errors == "replace" else max_expansion(self.detection.encoding)
        worst = int(self.planned_size * expansion) + MIN_RESERVATION
        return min(self.part_size(), worst)

    def part_size(self) -> int:
        return plan_part_size(self.planned_size, self.detection.encoding, self.settings.part_size)

    @property
    def planned_size(self) -> int:
        """The most source bytes to read: a compressed source's expanded size is known only at the
        end, so its bound (expansion_bound) stands for it."""
        if self.source.member is not None:  # a member's reader refuses output past its declared size
            return min(self.source.member.expanded_size, self.expansion_bound()[0])
        return self.source.size if self.source.compression is None else self.expansion_bound()[0]

    def expansion_bound(self) -> tuple[int, str]:
        """What a compressed source may expand to, and what says so: --max-expanded-size, or less
        where 10,000 parts of the largest buffer the memory budget holds cannot take that much (parts
        are planned for the bound: memory follows --max-memory whatever the limit)."""
        largest = max(self.settings.part_size, self.budget.capacity)
        fits = fitting_source_size(self.detection.encoding, largest)
        if fits < self.settings.max_expanded_size:
            return fits, f"what {MAX_PARTS} parts within --max-memory hold"
        return self.settings.max_expanded_size, MAX_EXPANDED_OPTION

    @property
    def read_length(self) -> int:
        """What the part filler may read: a plain file's size; a stream, or a compressed source, to
        its end (the decompressing reader refuses output past its bound rather than being cut)."""
        if isinstance(self.source, StdinSource) or self.source.compression is not None:
            return STREAM_LENGTH
        return self.source.size


async def unfinished_uploads(s3: S3, bucket: str, key: str) -> list[str]:
    """Upload ids of unfinished multipart uploads to this exact key, newest first."""
    uploads = [u for u in await s3.list_uploads(bucket, key) if u.get("Key") == key]
    uploads.sort(key=lambda u: str(u.get("Initiated", "")), reverse=True)
    return [str(u["UploadId"]) for u in uploads]


async def abort_stale_uploads(s3: S3, bucket: str, key: str, keep: str | None = None) -> int:
    """Unfinished uploads to this key (a killed earlier run) would be orphans: abort them."""
    stale = [u for u in await unfinished_uploads(s3, bucket, key) if u != keep]
    for upload_id in stale:
        await abort_upload(s3, bucket, key, upload_id)
    return len(stale)


async def resume_point(
    s3: S3, bucket: str, key: str, checksum: Checksum
) -> tuple[str, dict[int, UploadedPart]] | None:
    """The newest unfinished upload to key and its parts; older ones are aborted, and so is one
    started with another checksum algorithm (ListParts names it; SeaweedFS does not, see
    ObjectWriter._check_checksum)."""
    uploads = await unfinished_uploads(s3, bucket, key)
    if not uploads:
        return None
    await abort_stale_uploads(s3, bucket, key, keep=uploads[0])
    parts, algorithm = await s3.list_parts_and_algorithm(bucket, key, uploads[0])
    if algorithm is not None and algorithm != (checksum.s3_name if checksum.flexible else None):
        await abort_upload(s3, bucket, key, uploads[0])
        return None
    return uploads[0], {
        int(p["PartNumber"]): UploadedPart(str(p["ETag"]), int(p["Size"]), p.get(checksum.member))
        for p in parts
    }


async def upload_stream(job: FileJob) -> FileResult:
    """Read, transcode, fill parts and send one file. Aborts the upload on any error or cancellation."""
    source, settings = job.source, job.settings
    part_size = job.part_size()
    transcoder = Transcoder(
        job.detection.encoding,
        errors=job.errors,
        bom=job.detection.bom,
    )

    def part_done(number: int, size: int) -> None:
        job.emit(PartUploaded(source, number, size, reader.source_bytes_read(transcoder.bytes_in)))

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
        flight=job.flight,
    )
    md5_parts: list[int] = []  # parts to compare with the ETags of parts already uploaded
    if job.planned_size > part_size or isinstance(source, StdinSource):
        found = await resume_point(job.s3, settings.bucket, job.key, checksum) if job.resume else None
        if found is not None:
            writer.resume(*found)
            md5_parts = [number for number, part in found[1].items() if part.checksum is None]
        else:
            await abort_stale_uploads(job.s3, settings.bucket, job.key)
    reader = (
        source.stream if isinstance(source, StdinSource) else SourceReader(source, *job.expansion_bound())
    )
    readahead = reads_ahead(job, transcoder)
    filler: PartFiller
    if readahead:
        filler = ParallelFiller(
            source.location,
            transcoder,
            part_size,
            job.read_length,
            checksum,
            md5_parts=md5_parts,
            whole_sha256=settings.sha256,
            bom=job.detection.bom,
            on_text=check.checker.feed if check is not None else None,
        )
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
        if codec_memory and job.codecs is not None:
            job.codecs.release(codec_memory)
    reused = f"resumed: {writer.parts_reused} of {written.parts} parts were already uploaded"
    notes = (reused,) if job.resume else ()
    if isinstance(source, StdinSource):  # its size is known now
        source = dataclasses.replace(source, size=transcoder.bytes_in)
    return FileResult(
        notes=notes,
        source=source,
        bucket=settings.bucket,
        key=job.key,
        status="uploaded",
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


READ_AHEAD_VARIABLE = "ASYNC_INGEST_READ_AHEAD"


def reads_ahead(job: FileJob, transcoder: Transcoder) -> int:
    """The memory of ParallelFiller's read-ahead when this upload uses one, else 0: a plain file
    (not a stream, a compressed source or an archive member) of several parts, in UTF-8 or a
    single-byte code page, without --compress (a compressor is one sequential stream), on a machine
    with more than one core."""
    source = job.source
    workers = parallel_workers()
    if (
        # Opt-in for now: 1.31x on the worst shape against the 1.8x it is for, and its read-ahead is
        # held outside the part budget (bench/README.md, "Read-ahead").
        os.environ.get(READ_AHEAD_VARIABLE) != "1"
        or workers < 2
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
    # Not paid from the part budget: its limit follows the parts-in-flight window, which may be
    # below read-ahead plus a part (a file holding both would wait for itself). It is left out on
    # budgets too small to spare it.
    part_size = job.part_size()
    memory = readahead_memory(transcoder.encoding, workers)
    if job.planned_size <= part_size or job.budget.capacity < READAHEAD_MIN_PARTS * part_size + memory:
        return 0
    return memory


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
    filler: PartFiller, reader: SourceReader, buffer: bytearray, check: CsvCheck | None = None
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
    reader: SourceReader,
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


# The bytes alone do not say whether the earlier run used the same options (tags, metadata, checksum
# algorithm...), which the fingerprint in each object's metadata does: the first files whose bytes
# match are checked with a HEAD all the same, and only if all of them match is the listing trusted
# for the rest of the run (options are per run, so a few objects tell).
LISTING_CANARIES = 8


@dataclass
class ListingTrust:
    """Whether same bytes may stand for an unchanged object in this run (see LISTING_CANARIES)."""

    canaries: int = LISTING_CANARIES
    pending: int = 0
    trusted: bool = True
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    def take_canary(self) -> bool:
        if self.canaries <= 0:
            return False
        self.canaries -= 1
        self.pending += 1
        return True

    def canary_done(self, matched: bool) -> None:
        self.trusted = self.trusted and matched
        self.pending -= 1
        if self.canaries <= 0 and self.pending == 0:
            self.settled.set()

    async def trusts(self) -> bool:
        if not self.trusted or self.canaries > 0:
            return False  # refuted, or not yet vouched for: HEAD this one (maybe as a canary)
        await self.settled.wait()
        return self.trusted


@dataclass(frozen=True, slots=True)
class Landed:
    """An object already uploaded from this same source."""

    stored: StoredObject
    metadata: dict[str, str] | None = None  # None: known from the listing alone, no HEAD


async def already_landed(
    job: FileJob, listed: dict[str, Listed] | None, memory: MemoryBudget, trust: ListingTrust | None = None
) -> Landed | None:
    """The object already uploaded from this same source (ETag, stored checksum, metadata), or None.

    listed: the keys known to exist, as listed (None: unknown); a key not among them needs no
    request at all. A small file whose listed ETag is the MD5 of its object regenerated here holds
    exactly what would be uploaded: once the listing is trusted (ListingTrust), no request either.
    Otherwise a HEAD compares the fingerprint."""
    canary = False
    if listed is not None:
        entry = listed.get(job.key)
        if entry is None:
            return None
        if await same_as_listed(job, entry, memory):
            if trust is None or await trust.trusts():
                return Landed(StoredObject(entry.etag, None))
            canary = trust.take_canary()
    try:
        landed = await _landed_by_head(job)
    except BaseException:
        if canary and trust is not None:
            trust.canary_done(False)
        raise
    if canary and trust is not None:
        trust.canary_done(landed is not None)
    return landed


async def _landed_by_head(job: FileJob) -> Landed | None:
    head = await job.s3.head_object(job.settings.bucket, job.key)
    if head is None or head.get("Metadata", {}).get("fingerprint") != job.fingerprint:
        return None
    stored = StoredObject(
        str(head.get("ETag")), stored_checksum(head, CHECKSUMS[job.settings.checksum].s3_name)
    )
    return Landed(stored, dict(head.get("Metadata", {})))


async def passes_csv_gate(job: FileJob, landed: Landed, memory: MemoryBudget) -> bool:
    """Whether a landed file may be skipped under this run's CSV gate (csvgate.py): yes without one,
    or when the object's metadata shows it passed as strict a gate; else its source is checked here.
    Raises CsvRejected for a file that fails (its object is left as it was); False when the source
    could not be checked here (it does not decode as detected): the upload checks it."""
    settings = job.settings
    if not gate_flags(settings) or (landed.metadata is not None and gate_covered(landed.metadata, settings)):
        return True
    source = job.source
    chunk = min(GATE_READ, source.size + 1) if source.compression is None else GATE_READ
    paid = await memory.acquire(chunk)
    try:
        if reads_inline(source):
            _check_landed_source(job, chunk)
        else:
            await asyncio.to_thread(_check_landed_source, job, chunk)
    except CsvRejected as rejected:
        where = f"s3://{settings.bucket}/{job.key}"
        raise CsvRejected(f"{rejected} ({where}, landed by an earlier run, is left as it was)") from None
    except (DecodeFailure, ValueError):
        return False
    finally:
        memory.release(paid)
    return True


def _check_landed_source(job: FileJob, chunk: int) -> None:
    detection = job.detection
    check_source(job.source, job.settings, detection.encoding, job.errors, detection.bom, chunk)


# Up to this size, regenerating a file's object to compare its MD5 with the listed ETag costs less
# than a HEAD (~2 ms of botocore CPU per request; transcoding runs at ~0.5 GB/s).
REGENERATE_MAX = 1 * MiB


async def same_as_listed(job: FileJob, listed: Listed, memory: MemoryBudget) -> bool:
    """Whether a small file's object, made again locally, has the listed ETag (a single PUT's ETag
    is the MD5 of the body; not with SSE-KMS, nor for multipart objects). A store that lists the
    objects' checksum algorithms (AWS) must list ours: an object stored under another algorithm is
    uploaded again. One that lists none (SeaweedFS) is trusted on the bytes alone."""
    if job.source.size > REGENERATE_MAX or "-" in listed.etag or job.settings.sse == "aws:kms":
        return False
    checksum = CHECKSUMS[job.settings.checksum]
    if listed.algorithms and checksum.flexible and checksum.s3_name not in listed.algorithms:
        return False
    listed_etag = listed.etag
    paid = await memory.acquire(job.reservation())
    try:
        if reads_inline(job.source):
            etag = regenerated_etag(job)
        else:
            etag = await asyncio.to_thread(regenerated_etag, job)
    finally:
        memory.release(paid)
    return etag is not None and same_etag(etag, listed_etag)


def regenerated_etag(job: FileJob) -> str | None:
    """The ETag of a one-part object made from the source, or None (more than one part, or a
    sequence that does not decode: the upload would find out)."""
    if reads_inline(job.source) and job.settings.compress.name == "none":
        return _small_file_etag(job)
    reader = SourceReader(job.source, *job.expansion_bound())
    transcoder = Transcoder(job.detection.encoding, errors=job.errors, bom=job.detection.bom)
    compress = job.settings.compress
    compressor = compress.compressor() if compress.name != "none" else None
    filler = PartFiller(
        reader, transcoder, job.part_size(), job.read_length, CHECKSUMS["md5"], compressor=compressor
    )
    try:
        part = filler.fill(bytearray(job.reservation()))
    except (DecodeFailure, ValueError):  # a source that does not decompress: the upload says so
        return None
    finally:
        reader.close()
    return single_put_etag(part.digest) if filler.exhausted else None


def _small_file_etag(job: FileJob) -> str | None:
    """regenerated_etag for a small plain file: read whole, transcoded at once (the same Transcoder
    the part filler feeds, so the same bytes), without a part filler's machinery."""
    with open(job.source.location, "rb") as file:
        data = file.read(job.source.size + 1)
    if len(data) != job.source.size:
        return None  # changed since it was listed: the upload finds out and says so
    transcoder = Transcoder(job.detection.encoding, errors=job.errors, bom=job.detection.bom)
    try:
        body = transcoder.feed(data) + transcoder.finish()
    except DecodeFailure:
        return None
    return single_put_etag(CHECKSUMS["md5"].digest(body))


# A run lists what is already under its keys' common prefix once, instead of a HEAD per file (which
# cost as much as uploading a 10 KB file). Beyond this many objects per file to upload, the listing
# would cost more than it saves: it stops, and each file is checked on its own.
LISTED_PER_FILE = 10


async def listed_keys(s3: S3, settings: IngestSettings, keys: list[str]) -> dict[str, Listed] | None:
    """ETags of the keys already in the bucket under the keys' common prefix, or None: unknown
    (listing not allowed, or too many objects there), check each file with a HEAD."""
    if settings.force or not keys:
        return None
    try:
        prefix = os.path.commonprefix(keys)  # noqa: RUF071 (an S3 prefix is compared by character)
        return await s3.list_etags_upto(settings.bucket, prefix, LISTED_PER_FILE * len(keys))
    except S3Error:
        return None


def key_plan(sources: list[SourceFile], settings: IngestSettings) -> Iterator[tuple[SourceFile, str]]:
    """Each source with its key; a source whose key is invalid is left out (it fails on its turn)."""
    for source in sources:
        with contextlib.suppress(InvalidKey):
            yield source, object_key(source, settings)


def object_key(source: SourceFile, settings: IngestSettings) -> str:
    """The rendered key, with the suffix of --compress (movies.csv.gz)."""
    return render_key(settings.key_template, source_key_fields(source, settings)) + settings.compress.suffix


def source_key_fields(source: SourceFile, settings: IngestSettings) -> KeyFields:
    return KeyFields(key_name(source), source.reldir, settings.date)


def key_name(source: SourceFile) -> str:
    """The file name the key and the metadata carry (standard input's is --name; a compressed
    source's is its CSV's own name: movies.csv.gz -> movies.csv)."""
    return source.name if isinstance(source, StdinSource) else source.csv_name


# Sample windows are paid from a budget of their own: one large file's windows at a time, or many
# small files at once (their windows are the whole file), not 8 MiB for every file in flight.
DETECTION_MEMORY = SAMPLE_WINDOW * SAMPLE_WINDOWS


# Files in flight beyond this only wait (for budget, for connections), each costing memory (~60 KB
# for a small one: its request, writer, filler, CSV checker). 128 is ample: a small file costs ~3 ms
# of client CPU, so ~50 in flight already cover a 150 ms round trip.
MAX_FILES_IN_FLIGHT = 128


def max_files_in_flight(settings: IngestSettings) -> int:
    """--concurrency, capped at MAX_FILES_IN_FLIGHT and at the files whose smallest part buffer the
    memory budget can pay for at once."""
    return max(1, min(settings.concurrency, MAX_FILES_IN_FLIGHT, settings.max_memory // MIN_RESERVATION))


@dataclass
class RunContext:
    """What every file of one run shares."""

    settings: IngestSettings
    s3: S3 | None  # None: dry run
    budget: MemoryBudget
    emit: Emit
    detecting: MemoryBudget
    listed: dict[str, Listed] | None = None  # the keys known to exist already (None: unknown)
    listing_trust: ListingTrust = field(default_factory=ListingTrust)
    flight: PartsInFlight | None = None  # None: dry run
    # --compress: compressor state (zstd's window and tables) is memory too. It is paid from a share
    # of --max-memory kept apart from part buffers, so a file holding it never waits on another
    # file's (no deadlock); files wait here for it when many compress at once.
    codecs: MemoryBudget | None = None


CODEC_SHARE = 8  # 1/8 of --max-memory for (de)compressor state, when there is any


def split_budget(
    settings: IngestSettings, sources: list[SourceFile]
) -> tuple[MemoryBudget, MemoryBudget | None]:
    """The part-buffer budget and, with --compress or compressed sources, the (de)compressor-state
    budget beside it."""
    if settings.compress.name == "none" and not any(source.compression for source in sources):
        return MemoryBudget(settings.max_memory), None
    share = max(settings.compress.memory, settings.max_memory // CODEC_SHARE)
    return MemoryBudget(max(settings.part_size, settings.max_memory - share)), MemoryBudget(share)


async def ingest_file(source: SourceFile, ctx: RunContext, key: str | None = None) -> FileResult:
    """One file, never raising for a problem of that file: failures become a 'failed' result.
    key: its object key when already rendered (None: rendered here, or found invalid here)."""
    started = time.monotonic()
    result = FileResult(source, ctx.settings.bucket, key or "", "failed")
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
        result.status = "failed"
        result.error = f"{source.location}: {exc}{checksum_hint(exc, ctx.settings)}"
    result.seconds = time.monotonic() - started
    ctx.emit(FileFinished(result))
    return result


# What stores without flexible checksums answer to an x-amz-checksum-* header they do not know.
REFUSED_CHECKSUM_CODES = {"InvalidArgument", "InvalidRequest", "NotImplemented", "BadRequest", "400", "501"}


def checksum_hint(exc: Exception, settings: IngestSettings) -> str:
    """A request refused as invalid while it carried a checksum header: the store may not know the
    header, and --checksum md5 is the way around it."""
    if not isinstance(exc, S3Error) or exc.code not in REFUSED_CHECKSUM_CODES or settings.checksum == "md5":
        return ""
    name = f"x-amz-checksum-{settings.checksum}"
    return f" (this store may not accept the {name} header: use --checksum md5)"


# Up to this size a file is read, detected and filled into its part (on a re-run: regenerated) on
# the event loop itself: a worker-thread hand-off costs more than the work (20,000 files of 100
# bytes: 1.3 s for open+read in a thread pool, 0.3 s inline), and the work is Python code holding
# the GIL either way. Ambiguous bytes still reach charset-normalizer, a few ms for 64 KiB, which
# the loop can afford.
INLINE_MAX = 64 * KiB


def reads_inline(source: SourceFile) -> bool:
    return not isinstance(source, StdinSource) and source.compression is None and source.size <= INLINE_MAX


def small_member(source: SourceFile) -> bool:
    """A zip member small enough to sample on the event loop, as a small file is (its archive opened,
    a few KiB inflated: less than a thread hand-off)."""
    member = source.member
    return member is not None and member.expanded_size <= INLINE_MAX and member.compress_size <= INLINE_MAX


async def detect_source(source: SourceFile, ctx: RunContext) -> tuple[Detection, str]:
    """The encoding and the fingerprint of a source."""
    if reads_inline(source) or small_member(source):
        return detect_and_fingerprint(source, ctx.settings)
    if isinstance(source, StdinSource):
        size = STDIN_HEAD
    else:
        size = source.size if source.compression is None else DETECTION_MEMORY
        if source.member is not None:  # a small member: not the whole budget (files detect together)
            size = min(size, source.member.expanded_size + 1)
    paid = await ctx.detecting.acquire(size)
    try:
        return await asyncio.to_thread(detect_and_fingerprint, source, ctx.settings)
    finally:
        ctx.detecting.release(paid)


async def _ingest_file(source: SourceFile, ctx: RunContext, result: FileResult) -> FileResult:
    settings, s3, emit = ctx.settings, ctx.s3, ctx.emit
    result.key = result.key or object_key(source, settings)
    detection, fp = await detect_source(source, ctx)
    result.encoding = encoding_info(detection)
    if settings.dry_run or s3 is None:
        result.status = "planned"
        return result
    job = FileJob(
        source, result.key, detection, fp, settings, s3, ctx.budget, emit, settings.resume, flight=ctx.flight
    )
    job.codecs = ctx.codecs
    # With --on-decode-error replace, a guessed encoding is first tried strictly: a sequence that
    # does not decode more likely means a wrong guess (re-detected below) than a damaged file.
    guessed = detection.method in ("ascii", "detected")
    stream = isinstance(source, StdinSource)  # read once: no restart, no re-run check, no resume
    if settings.on_decode_error == "replace" and (not guessed or stream):
        job.errors = "replace"
    job.resume = job.resume and not stream
    if not settings.force and not stream:
        landed = await already_landed(job, ctx.listed, ctx.detecting, ctx.listing_trust)
        if landed is not None and await passes_csv_gate(job, landed, ctx.detecting):
            stored = landed.stored
            result.status, result.etag, result.checksum = "skipped", stored.etag, stored.checksum
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


async def ingest_all(
    sources: list[SourceFile], settings: IngestSettings, s3: S3 | None, emit: Emit
) -> list[FileResult]:
    """Every file, `concurrency` at a time (see max_files_in_flight), part buffers bounded by one
    shared budget; the results in the order of the sources.

    Cancellation (Ctrl-C, SIGTERM) propagates into every file, each of which aborts its upload.
    """
    parts_budget, codecs = split_budget(settings, sources)
    ctx = RunContext(settings, s3, parts_budget, emit, MemoryBudget(DETECTION_MEMORY), codecs=codecs)
    # Rendered once: for the listing, then for each file (its result keeps the same string).
    keys = [key for _, key in key_plan(sources, settings)]
    if s3 is not None and not settings.dry_run:
        ctx.listed = await listed_keys(s3, settings, keys)
        ctx.flight = parts_in_flight(settings, ctx.budget, s3, emit)
    aligned = len(keys) == len(sources)  # else some key is invalid: each file renders its own
    results: list[FileResult | None] = [None] * len(sources)
    pending = iter(enumerate(sources))

    async def worker() -> None:
        # A fixed set of workers pulling the next file, not a task per file waiting its turn:
        # memory does not grow with the number of files.
        for index, source in pending:
            results[index] = await ingest_file(source, ctx, keys[index] if aligned else None)

    async with asyncio.TaskGroup() as group:
        ticker = group.create_task(ctx.flight.run_ticker()) if ctx.flight else None
        workers = [
            group.create_task(worker()) for _ in range(min(max_files_in_flight(settings), len(sources)))
        ]
        await asyncio.gather(*workers, return_exceptions=True)
        if ticker is not None:
            ticker.cancel()
    done = [result for result in results if result is not None]
    assert len(done) == len(sources)  # every worker ran to the end, or the task group raised
    return done


def parts_in_flight(settings: IngestSettings, budget: MemoryBudget, s3: S3, emit: Emit) -> PartsInFlight:
    """The window of part buffers: pinned by --parts-in-flight, else following the link within
    --max-memory."""
    ceiling = max(1, settings.max_memory // settings.part_size)
    pinned = settings.parts_in_flight
    controller = FlightController(
        max_parts=pinned or ceiling,
        min_parts=pinned or MIN_PARTS_IN_FLIGHT,
        start_parts=pinned or START_PARTS,
    )

    def changed(window: int) -> None:
        emit(WindowChanged(window, controller.sending))

    return PartsInFlight(controller, budget, settings.part_size, retries=s3, on_change=changed)
