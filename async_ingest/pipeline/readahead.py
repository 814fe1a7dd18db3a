"""Read-ahead (issue 22): ParallelFiller, a PartFiller whose source is read and transformed ahead on a
thread pool.

A UTF-8 or single-byte source of a plain file is cut into segments that worker threads read
(positional reads) and check or transcode ahead of the part being filled; the C core releases the GIL,
so every core works on one file. What is sequential stays on the filling thread, in order: placing
each segment's output in the part, the CSV scan, the checksums. Segments are small so the read-ahead
costs little memory (paid from the budget: readahead_memory). pipeline/file.py decides when a file
uses it (reads_ahead).
"""

from __future__ import annotations

import math
import mmap
import os
import threading
from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from async_ingest.pipeline.parts import TRANSCODE_SLICE, FilledPart, PartFiller
from async_ingest.s3.checksums import CHECKSUMS, DEFAULT_CHECKSUM, Checksum
from async_ingest.transform import native
from async_ingest.transform.csvcheck import CsvChecker
from async_ingest.transform.detect import codec_traits
from async_ingest.transform.native import CsvPrescan, sbcs_table, sbcs_to_utf8, utf8_check
from async_ingest.transform.transcode import Transcoder
from async_ingest.units import KiB

# 256 KiB: the read-ahead of a single-byte file holds ~2 MB (issue 22: <= 100 MB in all). 512 KiB
# segments filled no faster (the 1 GiB Windows-1252 bench file: ~0.9 GB/s either way, within noise).
SEGMENT = 256 * KiB
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
    # An anonymous mapping, not a bytearray: bytearray(n) writes zeros over all of it, while a
    # mapping's pages are memory only once written, and the UTF-8 of mostly ASCII text takes about a
    # third of the worst case it is sized for (a saving of ~4 MB on a Windows-1252 file).
    output: memoryview | None


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
        # The file is opened once on this path too: the caller's SourceReader opens its file only at its
        # first read, which never comes here (it only closes and checks the file by its path). The fd
        # is the filler's own, not the reader's, because it must outlive every worker's pread: close()
        # waits for them before closing it, while the caller closes the reader first on an error; a
        # shared fd closed under a worker could be reused by another file's open and read silently.
        # Speed is the same either way (one open, one preadv per segment).
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
        return _Slot(source, None if self._utf8 else memoryview(mmap.mmap(-1, 3 * SEGMENT)))

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
