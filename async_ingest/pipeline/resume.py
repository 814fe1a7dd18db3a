"""Unfinished multipart uploads to a key: resumed (--resume) or aborted (a killed earlier run's
would be orphans)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from async_ingest.s3.checksums import Checksum
from async_ingest.s3.model import S3Error
from async_ingest.s3.writer import UploadedPart, abort_upload
from async_ingest.settings import IngestSettings
from async_ingest.sources.files import SourceFile
from async_ingest.units import format_size

if TYPE_CHECKING:  # the S3 face loads botocore: a dry run goes without it
    from async_ingest.s3.client import S3


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


def may_take_parts(source: SourceFile, settings: IngestSettings) -> bool:
    """Whether a file may go in parts, so that its run looks for unfinished uploads to its key (a
    superset of upload_stream's exact test, which needs the detected encoding): a stream, a
    compressed source, or a file larger than one part."""
    return not source.size_known or source.compression is not None or source.size > settings.part_size


async def unfinished_note(s3: S3, bucket: str, key: str, checksum: Checksum, resume: bool) -> str | None:
    """--dry-run: what the run would do with the unfinished uploads to key (as resume_point and
    abort_stale_uploads would, reading only), None when there are none."""
    try:
        uploads = await unfinished_uploads(s3, bucket, key)
        if not uploads:
            return None
        if not resume:
            if len(uploads) == 1:
                return "an unfinished upload to this key would be aborted ({opt:resume} would continue it)"
            count = len(uploads)
            resume_one = "{opt:resume} would continue one"
            return f"{count} unfinished uploads to this key would be aborted ({resume_one})"
        parts, algorithm = await s3.list_parts_and_algorithm(bucket, key, uploads[0])
    except S3Error as exc:
        return f"unfinished uploads not looked for: {exc}"
    if algorithm is not None and algorithm != (checksum.s3_name if checksum.flexible else None):
        return "an unfinished upload to this key would be aborted: it was started with another checksum"
    size = sum(int(part.get("Size", 0)) for part in parts)
    note = f"would resume the unfinished upload ({len(parts)} parts, {format_size(size)})"
    older = len(uploads) - 1
    return note + (f"; {older} older one(s) would be aborted" if older else "")
