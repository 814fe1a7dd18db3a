"""One object written from a stream of parts: a single PutObject when it fits in one part, otherwise a
multipart upload with several parts in flight. Any failure or cancellation aborts the upload, so the
bucket never holds a partial object or orphaned parts (smart_open's writer, done for asyncio)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from async_ingest.budget import MemoryBudget
from async_ingest.parts import Part, content_md5, multipart_etag, same_etag, single_put_etag
from async_ingest.s3 import S3, S3Error

ABORT_ATTEMPTS = 3


class IntegrityError(RuntimeError):
    """The server's ETag is not the one computed from the bytes sent."""


class ResumeMismatch(RuntimeError):
    """A part already on the server is not the part regenerated from the source now."""


@dataclass(frozen=True)
class UploadedPart:
    """A part an interrupted earlier run left on the server (from ListParts)."""

    etag: str
    size: int


@dataclass
class WrittenObject:
    etag: str
    sha256: str
    size: int
    parts: int


def _digests(part: Part, stream_sha256: Any) -> bytes:
    """MD5 of the part (for Content-MD5) and the running SHA-256 of the object, off the event loop
    (hashlib releases the GIL on large buffers)."""
    stream_sha256.update(part)
    return hashlib.md5(part, usedforsecurity=False).digest()


@dataclass
class ObjectWriter:
    s3: S3
    bucket: str
    key: str
    extra: Mapping[str, Any]  # metadata, SSE... for PutObject / CreateMultipartUpload
    budget: MemoryBudget
    reservation_size: int
    verify_etag: bool = True
    on_part: Callable[[int, int], None] = lambda number, size: None
    _held: Part | None = None  # the first full part, kept until we know whether a second follows
    _held_budget: int = 0  # budget paid for the held part
    _filling_budget: int = 0  # budget paid for the part being filled now
    _upload_id: str | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _etags: dict[int, str] = field(default_factory=dict)
    _md5s: dict[int, bytes] = field(default_factory=dict)
    _sha256: Any = field(default_factory=hashlib.sha256)
    _next_number: int = 1
    _size: int = 0
    _uploaded: dict[int, UploadedPart] = field(default_factory=dict)  # --resume: parts already there
    parts_reused: int = 0

    def resume(self, upload_id: str, uploaded: dict[int, UploadedPart]) -> None:
        """Continue an unfinished multipart upload: a regenerated part whose size and MD5 match the
        part already uploaded is not sent again; any other difference raises ResumeMismatch."""
        self._upload_id = upload_id
        self._uploaded = dict(uploaded)

    async def reserve(self) -> None:
        """Pay for the buffer of the next part before reading into it (no-op if already paid)."""
        if not self._filling_budget:
            self._filling_budget = await self.budget.acquire(self.reservation_size)
        self._raise_failed_part()

    async def write_part(self, part: Part, *, input_done: bool = False) -> None:
        """A full part. input_done: the source has been read to its end, so this part may be the
        only one; it is held back, and goes up as a single PutObject if nothing follows. Holding
        only happens once reading is over, so a held part never waits for budget (no deadlock)."""
        budget, self._filling_budget = self._filling_budget, 0
        if self._upload_id is None and self._held is None and input_done:
            self._held, self._held_budget = part, budget
            return
        if self._upload_id is None:
            try:
                await self._start_multipart()
            except BaseException:
                self.budget.release(budget)
                raise
        await self._dispatch(part, budget)

    async def _start_multipart(self) -> None:
        self._upload_id = await self.s3.create_multipart(self.bucket, self.key, self.extra)
        if self._held is not None:
            held, self._held = self._held, None
            held_budget, self._held_budget = self._held_budget, 0
            await self._dispatch(held, held_budget)

    async def finish(self, last: Part) -> WrittenObject:
        """Send what is left and make the object appear (complete or put). Verifies the ETag."""
        if self._upload_id is None and (self._held is None or not last):
            return await self._put(self._held if self._held is not None else last)
        if self._upload_id is None:
            await self._start_multipart()
        if self._uploaded and max(self._uploaded) >= self._next_number + (1 if last else 0):
            raise ResumeMismatch("the server holds more parts than the source makes now; the source changed")
        budget, self._filling_budget = self._filling_budget, 0
        if last:
            await self._dispatch(last, budget)
        else:
            self.budget.release(budget)
        await self._wait_parts()
        etags = sorted(self._etags.items())
        upload_id, self._upload_id = self._upload_id, None
        assert upload_id is not None
        try:
            etag = await self.s3.complete_multipart(self.bucket, self.key, upload_id, etags)
        except BaseException:
            self._upload_id = upload_id  # not completed: abort() must still clean it up
            raise
        await self._verify_landed(etag, multipart_etag([self._md5s[n] for n, _ in etags]))
        return WrittenObject(etag, self._sha256.hexdigest(), self._size, len(etags))

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

    async def _put(self, body: Part) -> WrittenObject:
        md5 = await asyncio.to_thread(_digests, body, self._sha256)
        self._size += len(body)
        try:
            etag = await self.s3.put_object(self.bucket, self.key, body, content_md5(md5), self.extra)
        finally:
            self._release_all()
        await self._verify_landed(etag, single_put_etag(md5))
        self.on_part(1, len(body))
        return WrittenObject(etag, self._sha256.hexdigest(), self._size, 1)

    async def _dispatch(self, part: Part, reservation: int) -> None:
        """Start sending a part; the task owns the part's budget from here on."""
        number = self._next_number
        self._next_number += 1
        try:
            md5 = await asyncio.to_thread(_digests, part, self._sha256)
        except BaseException:
            self.budget.release(reservation)
            raise
        self._md5s[number] = md5
        self._size += len(part)
        if self._reuse(number, len(part), md5):
            self.budget.release(reservation)
            return
        task = asyncio.create_task(self._send(number, part, md5))
        # Released when the task ends in any way, even cancelled before it ever ran.
        task.add_done_callback(lambda _: self.budget.release(reservation))
        self._tasks.append(task)

    async def _send(self, number: int, part: Part, md5: bytes) -> None:
        assert self._upload_id is not None
        etag = await self.s3.upload_part(
            self.bucket, self.key, self._upload_id, number, part, content_md5(md5)
        )
        self._check_etag(etag, single_put_etag(md5))
        self._etags[number] = etag
        self.on_part(number, len(part))

    def _reuse(self, number: int, size: int, md5: bytes) -> bool:
        uploaded = self._uploaded.pop(number, None)
        if uploaded is None:
            return False
        if uploaded.size != size or not same_etag(uploaded.etag, md5.hex()):
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
        """Give back the budget the writer itself holds (parts in flight release their own)."""
        total = self._filling_budget + self._held_budget
        self._filling_budget = self._held_budget = 0
        self._held = None
        if total:
            self.budget.release(total)

    async def _verify_landed(self, returned: str, expected: str) -> None:
        """A complete object whose ETag is wrong is not the data we sent: delete it, fail the file."""
        try:
            self._check_etag(returned, expected)
        except IntegrityError:
            await self.s3.delete_object(self.bucket, self.key)
            raise

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
