"""A CSV check of the UTF-8 stream, in the same pass as the upload (no I/O here).

The dialect (delimiter among , ; | and tab, quote character, header or not) is sniffed from the first
64 KiB; then every byte is looked at once, in bulk: the delimiters and quotes of UTF-8 are ASCII, so
the check runs on bytes, never decodes. RFC 4180 rules, as Python's `csv` module reads them: a quote
opens a quoted field only at the start of a field, `""` inside one is a quote, a line end inside one
is data; LF and CRLF end rows (a lone CR is data); blank lines are not rows (as csv.DictReader).

Speed: the scan itself (rows, fields per row, quote state across chunks) is
async_ingest.transform's csv_scan: a C walk over 64-byte blocks of bit masks when the extension is
built, else its pure-Python twin (bulk `bytes.translate` and comparisons, a regex walk only on rows
holding quotes). Both give identical facts (tests/unit/test_native_equivalence.py).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field

from async_ingest.transform import pytwin
from async_ingest.transform.native import (
    Buffer,
    CsvPrescan,
    CsvState,
    csv_finish,
    csv_join,
    csv_prescan,
    csv_scan,
    csv_state,
)

SNIFF_BYTES = 64 * 1024
# A first line longer than SNIFF_BYTES (thousands of columns) is waited for up to this many bytes, so
# the sniff sees it whole and can take it for the header; beyond, the file is read as headerless.
MAX_HEADER_BYTES = 1024 * 1024
SNIFF_ROWS = 200
CANDIDATES = (",", ";", "|", "\t")
FIRST_RAGGED = pytwin.FIRST_RAGGED  # line numbers kept for the report
NOT_CSV_RAGGED_SHARE = 0.5  # most rows ragged: this is no table
FREE_TEXT_LINE = 200  # mean characters a line beyond which one column reads as prose
VIEW_SLICE = 1024 * 1024
NO_DELIMITER = b"\x00"  # counted as the delimiter of a one-column file: never a field separator
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
    _state: CsvState | None = None  # the scan's, once the dialect is known
    _finished: CsvStats | None = None

    def prescan(self, chunk: Buffer) -> CsvPrescan | None:
        """Most of the scan of chunk, a later piece of the file, made on another thread before the
        pieces in front of it are fed (read-ahead, issue 22); None until the first row has ended.
        feed(chunk, prescanned) then scans only the chunk's first row or so."""
        state = self._state  # columns and dialect never change once set: a stale state will do
        return None if state is None else csv_prescan(state, chunk)

    def feed(self, chunk: bytes | bytearray | memoryview, prescanned: CsvPrescan | None = None) -> None:
        if prescanned is not None and self._state is not None:  # the first row, so the sniff, is done
            self._state = csv_join(self._state, chunk, prescanned)
            self._take_facts()
            return
        if self.dialect is None:
            sample_size = None if self._pending else self._sample_size(chunk)
            if sample_size is None:
                self._pending += chunk
                sample_size = self._sample_size(self._pending)
                if sample_size is None:
                    return
                chunk, self._pending = self._pending, bytearray()
            sample = bytes(chunk[:sample_size])
            self._set_dialect(sniff(sample, complete=False, delimiter=self.delimiter))
        if not isinstance(chunk, memoryview):
            self._process(chunk)
            return
        # A view (the part buffer's filled prefix) is scanned a slice at a time: the C scan reads it
        # where it lies, the Python twin copies one slice at a time, so memory stays flat.
        for start in range(0, len(chunk), VIEW_SLICE):
            self._process(chunk[start : start + VIEW_SLICE])

    def _sample_size(self, data: bytes | bytearray | memoryview) -> int | None:
        """The bytes to sniff once data (the start of the file) is enough; None: wait for more.
        Enough: sniff_bytes holding a line end, else the first line whole and sniff_bytes after it."""
        if len(data) < self.sniff_bytes:
            return None
        head = data if not isinstance(data, memoryview) else bytes(data[: self.sniff_bytes])
        if head.find(b"\n", 0, self.sniff_bytes) != -1:
            return self.sniff_bytes
        longer = data if not isinstance(data, memoryview) else bytes(data[:MAX_HEADER_BYTES])
        line_end = longer.find(b"\n", 0, MAX_HEADER_BYTES)
        if line_end != -1:
            return line_end + 1 + self.sniff_bytes
        return self.sniff_bytes if len(data) >= MAX_HEADER_BYTES else None

    def finish(self) -> CsvStats:
        if self._finished is not None:
            return self._finished
        if self.dialect is None:
            pending, self._pending = bytes(self._pending), bytearray()
            self._set_dialect(sniff(pending, complete=True, delimiter=self.delimiter))
            self._process(pending)
        assert self.dialect is not None and self._state is not None
        unterminated = self._state.quote_line if self._state.in_quote else None
        missing_newline = self._state.row_content or self._state.in_quote
        self._state = csv_finish(self._state)  # a last row without line end still counts
        self._take_facts()
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
        delimiter = dialect.delimiter.encode() if dialect.delimiter else NO_DELIMITER
        self._state = csv_state(delimiter[0], dialect.quotechar.encode()[0], dialect.header)

    def _process(self, raw: bytes | bytearray | memoryview) -> None:
        if not self._started and len(raw):
            self._started = True
            if bytes(raw[: len(_BOM)]) == _BOM:
                raw = raw[len(_BOM) :]
        if not len(raw):
            return
        assert self._state is not None
        self._state = csv_scan(self._state, raw)
        self._take_facts()

    def _take_facts(self) -> None:
        """The scan's counts into the fields CsvPolicy and csv_metadata read between parts."""
        assert self._state is not None
        state = self._state
        self.rows, self.records, self.ragged_rows = state.rows, state.records, state.ragged_rows
        self.blank_lines, self.columns = state.blank_lines, state.columns or None
        if len(self.first_ragged_lines) != len(state.first_ragged_lines):
            self.first_ragged_lines = list(state.first_ragged_lines)


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
