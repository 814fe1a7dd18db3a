"""Filling S3 parts from a source through a transcoder, and the checksum arithmetic of S3 ETags.

No network; the source file is handed in already open."""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from async_ingest.s3.checksums import CHECKSUMS, DEFAULT_CHECKSUM, Checksum
from async_ingest.transform import native
from async_ingest.transform.compression import Compressor
from async_ingest.transform.csvcheck import CsvChecker
from async_ingest.transform.detect import codec_traits
from async_ingest.transform.native import CsvPrescan, sbcs_table, sbcs_to_utf8, utf8_check
from async_ingest.transform.transcode import Transcoder
from async_ingest.units import GiB, KiB, MiB

MIN_PART_SIZE = 5 * MiB  # S3: every part but the last
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 8 * MiB

# Most UTF-8 bytes one source byte can become: a single-byte code page maps 0x80 to U+20AC (3 bytes).
# UTF-16 turns 2 bytes into at most 3; UTF-8 and UTF-32 never grow.
_EXPANSION_BY_CODEC = {"utf-8": 1.0, "utf-32-le": 1.0, "utf-32-be": 1.0, "utf-16-le": 1.5, "utf-16-be": 1.5}
WORST_EXPANSION = 3.0


def max_expansion(codec: str) -> float:
    return _EXPANSION_BY_CODEC.get(codec, WORST_EXPANSION)


def plan_part_size(source_size: int, codec: str, requested: int = DEFAULT_PART_SIZE) -> int:
    """The requested part size, grown (in whole MiB) so the largest possible output fits 10,000 parts.

    The transcoded size is unknown until the end, so plan for the worst expansion of the codec.
    """
    worst_output = math.ceil(source_size * max_expansion(codec))
    needed = math.ceil(worst_output / MAX_PARTS)
    size = max(requested, MIN_PART_SIZE, math.ceil(needed / MiB) * MiB)
    if size > MAX_PART_SIZE:
        raise ValueError(f"a {source_size} byte source cannot fit in {MAX_PARTS} parts of at most 5 GiB")
    return size


def fitting_source_size(codec: str, largest_part: int) -> int:
    """The most source bytes whose worst output fits MAX_PARTS parts of at most largest_part bytes
    (in whole MiB, within S3's part sizes): plan_part_size of it is at most largest_part."""
    largest = min(MAX_PART_SIZE, max(MIN_PART_SIZE, largest_part // MiB * MiB))
    return int(largest * MAX_PARTS // max_expansion(codec))


# The largest --max-expanded-size: a compressed source's output is planned for it, and a source in a
# single-byte code page can triple (10,000 parts of 5 GiB hold ~16.3 TiB of such a source).
MAX_EXPANDED_CEILING = fitting_source_size("cp1252", MAX_PART_SIZE)


Part = bytes | bytearray | memoryview

# Non-UTF-8 sources are read in blocks, then transcoded in slices small enough for the decoded str
# (up to 4 bytes a character) and its UTF-8 to stay in the CPU cache (measured on cp1252 text:
# ~3.9 s per GiB in 16 KiB slices, ~6 s in 64 KiB to 1 MiB ones).
TRANSCODE_BLOCK = 256 * KiB
TRANSCODE_SLICE = 16 * KiB


class Readable(Protocol):
    """The source file, opened unbuffered: readinto fills the part buffer directly."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


@dataclass
class FilledPart:
    """A part buffer and how much of it holds the part, with the part's checksum (in the --checksum
    algorithm) and, when needed, its MD5."""

    buffer: bytearray
    size: int
    digest: bytes
    md5: bytes | None = None  # --checksum md5, or a part --resume compares with an ETag

    @property
    def data(self) -> Part:
        return self.buffer if self.size == len(self.buffer) else memoryview(self.buffer)[: self.size]


class PartFiller:
    """Fills part buffers with the UTF-8 form of a source: one call per part, made for a worker thread
    (reading, checking or transcoding, and hashing a part is one hand-off to a thread, not one per
    block).

    A UTF-8 source is read straight into the part buffer and validated where it lies: its bytes are
    copied once, by the kernel. Other encodings are read in blocks and transcoded; output that does
    not fit the part is kept for the next one. At most `length` source bytes are read: a file that
    grows meanwhile is caught afterwards by its size and time, and output always fits a buffer sized
    for the source's worst expansion.

    Only what the checksum needs is computed: the part's checksum, its MD5 for the part numbers in
    md5_parts (parts --resume compares with ETags), the whole object's SHA-256 if asked.
    """

    def __init__(
        self,
        source: Readable,
        transcoder: Transcoder,
        part_size: int,
        length: int,
        checksum: Checksum = CHECKSUMS[DEFAULT_CHECKSUM],
        *,
        md5_parts: Collection[int] = (),
        whole_sha256: bool = False,
        compressor: Compressor | None = None,
        on_text: Callable[[bytes], None] | None = None,
    ) -> None:
        self.transcoder = transcoder
        # --compress: parts hold the compressed stream (so checksums cover the stored bytes); the
        # UTF-8 text goes to on_text first (the CSV check), and its size is counted in text_bytes.
        self.compressor = compressor
        self.on_text = on_text
        self.text_bytes = 0
        self.part_size = part_size
        self.checksum = checksum
        self.sha256 = hashlib.sha256() if whole_sha256 else None  # of the whole object, part after part
        self.parts = 0  # filled so far: the number of the part being filled, once fill() started
        self._md5_parts = frozenset(md5_parts)
        self._source = source
        self._unread = length
        self._leftover = b""
        self._scratch: bytearray | None = None  # read block of the transcoding path, made on first use

    @property
    def text_checked(self) -> bool:
        """on_text sees the UTF-8 (the CSV check), not the caller after each part."""
        return self.compressor is not None

    @property
    def input_done(self) -> bool:
        """Every source byte has been read (output may still be waiting for the next part)."""
        return self._unread == 0 and self.transcoder.finished

    @property
    def exhausted(self) -> bool:
        return self.input_done and not self._leftover

    def fill(self, buffer: bytearray) -> FilledPart:
        """The next part in buffer: part_size bytes (or the buffer's size, if smaller), or what is
        left at the end. Raises DecodeFailure, or OSError from reading."""
        view = memoryview(buffer)
        limit = min(len(buffer), self.part_size)
        filled = self._place(view, 0, limit, self._take_leftover())
        while filled < limit and self._unread:
            if self.compressor is not None:
                filled = self._read_compressed(view, filled, limit)
            elif self.transcoder.passes_through:
                filled += self._read_checked(view[filled : min(limit, filled + self._unread)])
            else:
                filled = self._read_transcoded(view, filled, limit)
        if not self._unread and not self.transcoder.finished:  # so `exhausted` is known right now
            filled = self._place(view, filled, limit, self._finish_output())
        return self._finish_part(buffer, filled)

    def _finish_part(self, buffer: bytearray, filled: int) -> FilledPart:
        """The part's checksums, once its bytes are in buffer[:filled]."""
        part = memoryview(buffer)[:filled]
        self.parts += 1
        if self.sha256 is not None:
            self.sha256.update(part)
        digest = self.checksum.digest(part)
        if not self.checksum.flexible:
            return FilledPart(buffer, filled, digest, digest)
        md5 = CHECKSUMS["md5"].digest(part) if self.parts in self._md5_parts else None
        return FilledPart(buffer, filled, digest, md5)

    def _read_checked(self, target: memoryview) -> int:
        count = self._read_into(target)
        self.transcoder.validate(target[:count])
        return count

    def _read_transcoded(self, view: memoryview, filled: int, limit: int) -> int:
        if self._scratch is None:
            self._scratch = bytearray(min(TRANSCODE_BLOCK, self._unread))  # a small file: its size
        block = memoryview(self._scratch)[: min(TRANSCODE_BLOCK, self._unread)]
        count = self._read_into(block)
        for offset in range(0, count, TRANSCODE_SLICE):
            piece = block[offset : min(count, offset + TRANSCODE_SLICE)]
            filled = self._place(view, filled, limit, self.transcoder.feed(piece))
        return filled

    def _read_compressed(self, view: memoryview, filled: int, limit: int) -> int:
        """A block of source, as UTF-8 (checked in place, or transcoded), through the compressor."""
        if self._scratch is None:
            self._scratch = bytearray(min(TRANSCODE_BLOCK, self._unread))  # a small file: its size
        block = memoryview(self._scratch)[: min(TRANSCODE_BLOCK, self._unread)]
        count = self._read_into(block)
        if self.transcoder.passes_through:
            self.transcoder.validate(block[:count])
            text = bytes(block[:count])
        else:
            text = b"".join(
                self.transcoder.feed(block[offset : min(count, offset + TRANSCODE_SLICE)])
                for offset in range(0, count, TRANSCODE_SLICE)
            )
        return self._place(view, filled, limit, self._compress(text))

    def _compress(self, text: bytes) -> bytes:
        assert self.compressor is not None
        if not text:
            return b""
        self.text_bytes += len(text)
        if self.on_text is not None:
            self.on_text(text)
        return self.compressor.compress(text)

    def _finish_output(self) -> bytes:
        tail = self.transcoder.finish()
        if self.compressor is None:
            return tail
        return self._compress(tail) + self.compressor.flush()

    def _read_into(self, target: memoryview) -> int:
        count = self._source.readinto(target) or 0
        if count == 0:
            self._unread = 0  # shorter than its size: the caller's check of the file reports it
        self._unread -= count
        return count

    def _place(self, view: memoryview, filled: int, limit: int, data: bytes) -> int:
        take = min(len(data), limit - filled)
        view[filled : filled + take] = data[:take]
        if take < len(data):
            self._leftover += data[take:]
        return filled + take

    def _take_leftover(self) -> bytes:
        leftover, self._leftover = self._leftover, b""
        return leftover


# Read-ahead (issue 22): a UTF-8 or single-byte source of a plain file is cut into segments that
# worker threads read (positional reads) and check or transcode ahead of the part being filled; the C
# core releases the GIL, so every core works on one file. What is sequential stays on the filling
# thread, in order: placing each segment's output in the part, the CSV scan, the checksums. Segments
# are small so the read-ahead costs little memory (paid from the budget: readahead_memory).
SEGMENT = 512 * KiB
_LOOKBACK = 3  # a UTF-8 character starts at most 3 bytes before any byte


def parallel_workers() -> int:
    return os.cpu_count() or 1


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def shared_pool() -> ThreadPoolExecutor:
    """One pool for every file (os.cpu_count() threads): files in flight share the cores."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(parallel_workers(), thread_name_prefix="async_ingest-fill")
        return _POOL


def splits_independently(transcoder: Transcoder) -> bool:
    """UTF-8 (cut at character starts) and single-byte code pages (no state at all) can be read and
    transformed segment by segment; stateful multi-byte encodings stay sequential. Only with the C
    core: the Python twin holds the GIL, so threads would only add hand-offs."""
    codec = transcoder.encoding
    return native.IMPLEMENTATION == "native" and (codec == "utf-8" or codec_traits(codec).single_byte)


def readahead_memory(codec: str, workers: int) -> int:
    """What the read-ahead of ParallelFiller holds at most: its segment slots."""
    return _depth(workers) * _slot_size(codec == "utf-8")


def _depth(workers: int) -> int:
    return 2 * max(1, workers)  # one being worked on and one waiting, per worker


def _slot_size(utf8: bool) -> int:
    source = SEGMENT + _LOOKBACK + 1
    return source if utf8 else source + 3 * SEGMENT  # a single-byte code page triples at most


@dataclass
class _Slot:
    """One segment's buffers, reused: the source bytes and (single-byte code pages) their UTF-8."""

    source: bytearray
    output: bytearray | None


@dataclass
class _Segment:
    """A segment done by a worker: its UTF-8 (a view of the slot), what it read and replaced."""

    slot: _Slot
    text: memoryview | bytes
    source_bytes: int
    replacements: int
    short: bool  # the file ended before the segment did (it shrank): nothing follows
    prescan: CsvPrescan | None = None  # the CSV scan of the segment but its first row, made by its worker
    scanned: threading.Event = field(default_factory=threading.Event)  # on_text has seen text


class ParallelFiller(PartFiller):
    """A PartFiller whose source is read and transformed ahead, segment by segment, on a thread pool.

    The parts, their checksums and the CSV facts are byte for byte those of PartFiller: segments only
    change who transforms which bytes. A segment of a single-byte code page is transformed alone (no
    state). A UTF-8 segment starts and ends at a character start (the last byte that is not a
    continuation byte among the 4 before a nominal boundary), where the sequential decoder is idle or
    about to fail: a strict segment then feeds the next byte to fail as the sequential decoder
    would, a replacing one flushes its held bytes as the U+FFFD that decoder would write.
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        transcoder: Transcoder,
        part_size: int,
        length: int,
        checksum: Checksum = CHECKSUMS[DEFAULT_CHECKSUM],
        *,
        md5_parts: Collection[int] = (),
        whole_sha256: bool = False,
        bom: bytes = b"",
        pool: ThreadPoolExecutor | None = None,
        workers: int | None = None,
        on_text: Callable[[bytes | bytearray | memoryview], None] | None = None,
        csv: CsvChecker | None = None,
    ) -> None:
        super().__init__(
            _NoSource(),
            transcoder,
            part_size,
            length,
            checksum,
            md5_parts=md5_parts,
            whole_sha256=whole_sha256,
        )
        self._fd = os.open(location, os.O_RDONLY)
        self._length = length
        self._bom = bom
        self._utf8 = transcoder.encoding == "utf-8"
        self._table = None if self._utf8 else sbcs_table(transcoder.encoding)
        self._pool = pool or shared_pool()
        self._free = [self._new_slot() for _ in range(_depth(workers or parallel_workers()))]
        self._futures: deque[Future[_Segment]] = deque()
        self._segments = max(1, math.ceil(length / SEGMENT))
        self._submitted = 0
        self._current: _Segment | None = None
        self._offset = 0  # into the current segment's text
        self._ended = False  # every segment has been taken in
        self._closed = False
        # The CSV check (csv, or any on_text) is sequential: the worker that finishes a segment scans
        # every segment that is next in order and done, so the scan runs ahead too, off the filling
        # thread. With csv, each worker first prescans its own segment (all but its first row, which
        # needs the state the scan reaches it with): the in-order part is then a row per segment.
        self._csv = csv
        self._text_sink = csv.feed if csv is not None else on_text
        self._scan_lock = threading.Lock()
        self._done: dict[int, _Segment] = {}
        self._scan_next = 0
        self._scanning = False
        self._fill_readahead()

    @property
    def text_checked(self) -> bool:
        return self._text_sink is not None

    @property
    def input_done(self) -> bool:
        return self._ended and self.transcoder.finished

    @property
    def exhausted(self) -> bool:
        return self.input_done and self._current is None

    def fill(self, buffer: bytearray) -> FilledPart:
        view = memoryview(buffer)
        limit = min(len(buffer), self.part_size)
        filled = 0
        while filled < limit:
            if self._current is None and not self._take_next():
                break
            assert self._current is not None
            text = self._current.text
            take = min(limit - filled, len(text) - self._offset)
            view[filled : filled + take] = text[self._offset : self._offset + take]
            filled += take
            self._offset += take
            if self._offset == len(text):
                self._release(self._current)
                self._current = None
        if self._current is None and not self._futures and self._submitted >= self._segments:
            self._ended = True  # known with the part that took the last byte, as PartFiller knows it
        if self._ended and not self.transcoder.finished:
            self.transcoder.finish()  # nothing held: every segment flushed its own end
            self.close()
        return self._finish_part(buffer, filled)

    def close(self) -> None:
        """Stop the read-ahead: cancel what has not started, wait for what has (it reads the file)."""
        if self._closed:
            return
        self._closed = True
        for future in self._futures:
            future.cancel()
        wait(list(self._futures))
        self._futures.clear()
        os.close(self._fd)

    def _take_next(self) -> bool:
        """The next segment in order as the current one; False at the end. Raises its failure."""
        if not self._futures:
            self._ended = True
            return False
        segment = self._futures.popleft().result()
        self.transcoder.bytes_in += segment.source_bytes
        self.transcoder.bytes_out += len(segment.text)
        self.transcoder.replacements += segment.replacements
        if segment.short:  # the file shrank: stop here; the size check after the last part says so
            self._submitted = self._segments
            for future in self._futures:
                future.cancel()
            wait(list(self._futures))
            self._futures.clear()
        self._current, self._offset = segment, 0
        if not segment.text:
            self._release(segment)
            self._current = None
        self._fill_readahead()
        return True

    def _release(self, segment: _Segment) -> None:
        """The segment's slot back for the next segment, once the CSV scan has read it too."""
        if self._text_sink is not None:
            segment.scanned.wait()
        self._free.append(segment.slot)
        self._fill_readahead()

    def _fill_readahead(self) -> None:
        while self._free and self._submitted < self._segments and not self._closed:
            slot = self._free.pop()
            index = self._submitted
            self._submitted += 1
            self._futures.append(self._pool.submit(self._work, index, slot))

    def _new_slot(self) -> _Slot:
        source = bytearray(SEGMENT + _LOOKBACK + 1)
        return _Slot(source, None if self._utf8 else bytearray(3 * SEGMENT))

    # --- on a worker thread -------------------------------------------------------------------

    def _work(self, index: int, slot: _Slot) -> _Segment:
        segment = self._transform(index, slot)
        if self._csv is not None and index > 0 and segment.text:
            segment.prescan = self._csv.prescan(segment.text)
        if self._text_sink is not None:
            self._scan_in_order(index, segment)
        return segment

    def _scan_in_order(self, index: int, segment: _Segment) -> None:
        """Hand the segment to the scan; scan it and what follows if no other worker is scanning."""
        with self._scan_lock:
            self._done[index] = segment
            if self._scanning:
                return
            self._scanning = True
        while True:
            with self._scan_lock:
                ready = self._done.pop(self._scan_next, None)
                if ready is None:
                    self._scanning = False
                    return
                self._scan_next += 1
            try:
                if ready.text and self._csv is not None:
                    self._csv.feed(ready.text, ready.prescan)
                elif ready.text:
                    assert self._text_sink is not None
                    self._text_sink(ready.text)
            finally:
                ready.scanned.set()

    def _transform(self, index: int, slot: _Slot) -> _Segment:
        start = index * SEGMENT
        end = min(self._length, start + SEGMENT)
        last = index == self._segments - 1
        if not self._utf8:
            count = os.preadv(self._fd, [memoryview(slot.source)[: end - start]], start)
            return self._single_byte(slot, start, count, short=count < end - start)
        low = max(0, start - _LOOKBACK)
        high = end if last else end + 1  # the byte at the end says where the last character starts
        count = os.preadv(self._fd, [memoryview(slot.source)[: high - low]], low)
        short = count < high - low
        data = memoryview(slot.source)[:count]
        begin = 0 if index == 0 else _char_start(data, start - low)
        stop = count if (last or short) else _char_start(data, end - low)
        return self._utf8_segment(slot, data, low, begin, stop, last or short, short)

    def _single_byte(self, slot: _Slot, start: int, count: int, short: bool) -> _Segment:
        assert slot.output is not None and self._table is not None
        data = memoryview(slot.source)[:count]
        if not (start == 0 and self._bom):
            written, replaced, error = sbcs_to_utf8(self._table, data, slot.output, 0, self.transcoder.errors)
            if error == -1:
                return _Segment(slot, memoryview(slot.output)[:written], count, replaced, short)
        text, replaced = self._through_codec(data, start, final=True)
        return _Segment(slot, text, count, replaced, short)

    def _utf8_segment(
        self, slot: _Slot, data: memoryview, low: int, begin: int, stop: int, final: bool, short: bool
    ) -> _Segment:
        piece = data[begin:stop]
        source_bytes = stop - begin
        if not (low == 0 and self._bom):
            _, error, tail = utf8_check(piece)
            if error == -1 and tail == 0:
                return _Segment(slot, piece, source_bytes, 0, short)
        lookahead = b"" if final else bytes(data[stop : stop + 1])
        text, replaced = self._through_codec(piece, low + begin, final=final, lookahead=lookahead)
        return _Segment(slot, text, source_bytes, replaced, short)

    def _through_codec(
        self, data: memoryview, start: int, *, final: bool, lookahead: bytes = b""
    ) -> tuple[bytes, int]:
        """A segment holding a bad sequence (or the BOM) through a Transcoder of its own, placed at
        its offset, so failures and replacements are the sequential ones."""
        transcoder = Transcoder(
            self.transcoder.encoding, errors=self.transcoder.errors, bom=self._bom if start == 0 else b""
        )
        transcoder.bytes_in = start
        text = b"".join(
            transcoder.feed(data[offset : offset + TRANSCODE_SLICE])
            for offset in range(0, len(data), TRANSCODE_SLICE)
        )
        if final or transcoder.errors == "replace":
            text += transcoder.finish()  # replace: a held incomplete sequence becomes one U+FFFD
        elif lookahead:
            transcoder.feed(lookahead)  # strict: a held sequence fails here, as it would in order
        return text, transcoder.replacements


def _char_start(data: memoryview, at: int) -> int:
    """The last position in [at - 3, at] whose byte is not a UTF-8 continuation byte, else at: a
    decoder that read the bytes before it in one go is idle there, or holds bytes it is about to
    reject."""
    for position in range(at, max(-1, at - _LOOKBACK - 1), -1):
        if position < len(data) and data[position] & 0xC0 != 0x80:
            return position
    return at


class _NoSource:
    """ParallelFiller reads by position: the base class's sequential source is never used."""

    def readinto(self, buffer: memoryview, /) -> int | None:
        raise AssertionError("ParallelFiller reads by position")


def single_put_etag(md5_digest: bytes) -> str:
    return f'"{md5_digest.hex()}"'


def multipart_etag(part_md5_digests: list[bytes]) -> str:
    """S3's multipart ETag: MD5 of the concatenated binary part MD5s, then '-' and the part count."""
    combined = hashlib.md5(b"".join(part_md5_digests), usedforsecurity=False).hexdigest()
    return f'"{combined}-{len(part_md5_digests)}"'


def same_etag(a: str, b: str) -> bool:
    return a.strip('"').lower() == b.strip('"').lower()
