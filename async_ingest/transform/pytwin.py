"""The pure-Python twin of the C core (_native.c): same functions, same signatures, same results.

It defines the semantics (CPython's codecs, the CSV check's scan moved here from csvcheck.py) and runs
where the extension is not built or ASYNC_INGEST_NO_EXTENSIONS=1 is set.
tests/unit/test_native_equivalence.py holds the two to identical bytes, offsets, counts and CSV facts.

One module of ~530 lines on purpose (issue 21): it is the module-for-module stand-in of the extension.
The equivalence tests and bench/per_byte.py pass this module where `_native` goes (`NATIVE = pytwin`,
`impl.csv_scan(...)`), native.py falls back to its names one for one, and its sections follow
_native.c's (UTF-8 check, single-byte code page, UTF-16, CSV scan, CSV sync), so the two read side
by side. Split in two, it would need a facade re-exporting both halves to stay that stand-in.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from contextvars import ContextVar
from functools import lru_cache
from typing import NamedTuple, TypeAlias

Buffer: TypeAlias = bytes | bytearray | memoryview  # collections.abc.Buffer from Python 3.12

__all__ = [
    "CsvPrescan",
    "CsvState",
    "csv_finish",
    "csv_join",
    "csv_prescan",
    "csv_scan",
    "csv_state",
    "csv_sync",
    "sbcs_table",
    "sbcs_to_utf8",
    "utf8_check",
    "utf16_to_utf8",
]

FIRST_RAGGED = 5  # line numbers of ragged rows kept for the report
ERRORS_MODES = ("strict", "replace")
UTF8_SLICE = 64 * 1024  # validation decodes to a throw-away str: slices keep it in the CPU cache
_NL = 0x0A
_TABLE_ENTRY = 4  # [UTF-8 length (0: undefined byte), up to 3 UTF-8 bytes]
_UNDEFINED = "\ufffe"  # charmap_decode's mark for a byte without a character

# Python's "replace" handler does not count; this one counts into the call in progress (ContextVar:
# threads calling the twin at the same time keep their own count).
_COUNTER: ContextVar[list[int] | None] = ContextVar("async_ingest_twin_counter", default=None)
_COUNTING = "async_ingest.twin-counting-replace"


def _count_replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    counter = _COUNTER.get()
    if counter is not None:
        counter[0] += 1
    return "\ufffd", exc.end


codecs.register_error(_COUNTING, _count_replace)


def _check_errors(errors: str) -> None:
    if errors not in ERRORS_MODES:
        raise ValueError(f"errors must be 'strict' or 'replace', not '{errors}'")


def utf8_check(data: Buffer) -> tuple[int, int, int]:
    """(valid_len, error_offset or -1, incomplete_tail_len) as CPython's strict incremental decoder sees
    `data`: a sequence cut at the end that may still complete is a tail, not an error."""
    view = memoryview(data).cast("B")
    size, pos = len(view), 0
    while pos < size:
        piece = view[pos : pos + UTF8_SLICE]
        try:
            _, consumed = codecs.utf_8_decode(piece, "strict", False)
        except UnicodeDecodeError as exc:
            return pos + exc.start, pos + exc.start, 0
        pos += consumed
        # A sequence cut by the slice is decoded with the next one; cut by the end, it is the tail.
        if consumed < len(piece) and pos + len(piece) - consumed >= size:
            return pos, -1, size - pos
    return size, -1, 0


@lru_cache(maxsize=64)
def sbcs_table(codec: str) -> bytes | None:
    """The 256 x 4 byte table of a single-byte codec for sbcs_to_utf8, None if a byte decodes to
    something other than one character of at most 3 UTF-8 bytes (then the codec path stays)."""
    entries = bytearray()
    for byte in range(256):
        try:
            text = codecs.decode(bytes((byte,)), codec, "strict")
        except UnicodeDecodeError:
            entries += bytes(_TABLE_ENTRY)
            continue
        try:
            encoded = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            return None
        if len(text) != 1 or len(encoded) > _TABLE_ENTRY - 1 or text == _UNDEFINED:
            return None
        entries += bytes((len(encoded),)) + encoded.ljust(_TABLE_ENTRY - 1, b"\0")
    return bytes(entries)


@lru_cache(maxsize=64)
def _decoding_map(table: bytes) -> tuple[str, int]:
    """charmap_decode's table for `table`, and its longest entry in UTF-8 bytes."""
    chars = []
    for byte in range(256):
        entry = table[_TABLE_ENTRY * byte : _TABLE_ENTRY * (byte + 1)]
        chars.append(entry[1 : 1 + entry[0]].decode("utf-8") if entry[0] else _UNDEFINED)
    return "".join(chars), max(table[0::_TABLE_ENTRY])


def _write(out: Buffer, offset: int, encoded: bytes, needed: int) -> int:
    target = memoryview(out).cast("B")
    if offset < 0 or offset > len(target) or len(target) - offset < needed:
        raise ValueError(f"output buffer too small: {needed} bytes from offset {offset} needed")
    target[offset : offset + len(encoded)] = encoded
    return len(encoded)


def sbcs_to_utf8(
    table: Buffer, data: Buffer, out: Buffer, out_offset: int, errors: str
) -> tuple[int, int, int]:
    """Single-byte code page -> UTF-8 into out[out_offset:]: (written, replacements, error_offset or -1).
    strict stops before the first undefined byte; replace writes U+FFFD for each one and counts it."""
    _check_errors(errors)
    if len(table) != 256 * _TABLE_ENTRY:
        raise ValueError("table must hold 256 entries of 4 bytes")
    mapping, longest = _decoding_map(bytes(table))
    longest = max(longest, 3 if errors == "replace" else 1)
    raw = memoryview(data).cast("B")
    counter = [0]
    token = _COUNTER.set(counter)
    try:
        text, _ = codecs.charmap_decode(raw, _COUNTING if errors == "replace" else "strict", mapping)
        error = -1
    except UnicodeDecodeError as exc:
        text, _ = codecs.charmap_decode(raw[: exc.start], "strict", mapping)
        error = exc.start
    finally:
        _COUNTER.reset(token)
    return _write(out, out_offset, text.encode("utf-8"), len(raw) * longest), counter[0], error


def utf16_to_utf8(
    big_endian: bool, data: Buffer, out: Buffer, out_offset: int, errors: str
) -> tuple[int, int, int, int]:
    """UTF-16 -> UTF-8 into out[out_offset:] as CPython's incremental decoder:
    (written, replacements, error_offset or -1, incomplete_tail_len)."""
    _check_errors(errors)
    raw = memoryview(data).cast("B")
    decode = codecs.utf_16_be_decode if big_endian else codecs.utf_16_le_decode
    counter = [0]
    token = _COUNTER.set(counter)
    try:
        text, consumed = decode(raw, _COUNTING if errors == "replace" else "strict", False)
        error, tail = -1, len(raw) - consumed
    except UnicodeDecodeError as exc:
        text, _ = decode(raw[: exc.start], "strict", False)
        error, tail = exc.start, 0
    finally:
        _COUNTER.reset(token)
    return _write(out, out_offset, text.encode("utf-8"), (len(raw) + 1) // 2 * 3), counter[0], error, tail


# ------------------------------------------------------------------------------------------------------
# The CSV check's scan. RFC 4180 as Python's csv module reads it: a quote opens a quoted field only at
# the start of a field, `""` inside one is a quote, a line end inside one is data; LF and CRLF end rows
# (a lone CR is data); a row of nothing but CRs is a blank line, not a row.


class CsvState(NamedTuple):
    """Where the scan stands between chunks, and what it found so far."""

    delimiter: int  # byte value; 0 (NUL) for a file without delimiter
    quote: int
    header: bool  # the first row is a header: it sets the column count but is no data row
    line: int  # physical line at the current position (1-based)
    row_line: int  # line where the current row started
    row_delims: int
    row_content: bool  # the current row holds a byte other than CR so far
    in_quote: bool
    quote_line: int  # line where the open quoted field started (0 outside quotes but after_close)
    after_close: bool  # the last byte scanned was a closing quote (a quote right after it reopens)
    prev: int  # the last byte scanned (LF before the first)
    rows: int  # data rows: the header and blank lines not counted
    records: int  # non-blank rows, header included
    columns: int  # fields of the first row, 0 until it ends
    ragged_rows: int
    blank_lines: int
    first_ragged_lines: tuple[int, ...]  # line where each of the first FIRST_RAGGED ragged rows starts


def csv_state(delimiter: int, quote: int, header: bool) -> CsvState:
    """The state before the first byte of a file (after its BOM)."""
    return CsvState(delimiter, quote, header, 1, 1, 0, False, False, 0, False, _NL, 0, 0, 0, 0, 0, ())


def csv_finish(state: CsvState) -> CsvState:
    """At the end of the file: a last row without line end (or inside an open quote) still counts."""
    if not (state.row_content or state.in_quote):
        return state
    scan = _Scan(state)
    scan.row_content = True
    scan.end_row(scan.row_delims, True, scan.row_line)
    return scan.state()


def csv_scan(state: CsvState, data: Buffer) -> CsvState:
    """The state after `data`, the next bytes of the file (any boundaries)."""
    if not isinstance(state, CsvState):  # a plain tuple, as the C scan returns one
        state = CsvState._make(state)  # TypeError if it does not have the 17 items
    raw = data if isinstance(data, bytes | bytearray) else bytes(data)
    if not raw:
        return state
    scan = _Scan(state)
    scan.process(raw)
    return scan.state()


# ------------------------------------------------------------------------------------------------------
# The scan of a later piece of the file on another thread (issue 22): csv_prescan needs only the dialect
# and the column count, not the state the scan will have when it reaches the piece; csv_join, in order,
# rescans the short head up to the first certain row start and adds the prescanned rest.


def csv_sync(delimiter: int, quote: int, data: Buffer) -> int:
    """The offset after the first line end that ends a row whatever the state before data; failing
    that, after the first one that does unless a quoted field was open before data; else -1.

    Before data the quote dynamics are one of four: outside a quoted field where a quote opens (after a
    delimiter or line end), outside mid-field (a quote is data), right after a closing quote (a quote
    reopens), inside. A line end all four read outside quotes ends a row in every case; csv_join
    checks the second kind of offset (and scans the piece whole when a quoted field was open)."""
    raw = bytes(data)
    inside = [False, False, False, True]
    closed = [-2, -2, -1, -2]
    opens_first = (True, False, False, False)
    outside = -1
    for i, char in enumerate(raw):
        if char == quote:
            opens = raw[i - 1] in (delimiter, _NL) if i else None
            for k in range(4):
                if inside[k]:
                    inside[k], closed[k] = False, i
                elif closed[k] == i - 1 or (opens_first[k] if opens is None else opens):
                    inside[k] = True
        elif char == _NL and char != delimiter and not any(inside[:3]):
            if not inside[3]:
                return i + 1
            if outside == -1:
                outside = i + 1
    return outside


class CsvPrescan(NamedTuple):
    """A piece's scan made before the state at its start is known."""

    sync: int  # data[sync:] starts a row whatever came before (csv_sync)
    rest: CsvState  # the scan of data[sync:] from a fresh row, its lines counted from 1


def csv_prescan(
    state: CsvState, data: Buffer, *, sync: Callable[[int, int, Buffer], int] | None = None,
    scan: Callable[[CsvState, Buffer], CsvState] | None = None,
) -> CsvPrescan | None:  # fmt: skip
    """The prescan of data, a later piece of the file, given any state of the scan whose dialect and
    column count are known (the first row has ended); None when they are not, or no row starts in data.
    sync and scan: the implementations to use (the twin's by default)."""
    if not state.columns:
        return None
    at = (sync or csv_sync)(state.delimiter, state.quote, data)
    if at < 0:
        return None
    fresh = csv_state(state.delimiter, state.quote, state.header)._replace(columns=state.columns)
    return CsvPrescan(at, (scan or csv_scan)(fresh, memoryview(data)[at:]))


def csv_join(
    state: CsvState, data: Buffer, prescan: CsvPrescan | None,
    scan: Callable[[CsvState, Buffer], CsvState] | None = None,
) -> CsvState:  # fmt: skip
    """csv_scan(state, data), using the prescan of data: only data[:prescan.sync] is scanned here."""
    scan = scan or csv_scan
    if prescan is None:
        return scan(state, data)
    head = scan(state, memoryview(data)[: prescan.sync])
    rest = prescan.rest
    at_row_start = not (head.in_quote or head.row_content or head.row_delims) and head.row_line == head.line
    if not at_row_start or head.columns != rest.columns:  # never, by csv_sync; a whole scan if it were
        return scan(state, data)
    shift = head.line - 1
    ragged = head.first_ragged_lines + tuple(line + shift for line in rest.first_ragged_lines)
    return rest._replace(
        header=head.header,
        line=rest.line + shift,
        row_line=rest.row_line + shift,
        quote_line=rest.quote_line + shift if rest.quote_line else 0,
        rows=head.rows + rest.rows,
        records=head.records + rest.records,
        ragged_rows=head.ragged_rows + rest.ragged_rows,
        blank_lines=head.blank_lines + rest.blank_lines,
        first_ragged_lines=ragged[:FIRST_RAGGED],
    )


QUOTED_BLOCK = 256 * 1024  # lines with quotes are checked in bulk this many bytes at a time
MARK = b"\x01"  # stands for a quoted field once its content is cut out
SPARSE_MARKS = 64  # fewer quoted fields than one per this many bytes: checked one by one


@lru_cache(maxsize=16)
def _tables(delimiter: int, quote: int) -> tuple[bytes, re.Pattern[bytes]]:
    """bytes.translate deletion table keeping delimiters and line ends; the regex of special bytes."""
    keep = {delimiter, _NL}
    delete = bytes(b for b in range(256) if b not in keep)
    special = re.compile(b"[" + re.escape(bytes((delimiter, quote, _NL))) + b"]")
    return delete, special


class _Scan:
    """One chunk's scan, in bulk where possible: a stretch without quotes is reduced with one C-level
    `bytes.translate` to its delimiters and line ends, which for a well-formed stretch equals
    `(delimiter * (columns - 1) + b"\\n") * lines`: one comparison checks every line at once. Only a
    stretch that differs (ragged rows, blank lines) is split into lines; only rows holding a quote are
    walked character by character (over their delimiters, quotes and line ends, with a regex)."""

    def __init__(self, state: CsvState) -> None:
        self.start = state
        self.line, self.row_line, self.row_delims = state.line, state.row_line, state.row_delims
        self.row_content, self.in_quote, self.quote_line = state.row_content, state.in_quote, state.quote_line
        self.closed_at = -1 if state.after_close else -2  # index of the last closing quote in the chunk
        self.prev = state.prev
        self.rows, self.records, self.columns = state.rows, state.records, state.columns
        self.ragged_rows, self.blank_lines = state.ragged_rows, state.blank_lines
        self.first_ragged_lines = list(state.first_ragged_lines)
        self.delim, self.quote = bytes((state.delimiter,)), bytes((state.quote,))
        self.delete, self.special = _tables(state.delimiter, state.quote)
        self.good = self.delim * (self.columns - 1) + b"\n" if self.columns else b""

    def state(self) -> CsvState:
        return self.start._replace(
            line=self.line,
            row_line=self.row_line,
            row_delims=self.row_delims,
            row_content=self.row_content,
            in_quote=self.in_quote,
            # Meaningful only while a quote is open, or may reopen (a doubled quote cut by the chunk's end).
            quote_line=self.quote_line if self.in_quote or self.closed_at == -1 else 0,
            after_close=self.closed_at == -1,
            prev=self.prev,
            rows=self.rows,
            records=self.records,
            columns=self.columns,
            ragged_rows=self.ragged_rows,
            blank_lines=self.blank_lines,
            first_ragged_lines=tuple(self.first_ragged_lines),
        )

    def process(self, raw: bytes | bytearray) -> None:
        pos, size = 0, len(raw)
        while pos < size:
            if self.in_quote or self.closed_at == pos - 1:
                pos = self.exact(raw, pos)
                continue
            quote = raw.find(self.quote, pos)
            if quote == -1:
                self.unquoted(raw, pos, size)
                break
            line_start = max(pos, raw.rfind(b"\n", pos, quote) + 1)
            if line_start > pos:
                self.unquoted(raw, pos, line_start)
            pos = self.quoted(raw, line_start)
        self.prev = raw[-1]
        self.closed_at = -1 if self.closed_at == size - 1 else -2

    def end_row(self, delims: int, content: bool, line: int) -> None:
        if not content:
            self.blank_lines += 1
            return
        self.records += 1
        fields = delims + 1
        if not self.columns:
            self.columns = fields
            self.good = self.delim * (fields - 1) + b"\n"
            if self.start.header:
                return
        self.rows += 1
        if fields != self.columns:
            self.ragged_rows += 1
            if len(self.first_ragged_lines) < FIRST_RAGGED:
                self.first_ragged_lines.append(line)

    def unquoted(self, raw: bytes | bytearray, start: int, end: int) -> None:
        """raw[start:end] holds no quote and starts outside quotes."""
        seg = raw if start == 0 and end == len(raw) else raw[start:end]
        skeleton = seg.translate(None, self.delete)
        first = skeleton.find(b"\n")
        if first == -1:
            self.row_delims += len(skeleton)
            self.row_content = self.row_content or bool(seg.strip(b"\r\n"))
            return
        raw_first, raw_last = seg.find(b"\n"), seg.rfind(b"\n")
        content = self.row_content or bool(seg[:raw_first].strip(b"\r"))
        self.end_row(self.row_delims + first, content, self.row_line)
        self.line += 1
        last = skeleton.rfind(b"\n")
        if last > first:
            self.middle(skeleton[first + 1 : last + 1], seg, raw_first + 1, raw_last + 1)
        self.row_line = self.line
        self.row_delims = len(skeleton) - last - 1
        self.row_content = bool(seg[raw_last + 1 :].strip(b"\r"))

    def middle(self, skeleton: bytes | bytearray, seg: bytes | bytearray, start: int, end: int) -> None:
        """Whole lines seg[start:end] (skeleton: their delimiters and line ends)."""
        lines = skeleton.count(b"\n")
        well_formed = self.columns and skeleton == self.good * lines
        if well_formed and not self.has_blank(seg, start, end):
            self.records += lines
            self.rows += lines
            self.line += lines
            return
        for text in seg[start : end - 1].split(b"\n"):
            self.end_row(text.count(self.delim), bool(text.strip(b"\r")), self.line)
            self.line += 1

    def has_blank(self, seg: bytes | bytearray, start: int, end: int) -> bool:
        """Only a one-column file can hide a blank line (nothing but CRs) in a well-formed skeleton."""
        if self.columns != 1:
            return False
        if seg.find(b"\r\r", start, end) != -1:  # rare: the regex is slower than the finds below
            return bool(_BLANK_FIRST.match(seg, start, end) or _BLANK_INNER.search(seg, start, end))
        return (
            seg.startswith((b"\n", b"\r\n"), start)
            or seg.find(b"\n\n", start, end) != -1
            or seg.find(b"\n\r\n", start, end) != -1
        )

    def quoted(self, raw: bytes | bytearray, start: int) -> int:
        """Whole lines from start (outside quotes) holding quotes, in bulk where they are plain RFC 4180:
        every quoted field cut down to one MARK (split on the quotes, join the pieces outside), the
        result checked as unquoted text. Lines where a quote opens mid-field, text follows a closing
        quote or a quoted field holds a line end are walked exactly instead. Returns where it stopped."""
        end = raw.find(b"\n", start + QUOTED_BLOCK) + 1 or raw.rfind(b"\n", start) + 1
        if end <= start:
            return self.exact(raw, start)
        block = raw[start:end]
        pieces = block.split(self.quote)  # even: outside quotes, odd: inside
        outside: list[bytes | bytearray] = list(pieces[0::2])
        # An odd number of quotes, a MARK in the text, or a line end inside a quoted field.
        if not len(pieces) % 2 or MARK in block or b"\n" in b"".join(pieces[1::2]):
            return self.exact_until(raw, start, end)
        if b"" in outside[1:-1]:  # "" inside a quoted field split it in two: one MARK for both
            outside = [outside[0], *(piece for piece in outside[1:-1] if piece), outside[-1]]
        joined = MARK.join(outside)
        previous = raw[start - 1] if start else self.prev
        if not self.plain_quoting(joined, previous):
            return self.exact_until(raw, start, end)
        self.unquoted(joined, 0, len(joined))
        return end

    def plain_quoting(self, joined: bytes, previous: int) -> bool:
        """Every MARK (quoted field) starts a field and ends one: what RFC 4180 allows."""
        delim, marks = self.delim, joined.count(MARK)
        if marks * SPARSE_MARKS < len(joined):  # few: look at each (multi-byte counts are slow)
            before = (delim[0], _NL)
            index = joined.find(MARK)
            while index != -1:
                if (joined[index - 1] if index else previous) not in before:
                    return False
                if joined[index + 1] not in before and joined[index + 1 : index + 3] != b"\r\n":
                    return False
                index = joined.find(MARK, index + 1)
            return True
        opening = joined.count(delim + MARK) + joined.count(b"\n" + MARK)
        opening += joined.startswith(MARK) and previous in (delim[0], _NL)
        closing = joined.count(MARK + delim) + joined.count(MARK + b"\n") + joined.count(MARK + b"\r\n")
        return opening == marks and closing == marks

    def exact_until(self, raw: bytes | bytearray, pos: int, end: int) -> int:
        while pos < end:
            pos = self.exact(raw, pos)
        return pos

    def exact(self, raw: bytes | bytearray, pos: int) -> int:
        """Walk delimiters, quotes and line ends from pos to the end of the current row (returns the
        position after its line end) or of the chunk."""
        delim, quote = self.delim[0], self.quote[0]
        last = pos - 1  # the last special byte handled
        for match in self.special.finditer(raw, pos):
            i = match.start()
            char = raw[i]
            if self.in_quote:
                if char == quote:  # closes, or is the first of a doubled quote: the next reopens
                    self.in_quote = False
                    self.closed_at = i
                elif char == _NL:
                    self.line += 1
                last = i
                continue
            if not self.row_content and i > last + 1:
                self.row_content = bool(raw[last + 1 : i].strip(b"\r"))
            if char == quote:
                previous = raw[i - 1] if i > 0 else self.prev
                if i - 1 == self.closed_at:
                    self.in_quote = True  # "" inside a quoted field
                elif previous in (delim, _NL):
                    self.in_quote = True
                    self.quote_line = self.line
                self.row_content = True
            elif char == delim:
                self.row_delims += 1
                self.row_content = True
            else:
                self.end_row(self.row_delims, self.row_content, self.row_line)
                self.line += 1
                self.row_line, self.row_delims, self.row_content = self.line, 0, False
                return i + 1
            last = i
        if not self.row_content and not self.in_quote:
            self.row_content = bool(raw[last + 1 :].strip(b"\r"))
        return len(raw)


# A line of nothing but CRs: at the start of the stretch, or after a line end.
_BLANK_FIRST = re.compile(rb"\r*\n")
_BLANK_INNER = re.compile(rb"\n\r*\n")
