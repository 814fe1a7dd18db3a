"""A CSV check of the UTF-8 stream, in the same pass as the upload (no I/O here).

The dialect (delimiter among , ; | and tab, quote character, header or not) is sniffed from the first
64 KiB; then every byte is looked at once, in bulk: the delimiters and quotes of UTF-8 are ASCII, so
the check runs on bytes, never decodes. RFC 4180 rules, as Python's `csv` module reads them: a quote
opens a quoted field only at the start of a field, `""` inside one is a quote, a line end inside one
is data; LF and CRLF end rows (a lone CR is data); blank lines are not rows (as csv.DictReader).

Speed: a chunk without a quote (or the quote-free lines of one) is reduced with one C-level
`bytes.translate` to its delimiters and line ends, which for a well-formed stretch equals
`(delimiter * (columns - 1) + b"\\n") * lines`: one comparison checks every line at once. Only a
stretch that differs (ragged rows, blank lines) is split into lines; only rows holding a quote are
walked character by character (over their delimiters, quotes and line ends, with a regex).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field

SNIFF_BYTES = 64 * 1024
SNIFF_ROWS = 200
CANDIDATES = (",", ";", "|", "\t")
FIRST_RAGGED = 5  # line numbers kept for the report
NOT_CSV_RAGGED_SHARE = 0.5  # most rows ragged: this is no table
FREE_TEXT_LINE = 200  # mean characters a line beyond which one column reads as prose
VIEW_SLICE = 1024 * 1024
QUOTED_BLOCK = 256 * 1024  # lines with quotes are checked in bulk this many bytes at a time
MARK = b"\x01"  # stands for a quoted field once its content is cut out
SPARSE_MARKS = 64  # fewer quoted fields than one per this many bytes: checked one by one
NO_DELIMITER = b"\x00"  # counted as the delimiter of a one-column file: never a field separator
_NL = 0x0A
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Dialect:
    delimiter: str | None  # None: no delimiter found, one column
    quotechar: str
    header: bool
    names: tuple[str, ...]
    not_csv: str | None = None  # why the start of the file does not read as CSV


@dataclass(frozen=True, slots=True)
class CsvStats:
    """What the check found in one file."""

    delimiter: str | None
    quotechar: str
    header: bool
    names: tuple[str, ...]
    columns: int
    rows: int  # data rows: the header and blank lines not counted
    ragged_rows: int  # rows whose field count differs from the header's (first row's)
    first_ragged_lines: tuple[int, ...]  # 1-based line where each of the first few starts
    blank_lines: int
    missing_final_newline: bool
    unterminated_quote_line: int | None  # line where a quote opened that never closed
    not_csv: str | None

    @property
    def header_hash(self) -> str:
        """Short hash of the column names, to tell schema drift at a glance."""
        return header_hash(self.names)

    @property
    def first_bad_line(self) -> int | None:
        found = list(self.first_ragged_lines[:1])
        if self.unterminated_quote_line is not None:
            found.append(self.unterminated_quote_line)
        return min(found) if found else None


def _is_number(text: str) -> bool:
    value = text.strip().replace(",", ".", 1)
    try:
        float(value)
    except ValueError:
        return False
    return True


def _lines(text: str) -> list[str]:
    """The first SNIFF_ROWS non-empty lines, ended by CR LF, CR or LF as the csv module ends them."""
    lines = (line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line)
    return list(itertools.islice(lines, SNIFF_ROWS))


def _rows(text: str, delimiter: str, quotechar: str, lines: list[str] | None = None) -> list[list[str]]:
    if quotechar not in text:
        # Without quotes the csv module's records are the lines split at the delimiter (~10x faster;
        # a sample is below its 128 K field limit, so it never stops early either).
        return [line.split(delimiter) for line in (_lines(text) if lines is None else lines)]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quotechar)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) >= SNIFF_ROWS:
                break
    except csv.Error:
        pass
    return rows


def _score(rows: list[list[str]]) -> tuple[bool, float, int]:
    """Many fields, the same count on most rows: (more than one field, consistency, fields)."""
    if not rows:
        return (False, 0.0, 0)
    counts = Counter(len(row) for row in rows)
    fields, seen = counts.most_common(1)[0]
    return (fields > 1, seen / len(rows), fields)


def sniff(sample: bytes, *, complete: bool, delimiter: str | None = None) -> Dialect:
    """The dialect of a file from its first bytes. complete: the sample is the whole file."""
    if b"\x00" in sample:
        return Dialect(delimiter or None, '"', False, (), "binary content (NUL bytes)")
    end = len(sample) if complete else sample.rfind(b"\n") + 1
    first_line_complete = end > 0
    text = sample[: end or len(sample)].decode("utf-8", errors="replace").removeprefix("\ufeff")
    quotechar = '"'
    # ' quotes only when no " appears and whole fields are in ' on many lines (not an apostrophe).
    # Each such field opens right after a line start or a delimiter: counting those openings first
    # spares the regex on text whose apostrophes sit inside words (it costs ~0.2 ms per 10 KiB).
    needed = max(2, text.count("\n") // 10)
    openings = text.startswith("'") + sum(text.count(lead + "'") for lead in ("\n", *CANDIDATES))
    if '"' not in text and openings >= needed:
        single = re.findall(r"(?:^|[,;|\t])'[^'\n]*'(?:[,;|\t]|\r?$)", text, re.MULTILINE)
        if len(single) >= needed:
            quotechar = "'"
    # A candidate absent from the sample would parse as one field a row: no parse needed to lose.
    candidates = (delimiter,) if delimiter else tuple(d for d in CANDIDATES if d in text)
    unquoted = _lines(text) if quotechar not in text else None
    parsed = {d: _rows(text, d, quotechar, unquoted) for d in candidates}
    scored = [(_score(rows), -i, d) for i, (d, rows) in enumerate(parsed.items())]
    best_score, _, best = max(scored, default=((False, 0.0, 0), 0, ""))
    chosen = best if (delimiter or best_score[0]) else None
    rows = parsed[chosen] if chosen else _rows(text, NO_DELIMITER.decode(), quotechar, unquoted)
    header = bool(rows) and first_line_complete and _looks_like_header(rows[0])
    names = tuple(rows[0]) if header else ()
    not_csv = None
    lines = text.count("\n") or 1
    if chosen is None and len(text) / lines > FREE_TEXT_LINE:
        not_csv = "no delimiter and long lines: free text, not a table"
    return Dialect(chosen, quotechar, header, names, not_csv)


def _looks_like_header(row: list[str]) -> bool:
    """A header names its columns: no empty, numeric or repeated field."""
    stripped = [f.strip() for f in row]
    return all(stripped) and not any(map(_is_number, stripped)) and len(set(stripped)) == len(stripped)


_NAMES: dict[tuple[str, ...], tuple[str, ...]] = {}


def _shared_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """One tuple per distinct header in a run: a folder of 20,000 exports of one table keeps one."""
    if len(_NAMES) > 10_000:
        _NAMES.clear()
    return _NAMES.setdefault(names, names)


@dataclass
class CsvChecker:
    """Feed consecutive UTF-8 chunks (any boundaries), then finish() for the stats."""

    delimiter: str | None = None  # forced (--delimiter); else sniffed
    sniff_bytes: int = SNIFF_BYTES  # smaller in tests, so chunk boundaries fall after the sniff
    dialect: Dialect | None = None
    rows: int = 0
    records: int = 0  # non-blank rows, header included
    columns: int | None = None
    ragged_rows: int = 0
    first_ragged_lines: list[int] = field(default_factory=list)
    blank_lines: int = 0
    _pending: bytearray = field(default_factory=bytearray)  # before the sniff
    _started: bool = False  # a first byte was processed (BOM check done)
    _line: int = 1  # physical line at the current position
    _row_line: int = 1
    _row_delims: int = 0
    _row_content: bool = False
    _in_quote: bool = False
    _quote_line: int = 0
    _closed_at: int = -2  # index of the last closing quote; -1: the last byte of the previous chunk
    _prev: int = _NL
    _delim: bytes = b","
    _quote: bytes = b'"'
    _delete: bytes = b""
    _good: bytes = b"\n"
    _special: re.Pattern[bytes] | None = None
    _finished: CsvStats | None = None

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        if self.dialect is None:
            if self._pending or len(chunk) < self.sniff_bytes:
                self._pending += chunk
                if len(self._pending) < self.sniff_bytes:
                    return
                chunk, self._pending = self._pending, bytearray()
            sample = bytes(chunk[: self.sniff_bytes])
            self._set_dialect(sniff(sample, complete=False, delimiter=self.delimiter))
        if not isinstance(chunk, memoryview):
            self._process(chunk)
            return
        # A view (the part buffer's filled prefix) is copied a slice at a time: memory stays flat.
        for start in range(0, len(chunk), VIEW_SLICE):
            self._process(bytes(chunk[start : start + VIEW_SLICE]))

    def finish(self) -> CsvStats:
        if self._finished is not None:
            return self._finished
        if self.dialect is None:
            pending, self._pending = bytes(self._pending), bytearray()
            self._set_dialect(sniff(pending, complete=True, delimiter=self.delimiter))
            self._process(pending)
        unterminated = self._quote_line if self._in_quote else None
        missing_newline = self._row_content or self._in_quote
        if missing_newline:
            self._end_row(self._row_delims, True, self._row_line)
        assert self.dialect is not None
        not_csv = self.dialect.not_csv
        if not_csv is None and self.records >= 10 and self.ragged_rows > NOT_CSV_RAGGED_SHARE * self.records:
            not_csv = "the number of fields differs on most rows"
        self._finished = CsvStats(
            delimiter=self.dialect.delimiter,
            quotechar=self.dialect.quotechar,
            header=self.dialect.header,
            names=_shared_names(self.dialect.names),
            columns=self.columns or 0,
            rows=self.rows,
            ragged_rows=self.ragged_rows,
            first_ragged_lines=tuple(self.first_ragged_lines),
            blank_lines=self.blank_lines,
            missing_final_newline=missing_newline,
            unterminated_quote_line=unterminated,
            not_csv=not_csv,
        )
        return self._finished

    @property
    def header_names(self) -> tuple[str, ...] | None:
        """The header's names once the dialect is known (None before; () without a header)."""
        return None if self.dialect is None else self.dialect.names

    @property
    def stats(self) -> CsvStats | None:
        """The stats once finish() has run."""
        return self._finished

    def _set_dialect(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._delim = dialect.delimiter.encode() if dialect.delimiter else NO_DELIMITER
        self._quote = dialect.quotechar.encode()
        keep = {self._delim[0], _NL}
        self._delete = bytes(b for b in range(256) if b not in keep)
        self._special = re.compile(b"[" + re.escape(self._delim + self._quote + b"\n") + b"]")

    def _process(self, raw: bytes | bytearray) -> None:
        if not self._started and raw:
            self._started = True
            if raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
        if not raw:
            return
        pos, size = 0, len(raw)
        while pos < size:
            if self._in_quote or self._closed_at == pos - 1:
                pos = self._exact(raw, pos)
                continue
            quote = raw.find(self._quote, pos)
            if quote == -1:
                self._unquoted(raw, pos, size)
                break
            line_start = max(pos, raw.rfind(b"\n", pos, quote) + 1)
            if line_start > pos:
                self._unquoted(raw, pos, line_start)
            pos = self._quoted(raw, line_start)
        self._prev = raw[-1]
        self._closed_at = -1 if self._closed_at == size - 1 else -2

    def _end_row(self, delims: int, content: bool, line: int) -> None:
        if not content:
            self.blank_lines += 1
            return
        self.records += 1
        fields = delims + 1
        if self.columns is None:
            self.columns = fields
            self._good = self._delim * (fields - 1) + b"\n"
            assert self.dialect is not None
            if self.dialect.header:
                return
        self.rows += 1
        if fields != self.columns:
            self.ragged_rows += 1
            if len(self.first_ragged_lines) < FIRST_RAGGED:
                self.first_ragged_lines.append(line)

    def _unquoted(self, raw: bytes | bytearray, start: int, end: int) -> None:
        """raw[start:end] holds no quote and starts outside quotes."""
        seg = raw if start == 0 and end == len(raw) else raw[start:end]
        skeleton = seg.translate(None, self._delete)
        first = skeleton.find(b"\n")
        if first == -1:
            self._row_delims += len(skeleton)
            self._row_content = self._row_content or bool(seg.strip(b"\r\n"))
            return
        raw_first, raw_last = seg.find(b"\n"), seg.rfind(b"\n")
        content = self._row_content or bool(seg[:raw_first].strip(b"\r"))
        self._end_row(self._row_delims + first, content, self._row_line)
        self._line += 1
        last = skeleton.rfind(b"\n")
        if last > first:
            self._middle(skeleton[first + 1 : last + 1], seg, raw_first + 1, raw_last + 1)
        self._row_line = self._line
        self._row_delims = len(skeleton) - last - 1
        self._row_content = bool(seg[raw_last + 1 :].strip(b"\r"))

    def _middle(self, skeleton: bytes | bytearray, seg: bytes | bytearray, start: int, end: int) -> None:
        """Whole lines seg[start:end] (skeleton: their delimiters and line ends)."""
        lines = skeleton.count(b"\n")
        well_formed = self.columns is not None and skeleton == self._good * lines
        if well_formed and not self._has_blank(seg, start, end):
            self.records += lines
            self.rows += lines
            self._line += lines
            return
        for text in seg[start : end - 1].split(b"\n"):
            self._end_row(text.count(self._delim), bool(text.strip(b"\r")), self._line)
            self._line += 1

    def _has_blank(self, seg: bytes | bytearray, start: int, end: int) -> bool:
        """Only a one-column file can hide a blank line in a well-formed skeleton."""
        if self.columns != 1:
            return False
        return (
            seg.startswith((b"\n", b"\r\n"), start)
            or seg.find(b"\n\n", start, end) != -1
            or seg.find(b"\n\r\n", start, end) != -1
        )

    def _quoted(self, raw: bytes | bytearray, start: int) -> int:
        """Whole lines from start (outside quotes) holding quotes, in bulk where they are plain RFC 4180:
        every quoted field cut down to one MARK (split on the quotes, join the pieces outside), the
        result checked as unquoted text. Lines where a quote opens mid-field, text follows a closing
        quote or a quoted field holds a line end are walked exactly instead. Returns where it stopped."""
        end = raw.find(b"\n", start + QUOTED_BLOCK) + 1 or raw.rfind(b"\n", start) + 1
        if end <= start:
            return self._exact(raw, start)
        block = raw[start:end]
        pieces = block.split(self._quote)  # even: outside quotes, odd: inside
        outside: list[bytes | bytearray] = list(pieces[0::2])
        # An odd number of quotes, a MARK in the text, or a line end inside a quoted field.
        if not len(pieces) % 2 or MARK in block or b"\n" in b"".join(pieces[1::2]):
            return self._exact_until(raw, start, end)
        if b"" in outside[1:-1]:  # "" inside a quoted field split it in two: one MARK for both
            outside = [outside[0], *(piece for piece in outside[1:-1] if piece), outside[-1]]
        joined = MARK.join(outside)
        previous = raw[start - 1] if start else self._prev
        if not self._plain_quoting(joined, previous):
            return self._exact_until(raw, start, end)
        self._unquoted(joined, 0, len(joined))
        return end

    def _plain_quoting(self, joined: bytes, previous: int) -> bool:
        """Every MARK (quoted field) starts a field and ends one: what RFC 4180 allows."""
        delim, marks = self._delim, joined.count(MARK)
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

    def _exact_until(self, raw: bytes | bytearray, pos: int, end: int) -> int:
        while pos < end:
            pos = self._exact(raw, pos)
        return pos

    def _exact(self, raw: bytes | bytearray, pos: int) -> int:
        """Walk delimiters, quotes and line ends from pos to the end of the current row (returns the
        position after its line end) or of the chunk."""
        assert self._special is not None
        delim, quote = self._delim[0], self._quote[0]
        last = pos - 1  # the last special byte handled
        for match in self._special.finditer(raw, pos):
            i = match.start()
            char = raw[i]
            if self._in_quote:
                if char == quote:  # closes, or is the first of a doubled quote: the next reopens
                    self._in_quote = False
                    self._closed_at = i
                elif char == _NL:
                    self._line += 1
                last = i
                continue
            if not self._row_content and i > last + 1:
                self._row_content = bool(raw[last + 1 : i].strip(b"\r"))
            if char == quote:
                previous = raw[i - 1] if i > 0 else self._prev
                if i - 1 == self._closed_at:
                    self._in_quote = True  # "" inside a quoted field
                elif previous in (delim, _NL):
                    self._in_quote = True
                    self._quote_line = self._line
                self._row_content = True
            elif char == delim:
                self._row_delims += 1
                self._row_content = True
            else:
                self._end_row(self._row_delims, self._row_content, self._row_line)
                self._line += 1
                self._row_line, self._row_delims, self._row_content = self._line, 0, False
                return i + 1
            last = i
        if not self._row_content and not self._in_quote:
            self._row_content = bool(raw[last + 1 :].strip(b"\r"))
        return len(raw)


class CsvRejected(Exception):
    """--csv-check strict or an --expect-* option refuses the file: its upload is aborted."""


DELIMITER_NAMES = {",": "comma", ";": "semicolon", "|": "pipe", "\t": "tab"}


def header_hash(names: tuple[str, ...]) -> str:
    return hashlib.sha256("\x1f".join(names).encode()).hexdigest()[:16]


@dataclass
class CsvPolicy:
    """What makes a file fail: --csv-check strict, --expect-columns, --expect-header."""

    mode: str = "report"  # off | report | strict
    expect_columns: int | None = None
    expect_header: tuple[str, ...] | None = None
    _header_checked: bool = False

    def check(self, checker: CsvChecker, stats: CsvStats | None) -> None:
        """After each part (stats: after the last one). Raises CsvRejected."""
        first_row_done = checker.columns is not None or stats is not None
        if not self._header_checked and checker.dialect is not None and first_row_done:
            self._header_checked = True  # once the first row is complete: with the first part
            problem = self.header_problem(checker.dialect, checker.columns or 0)
            if problem:
                raise CsvRejected(f"schema drift: {problem}")
        if self.mode != "strict":
            return
        unterminated = stats.unterminated_quote_line if stats is not None else None
        ragged = checker.first_ragged_lines[0] if checker.first_ragged_lines else None
        if unterminated is not None and (ragged is None or unterminated <= ragged):
            raise CsvRejected(f"CSV check (strict): line {unterminated}: a quote opened there never closes")
        if ragged is not None:
            raise CsvRejected(
                f"CSV check (strict): line {ragged}: the number of fields differs from the header's "
                f"{checker.columns}"
            )

    def header_problem(self, dialect: Dialect, columns: int) -> str | None:
        names = dialect.names
        if self.expect_header is not None and names != self.expect_header:
            found = ",".join(names) if dialect.header else "no header"
            return f"expected header {','.join(self.expect_header)}, found {found}"
        if self.expect_columns is not None and columns != self.expect_columns:
            return f"expected {self.expect_columns} columns, found {columns}"
        return None


def csv_metadata(checker: CsvChecker) -> dict[str, str]:
    """Object metadata known so far (S3 sets it when the upload starts: rows only for a single PUT)."""
    if checker.dialect is None:
        return {}
    dialect = checker.dialect
    metadata = {"csv-delimiter": DELIMITER_NAMES.get(dialect.delimiter or "", "none")}
    if checker.columns is not None:
        metadata["csv-columns"] = str(checker.columns)
    if dialect.header:
        metadata["csv-header-sha"] = header_hash(dialect.names)
    if checker.stats is not None:
        metadata["csv-rows"] = str(checker.stats.rows)
    return metadata
