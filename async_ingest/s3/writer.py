"""One object written from a stream of parts: a single PutObject when it fits in one part, otherwise a
multipart upload with several parts in flight. Any failure or cancellation aborts the upload, so the
bucket never holds a partial object or orphaned parts (smart_open's writer, done for asyncio)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from async_ingest.pipeline.budget import MemoryBudget
from async_ingest.pipeline.flight import PartsInFlight
from async_ingest.pipeline.parts import FilledPart, multipart_etag, same_etag, single_put_etag
from async_ingest.s3.checksums import (
    CHECKSUMS,
    DEFAULT_CHECKSUM,
    Checksum,
    StoredChecksum,
    b64,
    stored_checksum,
)
from async_ingest.s3.model import S3Error, StoredObject

if TYPE_CHECKING:  # the S3 face loads botocore: a dry run goes without it
    from async_ingest.s3.client import S3

ABORT_ATTEMPTS = 3
# A part being sent reports its bytes at most this often (on_sending): enough for a bar to move
# smoothly, few enough that many parts in flight never flood the event loop; a part sent quicker
# reports nothing (its acknowledgement follows at once).
SENDING_EVERY_S = 0.1


class IntegrityError(RuntimeError):
    """The server's checksum (or ETag) is not the one computed from the bytes sent."""


class ResumeMismatch(RuntimeError):
    """A part already on the server is not the part regenerated from the source now."""


@dataclass(frozen=True)
class UploadedPart:
    """A part an interrupted earlier run left on the server (from ListParts)."""

    etag: str
    size: int
    checksum: str | None = None  # base64, in the upload's algorithm, if ListParts gives it


@dataclass
class WrittenObject:
    etag: str
    size: int
    parts: int
    checksum: StoredChecksum | None = None  # what S3 stores for the object


@dataclass
class ObjectWriter:
    s3: S3
    bucket: str
    key: str
    extra: Mapping[str, Any]  # metadata, SSE... for PutObject / CreateMultipartUpload
    budget: MemoryBudget
    reservation_size: int
    verify_etag: bool = True  # --checksum md5 only (an SSE-KMS ETag is no MD5)
    checksum: Checksum = CHECKSUMS[DEFAULT_CHECKSUM]
    on_part: Callable[[int, int], None] = lambda number, size: None
    # (number, sent, size): a part's bytes written so far in this attempt, at most every SENDING_EVERY_S
    on_sending: Callable[[int, int, int], None] | None = None
    flight: PartsInFlight | None = None  # told how long each part took to send
    _held: FilledPart | None = None  # the first full part, kept until we know whether a second follows
    _filling: bytearray | None = None  # the paid buffer of the part being filled now
    _upload_id: str | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _etags: dict[int, str] = field(default_factory=dict)
    _digests: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # part checksum and size
    _next_number: int = 1
    _size: int = 0
    _uploaded: dict[int, UploadedPart] = field(default_factory=dict)  # --resume: parts already there
    _resumed: bool = False
    parts_reused: int = 0

    def resume(self, upload_id: str, uploaded: dict[int, UploadedPart]) -> None:
        """Continue an unfinished multipart upload: a regenerated part whose size and checksum (the
        one ListParts gives, else the ETag as MD5) match the part already uploaded is not sent again;
        any other difference raises ResumeMismatch."""
        self._upload_id = upload_id
        self._uploaded = dict(uploaded)
        self._resumed = True

    async def next_buffer(self) -> bytearray:
        """The paid buffer to fill with the next part (the same one until it is written)."""
        if self._filling is None:
            self._filling = await self.budget.take_buffer(self.reservation_size)
        self._raise_failed_part()
        return self._filling

    async def write_part(self, part: FilledPart, *, input_done: bool = False) -> None:
        """A full part, in the buffer from next_buffer(). input_done: the source has been read to its
        end, so this part may be the only one; it is held back, and goes up as a single PutObject
        if nothing follows. Holding only happens once reading is over, so a held part never waits
        for budget (no deadlock)."""
        self._filling = None  # the part owns its buffer from here on
        if self._upload_id is None and self._held is None and input_done:
            self._held = part
            return
        if self._upload_id is None:
            try:
                await self._start_multipart()
            except BaseException:
                self.budget.return_buffer(part.buffer)
                raise
        self._dispatch(part)

    async def _start_multipart(self) -> None:
        extra = {**self.extra, **self.checksum.create_args()}
        self._upload_id = await self.s3.create_multipart(self.bucket, self.key, extra)
        if self._held is not None:
            held, self._held = self._held, None
            self._dispatch(held)

    async def finish(self, last: FilledPart) -> WrittenObject:
        """Send the last part (possibly empty) and make the object appear (complete or put).
        Verifies the ETag."""
        self._filling = None
        if self._upload_id is None and (self._held is None or not last.size):
            if self._held is None:
                return await self._put(last)
            self.budget.return_buffer(last.buffer)
            return await self._put(self._held)
        if self._upload_id is None:
            try:
                await self._start_multipart()
            except BaseException:
                self.budget.return_buffer(last.buffer)
                raise
        if self._uploaded and max(self._uploaded) >= self._next_number + (1 if last.size else 0):
            self.budget.return_buffer(last.buffer)
            raise ResumeMismatch("the server holds more parts than the source makes now; the source changed")
        if last.size:
            self._dispatch(last)
        else:
            self.budget.return_buffer(last.buffer)
        await self._wait_parts()
        numbers = sorted(self._etags)
        pieces = [self._digests[n] for n in numbers]
        parts = [
            {"PartNumber": n, "ETag": self._etags[n], **self.checksum.part_entry(self._digests[n][0])}
            for n in numbers
        ]
        upload_id, self._upload_id = self._upload_id, None
        assert upload_id is not None
        try:
            stored = await self.s3.complete_multipart(
                self.bucket,
                self.key,
                upload_id,
                parts,
                self.checksum.complete_args(pieces),
                self.checksum.s3_name,
            )
        except BaseException:
            self._upload_id = upload_id  # not completed: abort() must still clean it up
            raise
        checksum = await self._verify_landed(stored, pieces, multipart=True)
        return WrittenObject(stored.etag, self._size, len(numbers), checksum)

    async def abort(self) -> None:
        """Cancel parts in flight and abort the multipart upload; safe to call more than once."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._release_all()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is not None:
            await abort_upload(self.s3, self.bucket, self.key, upload_id)

    async def _put(self, part: FilledPart) -> WrittenObject:
        self._held = None
        self._size += part.size
        try:
            stored = await self.s3.put_object(
                self.bucket,
                self.key,
                part.data,
                self.checksum.request_args(part.digest),
                self.extra,
                on_sent=self._sending(1, part.size),
            )
        finally:
            self.budget.return_buffer(part.buffer)
            self._release_all()
        checksum = await self._verify_landed(stored, [(part.digest, part.size)], multipart=False)
        self.on_part(1, part.size)
        return WrittenObject(stored.etag, self._size, 1, checksum)

    def _dispatch(self, part: FilledPart) -> None:
        """Start sending a part; the task owns the part's buffer from here on."""
        number = self._next_number
        self._next_number += 1
        self._digests[number] = (part.digest, part.size)
        self._size += part.size
        if self._reuse(number, part):
            self.budget.return_buffer(part.buffer)
            return
        task = asyncio.create_task(self._send(number, part))
        # Returned when the task ends in any way, even cancelled before it ever ran.
        task.add_done_callback(lambda _: self.budget.return_buffer(part.buffer))
        self._tasks.append(task)

    async def _send(self, number: int, part: FilledPart) -> None:
        assert self._upload_id is not None
        ticket = self.flight.started(part.size) if self.flight else None
        landed = False
        try:
            etag = await self.s3.upload_part(
                self.bucket,
                self.key,
                self._upload_id,
                number,
                part.data,
                self.checksum.request_args(part.digest),
                on_sent=self._sending(number, part.size),
            )
            landed = True
        finally:
            if self.flight and ticket:
                self.flight.ended(ticket, landed=landed)
        if not self.checksum.flexible:  # a flexible checksum is verified by the server itself
            self._check_etag(etag, single_put_etag(part.digest))
        self._etags[number] = etag
        self.on_part(number, part.size)

    def _sending(self, number: int, size: int) -> Callable[[int], None] | None:
        """The body's per-slice callback for one part, coalesced to on_sending at most every
        SENDING_EVERY_S (a retry reports from 0 again: whoever counts takes the most per part)."""
        report = self.on_sending
        if report is None:
            return None
        last = time.monotonic()

        def sent(count: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= SENDING_EVERY_S:
                last = now
                report(number, count, size)

        return sent

    def _reuse(self, number: int, part: FilledPart) -> bool:
        uploaded = self._uploaded.pop(number, None)
        if uploaded is None:
            return False
        if uploaded.checksum is not None and self.checksum.flexible:
            same = uploaded.checksum == b64(part.digest)
        else:  # the server lists no part checksums (SeaweedFS): its ETag is the part's MD5
            same = part.md5 is not None and same_etag(uploaded.etag, part.md5.hex())
        size = part.size
        if uploaded.size != size or not same:
            raise ResumeMismatch(
                f"part {number} on the server differs from the source now; the source changed since "
                "the interrupted run"
            )
        self._etags[number] = uploaded.etag
        self.parts_reused += 1
        self.on_part(number, size)
        return True

    def _raise_failed_part(self) -> None:
        """Surface a failed part early instead of reading the rest of a file that cannot land."""
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _wait_parts(self) -> None:
        try:
            await asyncio.gather(*self._tasks)
        finally:
            self._tasks = [t for t in self._tasks if not t.done()]

    def _release_all(self) -> None:
        """Give back the buffers the writer itself holds (parts in flight return their own)."""
        held, self._held = self._held, None
        filling, self._filling = self._filling, None
        for buffer in (held.buffer if held else None, filling):
            if buffer is not None:
                self.budget.return_buffer(buffer)

    async def _verify_landed(
        self, stored: StoredObject, pieces: list[tuple[bytes, int]], *, multipart: bool
    ) -> StoredChecksum | None:
        """A complete object whose checksum (or ETag) is wrong is not the data we sent: delete it,
        fail the file. Returns the checksum S3 stores, verified."""
        try:
            if not self.checksum.flexible:
                digests = [digest for digest, _ in pieces]
                self._check_etag(
                    stored.etag, multipart_etag(digests) if multipart else single_put_etag(digests[0])
                )
                return stored.checksum
            answer = "CompleteMultipartUpload" if multipart else "PutObject"
            checksum, source = stored.checksum, f"the {answer} answer"
            if not self._carries_checksum(checksum):
                # Some stores (moto) leave the checksum out of the CompleteMultipartUpload answer yet
                # keep it: HeadObject with ChecksumMode shows what is stored.
                checksum, source = await self._head_checksum(), f"HeadObject; the {answer} answer had none"
            missing = f"neither the {answer} answer nor HeadObject"
            expected = self.checksum.object_value(pieces, multipart=multipart)
            self._check_checksum(checksum, expected, source, missing)
            return checksum
        except (IntegrityError, ResumeMismatch, S3Error):
            # S3Error: the HEAD failed, so the object is unverified and must not stay.
            await self.s3.delete_object(self.bucket, self.key)
            raise

    def _carries_checksum(self, checksum: StoredChecksum | None) -> bool:
        return checksum is not None and checksum.algorithm == self.checksum.s3_name

    async def _head_checksum(self) -> StoredChecksum | None:
        head = await self.s3.head_object(self.bucket, self.key)
        return stored_checksum(head, self.checksum.s3_name) if head is not None else None

    def _check_checksum(
        self, stored: StoredChecksum | None, expected: str, source: str, missing: str
    ) -> None:
        """source: the answer the stored value was read from; missing: the answers that lacked one."""
        name = self.checksum.s3_name
        if not self._carries_checksum(stored):
            if self._resumed:  # SeaweedFS ignores the checksum of an upload started without one
                raise ResumeMismatch(f"the unfinished upload was not started with {name}")
            raise IntegrityError(
                f"s3://{self.bucket}/{self.key}: the server returned no {name} checksum for the object "
                f"({missing} carried one), so the object was deleted; this store may not support S3 "
                "checksums: use {opt:checksum=md5}"
            )
        assert stored is not None
        if stored.value != expected:
            raise IntegrityError(
                f"s3://{self.bucket}/{self.key}: server {name} {stored.value} (from {source}) does not match "
                f"the {expected} computed from the bytes sent, so the object was deleted"
            )

    def _check_etag(self, returned: str, expected: str) -> None:
        if self.verify_etag and not same_etag(returned, expected):
            raise IntegrityError(
                f"s3://{self.bucket}/{self.key}: server ETag {returned} does not match the {expected} "
                "computed from the bytes sent"
            )


async def abort_upload(s3: S3, bucket: str, key: str, upload_id: str) -> None:
    """Abort, and abort again while the server still lists parts (a part in flight during the first
    abort can land after it)."""
    for _ in range(ABORT_ATTEMPTS):
        try:
            await s3.abort_multipart(bucket, key, upload_id)
        except S3Error as exc:
            if exc.code in ("NoSuchUpload", "404"):
                return
            raise
        try:
            if not await s3.list_parts(bucket, key, upload_id):
                return
        except S3Error:
            return  # NoSuchUpload: gone
