"""The C core (async_ingest.transform._native) against its pure-Python twin (pytwin.py): identical bytes,
error offsets, replacement counts and CSV facts on random inputs of every supported encoding and CSV
shape, fed whole and in pieces (1-byte feeds, cuts mid-character, mid-quote, mid-CRLF).

Bulk volume comes from seeded random loops (over 10^6 buffers in all); hypothesis adds shrinking to a
minimal case. The twin is itself checked against CPython's codecs and the csv module.

Nothing is skipped: without the extension this module fails to import, unless
ASYNC_INGEST_NO_EXTENSIONS=1 says the twin alone is under test (then only the twin's own checks mean
anything, and the native-vs-twin comparisons compare the twin with itself).
"""

from __future__ import annotations

import codecs
import csv
import importlib.util
import io
import os
import random
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from async_ingest.transform import csvcheck, native, pytwin, transcode
from async_ingest.transform.csvcheck import CsvChecker
from async_ingest.transform.detect import PREFERENCE_ORDER, codec_traits
from async_ingest.transform.pytwin import CsvState
from async_ingest.transform.transcode import DecodeFailure, Transcoder

if os.environ.get(native.DISABLE_VARIABLE) == "1":
    NATIVE: Any = pytwin
    assert native.IMPLEMENTATION == "python"
else:
    # An ImportError here fails the module on purpose: CI must build the extension.
    from async_ingest.transform import _native

    NATIVE = _native
    assert native.IMPLEMENTATION == "native", native.BUILD_ERROR


def native_scan(state: CsvState, data: bytes | bytearray | memoryview) -> CsvState:
    return CsvState._make(NATIVE.csv_scan(state, data))


# Every single-byte codec the detector can choose, plus ones a user may force (--encoding).
SINGLE_BYTE = sorted(
    {name for name in PREFERENCE_ORDER if codec_traits(name).single_byte}
    | {
        "latin-1",
        "ascii",
        "cp1258",
        "koi8-u",
        "iso8859-3",
        "iso8859-4",
        "iso8859-10",
        "iso8859-11",
        "iso8859-14",
        "iso8859-16",
        "mac-greek",
        "mac-iceland",
        "mac-latin2",
        "mac-turkish",
        "cp037",
        "cp500",
        "cp852",
        "cp855",
        "cp857",
        "cp860",
        "cp863",
        "cp865",
        "cp869",
        "hp-roman8",
        "tis-620",
    }
)
BULK_SEED = 20261206
BULK_UTF8 = 320_000
BULK_SBCS = 360_000
BULK_CSV = 240_000
BULK_UTF16 = 100_000
LONG = 4096  # bytes of the few long buffers: the 64-byte block and 8-byte run paths with every tail


def test_single_byte_list_has_the_detector_codecs() -> None:
    assert {"cp1252", "cp1250", "cp1251", "koi8-r", "iso8859-15", "mac-roman", "cp437"} <= set(SINGLE_BYTE)
    assert all(codec_traits(name).single_byte for name in SINGLE_BYTE)
    assert all(pytwin.sbcs_table(name) is not None for name in SINGLE_BYTE)


# ------------------------------------------------------------------------------------------------------
# UTF-8

UTF8_PIECES = [
    b"a",
    "é".encode(),
    "ç".encode(),
    "€".encode(),
    "\u0800".encode(),
    "\ud7ff".encode(),
    "\ue000".encode(),
    "\uffff".encode(),
    "😀".encode(),
    "\U00010000".encode(),
    "\U0010ffff".encode(),
]
UTF8_TRAPS = [
    b"\x80",
    b"\xbf",
    b"\xc0\xaf",
    b"\xc1\xbf",
    b"\xc2",
    b"\xdf",
    b"\xe0",
    b"\xe0\x80",
    b"\xe0\x9f\xbf",
    b"\xe0\xa0",
    b"\xed",
    b"\xed\x9f",
    b"\xed\xa0",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xee\x80",
    b"\xef\xbf",
    b"\xf0",
    b"\xf0\x8f",
    b"\xf0\x90",
    b"\xf0\x90\x80",
    b"\xf4\x8f\xbf",
    b"\xf4\x90",
    b"\xf5",
    b"\xf8",
    b"\xff",
    b"\xfe",
]


def random_utf8(rng: random.Random, size: int) -> bytes:
    """Mostly valid text of every sequence length, ASCII runs, sometimes a trap."""
    parts: list[bytes] = []
    total = 0
    trap_rate = rng.choice((0.0, 0.0, 0.01, 0.1))
    while total < size:
        roll = rng.random()
        if roll < trap_rate:
            piece = rng.choice(UTF8_TRAPS)
        elif roll < 0.5:
            piece = b"x" * rng.randrange(1, 40)
        else:
            piece = rng.choice(UTF8_PIECES)
        parts.append(piece)
        total += len(piece)
    data = b"".join(parts)
    return data[: rng.randrange(len(data) + 1)] if rng.random() < 0.3 else data


def reference_utf8(data: bytes) -> tuple[int, int, int]:
    """What CPython's incremental strict decoder does with data: (valid, error or -1, held back)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(data)
    except UnicodeDecodeError as exc:
        return exc.start, exc.start, 0
    held = len(decoder.getstate()[0])
    return len(data) - held, -1, held


@pytest.mark.slow
def test_utf8_bulk() -> None:
    rng = random.Random(BULK_SEED)
    for index in range(BULK_UTF8):
        # Short ones for the scalar walk, longer ones for the 64-byte SIMD blocks and their hand-over.
        size = LONG if index % 1000 == 0 else rng.randrange(0, 80) if index % 3 else rng.randrange(64, 400)
        data = random_utf8(rng, size)
        assert NATIVE.utf8_check(data) == pytwin.utf8_check(data), data


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(UTF8_PIECES + UTF8_TRAPS), st.binary(max_size=6)), max_size=30))
def test_utf8_every_prefix_matches_cpython(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    for cut in range(len(data) + 1):  # every prefix: a part boundary at every position
        prefix = data[:cut]
        assert NATIVE.utf8_check(prefix) == pytwin.utf8_check(prefix) == reference_utf8(prefix), prefix


@pytest.mark.slow
@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1), st.integers(0, 2 * 65536))
def test_utf8_long_runs(text: str, ascii_run: int) -> None:
    """The twin decodes in 64 KiB slices and C in 16-byte blocks: long inputs with a cut at every seam."""
    data = b"a" * ascii_run + text.encode("utf-8", "surrogatepass")
    for cut in range(max(0, len(data) - 5), len(data) + 1):
        assert NATIVE.utf8_check(data[:cut]) == pytwin.utf8_check(data[:cut]) == reference_utf8(data[:cut])


def test_utf8_accepts_every_buffer_type() -> None:
    data = "Ação".encode()
    for buffer in (data, bytearray(data), memoryview(data)):
        assert NATIVE.utf8_check(buffer) == (len(data), -1, 0)


# ------------------------------------------------------------------------------------------------------
# Single-byte code pages


def random_sbcs(rng: random.Random, size: int) -> bytes:
    """ASCII with high bytes at a random density (none .. every byte)."""
    density = rng.choice((0.0, 0.025, 0.1, 0.25, 1.0))
    return bytes(
        rng.randrange(128, 256) if rng.random() < density else rng.randrange(128) for _ in range(size)
    )


def run_sbcs(impl: Any, table: bytes, data: bytes, errors: str) -> tuple[bytes, int, int]:
    out = bytearray(b"#" * (5 + 3 * len(data)))
    written, replacements, error = impl.sbcs_to_utf8(table, data, out, 5, errors)
    assert out[:5] == b"#####"  # nothing before the offset touched
    return bytes(out[5 : 5 + written]), replacements, error


def reference_sbcs(codec: str, data: bytes, errors: str) -> tuple[bytes, int, int]:
    """CPython's codec: the UTF-8 of the decoded text, one replacement per undefined byte."""
    try:
        return data.decode(codec, "strict").encode(), 0, -1
    except UnicodeDecodeError as exc:
        if errors == "strict":
            return data[: exc.start].decode(codec).encode(), 0, exc.start
    text = data.decode(codec, "replace")
    return text.encode(), sum(_undefined(codec, byte) for byte in data), -1


def _undefined(codec: str, byte: int) -> bool:
    try:
        bytes((byte,)).decode(codec)
    except UnicodeDecodeError:
        return True
    return False


@pytest.mark.slow
def test_sbcs_bulk() -> None:
    rng = random.Random(BULK_SEED + 1)
    tables = {codec: pytwin.sbcs_table(codec) for codec in SINGLE_BYTE}
    for index in range(BULK_SBCS):
        codec = SINGLE_BYTE[index % len(SINGLE_BYTE)]
        table = tables[codec]
        assert table is not None
        size = LONG if index % 1000 == 0 else rng.randrange(0, 100)
        data = rng.randbytes(size) if index % 3 == 0 else random_sbcs(rng, size)
        errors = "replace" if index % 2 else "strict"
        assert run_sbcs(NATIVE, table, data, errors) == run_sbcs(pytwin, table, data, errors), (codec, data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SINGLE_BYTE), st.binary(max_size=200), st.sampled_from(("strict", "replace")))
def test_sbcs_matches_cpython(codec: str, data: bytes, errors: str) -> None:
    table = pytwin.sbcs_table(codec)
    assert table is not None
    expected = reference_sbcs(codec, data, errors)
    assert run_sbcs(NATIVE, table, data, errors) == run_sbcs(pytwin, table, data, errors) == expected


@pytest.mark.parametrize("impl", [NATIVE, pytwin], ids=["native", "python"])
def test_sbcs_refuses_a_short_output_buffer(impl: Any) -> None:
    table = pytwin.sbcs_table("cp1252")
    with pytest.raises(ValueError, match="output buffer too small"):
        impl.sbcs_to_utf8(table, b"caf\xe9", bytearray(4), 0, "strict")
    with pytest.raises(ValueError, match="errors must be"):
        impl.sbcs_to_utf8(table, b"x", bytearray(4), 0, "ignore")


# ------------------------------------------------------------------------------------------------------
# UTF-16

UTF16_UNITS = [0x41, 0xE9, 0x20AC, 0xD7FF, 0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xE000, 0xFFFF, 0x0A]


def random_utf16(rng: random.Random, size: int, big: bool) -> bytes:
    units = [rng.choice(UTF16_UNITS) if rng.random() < 0.5 else rng.randrange(0x10000) for _ in range(size)]
    data = b"".join(unit.to_bytes(2, "big" if big else "little") for unit in units)
    return data[: rng.randrange(len(data) + 1)] if rng.random() < 0.3 else data


def run_utf16(impl: Any, big: bool, data: bytes, errors: str) -> tuple[bytes, int, int, int]:
    out = bytearray(3 * (len(data) + 1) // 2 + 3)
    written, replacements, error, tail = impl.utf16_to_utf8(big, data, out, 0, errors)
    return bytes(out[:written]), replacements, error, tail


@pytest.mark.slow
def test_utf16_bulk() -> None:
    rng = random.Random(BULK_SEED + 2)
    for index in range(BULK_UTF16):
        big = bool(index % 2)
        errors = "replace" if index % 4 >= 2 else "strict"
        data = random_utf16(rng, LONG if index % 1000 == 0 else rng.randrange(0, 24), big)
        assert run_utf16(NATIVE, big, data, errors) == run_utf16(pytwin, big, data, errors), data


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.binary(max_size=40), st.sampled_from(("strict", "replace")))
def test_utf16_matches_cpython(big: bool, data: bytes, errors: str) -> None:
    codec = "utf-16-be" if big else "utf-16-le"
    decoder = codecs.getincrementaldecoder(codec)(errors)
    try:
        text = decoder.decode(data)
        strict_ok = True
    except UnicodeDecodeError:
        strict_ok = False
    found = run_utf16(NATIVE, big, data, errors)
    assert found == run_utf16(pytwin, big, data, errors)
    if strict_ok:
        assert found[0] == text.encode() and found[2] == -1 and found[3] == len(decoder.getstate()[0])


# ------------------------------------------------------------------------------------------------------
# The CSV scan

CSV_TOKENS: dict[str, list[bytes]] = {
    "plain": [b"abc", b"12", b"x", b",", b",", b"\n", "é".encode()],
    "rfc4180": [b'"abc"', b'"a,b"', b'""', b'"x""y"', b",", b",", b"\n", b"\r\n", b'"two\nlines"'],
    "quotes inside unquoted": [b'["M\xc3\xa9dica", "Jornalista"]', b"5'10\"", b'ab"c', b",", b"\n", b"x"],
    "doubled quotes, line breaks": [b'"she said ""hi""\n\nthen"', b'"a\r\nb"', b",", b"\n", b"\r\n", b"q"],
    "ragged and blank": [b"a", b",", b",,", b"\n", b"\n\n", b"\r\n", b"\r", b"\r\r\n", b" ", b'"'],
    "anything": [b'"', b",", b"\n", b"\r", b"a", b"\x01", b";", b"\t", b'""', b"\r\n", b"\n\r\n"],
}
DIALECTS = [(b",", b'"'), (b";", b'"'), (b"\t", b'"'), (b"|", b"'"), (b"\x00", b'"')]


def random_csv(rng: random.Random, size: int) -> tuple[bytes, bytes, bytes]:
    tokens = rng.choice(list(CSV_TOKENS.values()))
    delimiter, quote = rng.choice(DIALECTS)
    data = b"".join(rng.choices(tokens, k=size))
    if delimiter != b",":
        data = data.replace(b",", delimiter)
    if quote != b'"':
        data = data.replace(b'"', quote)
    return data, delimiter, quote


def scan_in_pieces(
    scan: Callable[[CsvState, Any], CsvState], state: CsvState, data: bytes, cuts: list[int]
) -> CsvState:
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        state = scan(state, memoryview(data)[start:cut])
        start = cut
    return pytwin.csv_finish(state)


def whole(scan: Callable[[CsvState, Any], CsvState], state: CsvState, data: bytes) -> CsvState:
    return pytwin.csv_finish(scan(state, data))


@pytest.mark.slow
def test_csv_bulk() -> None:
    rng = random.Random(BULK_SEED + 3)
    for index in range(BULK_CSV):
        data, delimiter, quote = random_csv(rng, 1000 if index % 1000 == 0 else rng.randrange(0, 24))
        start = pytwin.csv_state(delimiter[0], quote[0], bool(index % 2))
        expected = whole(pytwin.csv_scan, start, data)
        assert whole(native_scan, start, data) == expected, data
        cuts = [rng.randrange(len(data) + 1) for _ in range(rng.randrange(1, 4))]
        assert scan_in_pieces(native_scan, start, data, cuts) == expected, (data, cuts)
        if index % 8 == 0:  # the twin's bulk paths give the same facts whatever the cuts
            assert scan_in_pieces(pytwin.csv_scan, start, data, cuts) == expected, (data, cuts)


def csv_documents() -> st.SearchStrategy[tuple[bytes, bytes, bytes]]:
    def build(name: str, dialect: tuple[bytes, bytes], tokens: list[bytes]) -> tuple[bytes, bytes, bytes]:
        delimiter, quote = dialect
        return b"".join(tokens).replace(b",", delimiter).replace(b'"', quote), delimiter, quote

    return st.sampled_from(sorted(CSV_TOKENS)).flatmap(
        lambda name: st.builds(
            build,
            st.just(name),
            st.sampled_from(DIALECTS),
            st.lists(st.sampled_from(CSV_TOKENS[name]), max_size=40),
        )
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_documents(), st.booleans())
def test_csv_every_split_and_byte_feeds(document: tuple[bytes, bytes, bytes], header: bool) -> None:
    data, delimiter, quote = document
    start = pytwin.csv_state(delimiter[0], quote[0], header)
    expected = whole(pytwin.csv_scan, start, data)
    assert scan_in_pieces(native_scan, start, data, list(range(len(data)))) == expected  # 1-byte feeds
    assert scan_in_pieces(pytwin.csv_scan, start, data, list(range(len(data)))) == expected
    for cut in range(len(data) + 1):  # mid-character, mid-quote, mid-CRLF: every position
        assert scan_in_pieces(native_scan, start, data, [cut]) == expected, cut
        assert scan_in_pieces(pytwin.csv_scan, start, data, [cut]) == expected, cut


def csv_module_facts(
    data: bytes, delimiter: bytes, quote: bytes, header: bool
) -> tuple[int, int, tuple[int, ...]]:
    """(rows, columns, first ragged lines) as Python's csv module reads the text."""
    reader = csv.reader(
        io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter.decode(), quotechar=quote.decode()
    )
    records, line = [], 1
    for row in reader:
        if row:
            records.append((line, len(row)))
        line = reader.line_num + 1
    if not records:
        return 0, 0, ()
    columns = records[0][1]
    body = records[1:] if header else records
    return len(body), columns, tuple(start for start, fields in body if fields != columns)[:5]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([b'"a,b"', b'"x""y"', b'"p\nq"', b"plain", b"", b"\xc3\xa9"]), min_size=1, max_size=4
    )
    .map(lambda fields: b",".join(fields))
    .flatmap(lambda row: st.lists(st.just(row) | st.just(b"z"), max_size=8)),
    st.booleans(),
)
def test_csv_scan_reads_as_the_csv_module(rows: list[bytes], header: bool) -> None:
    """On well-formed RFC 4180 text (no blank lines, no lone CR) the facts are the csv module's."""
    data = b"\n".join(rows) + b"\n" if rows else b""
    state = whole(native_scan, pytwin.csv_state(ord(","), ord('"'), header), data)
    assert (state.rows, state.columns, state.first_ragged_lines) == csv_module_facts(data, b",", b'"', header)


def test_csv_blank_line_of_carriage_returns_in_one_column() -> None:
    """A line of nothing but CRs is blank wherever it falls: the bulk path of a one-column file used to
    count it as a row when it came after the first line of a stretch (found by the tests above)."""
    data = b"name\nAna\n\r\r\nBia\n"
    start = pytwin.csv_state(0, ord('"'), True)
    for scan in (native_scan, pytwin.csv_scan):
        state = whole(scan, start, data)
        assert (state.rows, state.blank_lines, state.columns) == (2, 1, 1)


# Segments scanned on worker threads (issue 22): csv_prescan sees a segment before the scan reaches it
# (only the dialect and the column count known), csv_join adds it in order. The facts must be those of
# one sequential scan wherever the segment boundaries fall: inside a quoted field, between CR and LF,
# between the two quotes of a doubled quote.


def native_sync(delimiter: int, quote: int, data: Any) -> int:
    return int(NATIVE.csv_sync(delimiter, quote, data))


def scan_as_segments(twin: bool, start: CsvState, data: bytes, cuts: list[int]) -> tuple[CsvState, int]:
    """The facts of data cut at cuts, each piece after the first one with a column count prescanned
    from the state known when the first row ended (stale by then, as on a worker thread); and how many
    prescans were usable."""
    sync, scan = (pytwin.csv_sync, pytwin.csv_scan) if twin else (native_sync, native_scan)
    state, known, used = start, None, 0
    begin = 0
    for cut in [*sorted(cuts), len(data)]:
        piece = memoryview(data)[begin:cut]
        begin = cut
        prescan = None if known is None else pytwin.csv_prescan(known, piece, sync=sync, scan=scan)
        used += prescan is not None
        state = pytwin.csv_join(state, piece, prescan, scan=scan)
        if known is None and state.columns:
            known = state
    return pytwin.csv_finish(state), used


def test_csv_sync_native_equals_twin() -> None:
    rng = random.Random(BULK_SEED + 22)
    for _ in range(20_000):
        data, delimiter, quote = random_csv(rng, rng.randrange(0, 40))
        start = rng.randrange(len(data) + 1)
        piece = data[start:]
        assert native_sync(delimiter[0], quote[0], piece) == pytwin.csv_sync(delimiter[0], quote[0], piece)


def test_csv_segments_equal_one_scan_random_cuts() -> None:
    rng = random.Random(BULK_SEED + 23)
    used = 0
    for index in range(6_000):
        data, delimiter, quote = random_csv(rng, rng.randrange(20, 400))
        start = pytwin.csv_state(delimiter[0], quote[0], bool(index % 2))
        expected = whole(pytwin.csv_scan, start, data)
        cuts = [rng.randrange(len(data) + 1) for _ in range(rng.randrange(1, 12))]
        for twin in (False, True) if index % 4 == 0 else (False,):
            found, usable = scan_as_segments(twin, start, data, cuts)
            assert found == expected, (data, cuts)
            used += usable
    assert used > 5_000  # the prescans were used, not only the fallback to a whole scan


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_documents(), st.booleans())
def test_csv_segments_every_cut_pair(document: tuple[bytes, bytes, bytes], header: bool) -> None:
    data, delimiter, quote = document
    start = pytwin.csv_state(delimiter[0], quote[0], header)
    expected = whole(pytwin.csv_scan, start, data)
    for first in range(len(data) + 1):
        for second in range(first, len(data) + 1, 3):
            assert scan_as_segments(False, start, data, [first, second])[0] == expected, (first, second)


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        (b'h,t\n1,"a\nb\nc"\n2,x\n3,y,z\n4,"q\n', 10),  # inside a quoted field, after a line end in it
        (b"h,t\r\n1,a\r\n2,b\r\n\r\n3,c,d\r\n", 10),  # between CR and LF
        (b'h,t\n1,"say ""hi"" now\nthen"\n2,b,c\n', 13),  # between the two quotes of ""
        (b'h,t\n1,"say ""hi"" now\nthen"\n2,b,c\n', 12),  # right after a closing-or-doubled quote
        (b'h,t\n1,x\n"2",y\n3,"z\n', 9),  # a quote at the cut opens (after a line end)
    ],
)
def test_csv_segment_boundaries_that_matter(text: bytes, cut: int) -> None:
    start = pytwin.csv_state(ord(","), ord('"'), True)
    expected = whole(pytwin.csv_scan, start, text)
    for twin in (False, True):
        found, used = scan_as_segments(twin, start, text, [5, cut])
        assert found == expected and used >= 1


def test_csv_state_is_checked() -> None:
    with pytest.raises(TypeError):
        NATIVE.csv_scan((1, 2, 3), b"a")
    with pytest.raises(ValueError):
        NATIVE.csv_scan(pytwin.csv_state(300, 34, False), b"a")


def test_bulk_volume_is_at_least_a_million_buffers() -> None:
    """The CI budget of the issue: 10^6 random buffers through both implementations."""
    assert BULK_UTF8 + BULK_SBCS + BULK_CSV + BULK_UTF16 >= 1_000_000


# ------------------------------------------------------------------------------------------------------
# Wired in: the Transcoder with the per-byte walks against the Transcoder on the codec path alone


class CodecOnly(Transcoder):
    """The Transcoder as it was before the per-byte walks: every chunk through the codec."""

    def __init__(self, encoding: str, *, errors: str = "strict", bom: bytes = b"") -> None:
        super().__init__(encoding, errors=errors, bom=bom)
        self._table = None

    def _check_utf8(self, data: bytes | memoryview) -> bool:
        return False


def transcode_run(transcoder: Transcoder, data: bytes, cuts: list[int], validate: bool) -> tuple[Any, ...]:
    """Output, counters and the failure (with the feed that raised it) for data fed at the cuts."""
    out = bytearray()
    start = 0
    for index, cut in enumerate([*sorted(cuts), len(data)]):
        piece = data[start:cut]
        start = cut
        try:
            if validate and transcoder.passes_through:
                transcoder.validate(memoryview(piece))
                out += piece
            else:
                out += transcoder.feed(memoryview(piece))
        except DecodeFailure as failure:
            return bytes(out), index, failure.offset, str(failure)
    try:
        out += transcoder.finish()
    except DecodeFailure as failure:
        return bytes(out), "finish", failure.offset, str(failure)
    return bytes(out), transcoder.replacements, transcoder.bytes_in, transcoder.bytes_out


TRANSCODER_CODECS = [
    "utf-8",
    "cp1252",
    "cp1251",
    "koi8-r",
    "iso8859-7",
    "cp874",
    "cp437",
    "mac-roman",
    "ascii",
]


def random_source(rng: random.Random, codec: str) -> bytes:
    if codec == "utf-8":
        return random_utf8(rng, rng.randrange(0, 200))
    return random_sbcs(rng, rng.randrange(0, 200))


@pytest.mark.slow
def test_transcoder_identical_with_and_without_the_walks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transcode, "WALKS", True)  # the twins too, when the extension is not built
    rng = random.Random(BULK_SEED + 4)
    for index in range(40_000):
        codec = rng.choice(TRANSCODER_CODECS)
        errors = rng.choice(("strict", "replace"))
        data = random_source(rng, codec)
        bom = b"\xef\xbb\xbf" if codec == "utf-8" and index % 7 == 0 else b""
        data = bom + data if index % 2 else data
        cuts = [rng.randrange(len(data) + 1) for _ in range(rng.randrange(0, 5))]
        validate = rng.random() < 0.3
        expected = transcode_run(CodecOnly(codec, errors=errors, bom=bom), data, cuts, validate)
        found = transcode_run(Transcoder(codec, errors=errors, bom=bom), data, cuts, validate)
        assert found == expected, (codec, errors, data, cuts)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(TRANSCODER_CODECS),
    st.lists(st.sampled_from(UTF8_PIECES + UTF8_TRAPS) | st.binary(max_size=4), max_size=20),
    st.sampled_from(("strict", "replace")),
    st.booleans(),
)
def test_transcoder_one_byte_feeds(codec: str, pieces: list[bytes], errors: str, validate: bool) -> None:
    data = b"".join(pieces)
    cuts = list(range(len(data)))
    expected = transcode_run(CodecOnly(codec, errors=errors), data, cuts, validate)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transcode, "WALKS", True)
        assert transcode_run(Transcoder(codec, errors=errors), data, cuts, validate) == expected


def checker_stats(data: bytes, cuts: list[int], sniff_bytes: int) -> tuple[Any, ...]:
    checker = CsvChecker(sniff_bytes=sniff_bytes)
    start = 0
    seen = []
    for cut in [*sorted(cuts), len(data)]:
        checker.feed(memoryview(data)[start:cut] if cut % 2 else data[start:cut])
        seen.append((checker.columns, tuple(checker.first_ragged_lines), checker.rows))  # read between parts
        start = cut
    return checker.finish(), seen


def test_csv_checker_identical_with_either_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(BULK_SEED + 5)
    cases = []
    for _ in range(3000):
        data, _, _ = random_csv(rng, rng.randrange(0, 60))
        data = (b"\xef\xbb\xbf" if rng.random() < 0.1 else b"") + data
        cuts = [rng.randrange(len(data) + 1) for _ in range(rng.randrange(0, 4))]
        cases.append((data, cuts, rng.choice((4, 16, 64))))
    found = [checker_stats(*case) for case in cases]
    monkeypatch.setattr(csvcheck, "csv_scan", pytwin.csv_scan)
    assert [checker_stats(*case) for case in cases] == found


BUILT = "native" if importlib.util.find_spec("async_ingest.transform._native") else "python"


@pytest.mark.parametrize(("disable", "shown"), [("", BUILT), ("1", "python")])
def test_version_names_the_core_in_use(disable: str, shown: str) -> None:
    env = {**os.environ, native.DISABLE_VARIABLE: disable}
    result = subprocess.run(
        [sys.executable, "-m", "async_ingest", "--version"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().endswith(f"(per-byte core: {shown})")


@pytest.mark.slow
def test_the_ssse3_path_too() -> None:
    """On a CPU with AVX2 the UTF-8 checks above ran its 32-byte blocks; the SSSE3 blocks (older CPUs)
    are held to the same results here, in a process told not to use AVX2."""
    env = {**os.environ, "ASYNC_INGEST_NO_AVX2": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "utf8"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout
