"""The re-run check: whether a source's object already landed from the same bytes with the same
options (one listing for the run, a HEAD when the listing cannot tell), and passed as strict a CSV
gate, so the file is skipped rather than uploaded again."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from async_ingest.pipeline.budget import MemoryBudget
from async_ingest.pipeline.gate import GATE_READ, check_source, gate_covered, gate_flags
from async_ingest.pipeline.job import FileJob, reads_inline
from async_ingest.pipeline.parts import PartFiller, same_etag, single_put_etag
from async_ingest.s3.checksums import CHECKSUMS, stored_checksum
from async_ingest.s3.model import Listed, S3Error, StoredObject
from async_ingest.settings import IngestSettings
from async_ingest.transform.csvcheck import CsvRejected
from async_ingest.transform.transcode import DecodeFailure, Transcoder
from async_ingest.units import MiB

if TYPE_CHECKING:  # the S3 face loads botocore: a dry run goes without it
    from async_ingest.s3.client import S3


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
    reader = job.source.open_reader(*job.expansion_bound())
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
