"""The CSV check (pure): a corpus of CSV traps and generated files, every count compared with Python's
csv module on the same text, whatever the chunk boundaries."""

from __future__ import annotations

import csv
import io
import itertools
import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from async_ingest.transform import csvcheck
from async_ingest.transform.csvcheck import CsvChecker, CsvPolicy, CsvRejected, CsvStats, csv_metadata, sniff


@dataclass(frozen=True)
class Expected:
    rows: int
    ragged_rows: int
    first_ragged_lines: tuple[int, ...]
    columns: int


def reference(data: bytes, delimiter: str | None, header: bool, quotechar: str = '"') -> Expected:
    """What the csv module reads: blank lines skipped, line numbers from reader.line_num."""
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter or "\x00", quotechar=quotechar)
    records: list[tuple[int, int]] = []  # (first line, fields)
    start = 1
    for row in reader:
        if row:
            records.append((start, len(row)))
        start = reader.line_num + 1
    if not records:
        return Expected(0, 0, (), 0)
    columns = records[0][1]
    data_rows = records[1:] if header else records
    ragged = [line for line, fields in data_rows if fields != columns]
    return Expected(len(data_rows), len(ragged), tuple(ragged[:5]), columns)


def check(data: bytes, cuts: list[int] | None = None, **options: object) -> CsvStats:
    checker = CsvChecker(**options)  # type: ignore[arg-type]
    start = 0
    for cut in sorted(cuts or []):
        checker.feed(data[start:cut])
        start = cut
    checker.feed(memoryview(data)[start:])
    return checker.finish()


def assert_matches_csv_module(data: bytes, stats: CsvStats) -> None:
    expected = reference(data, stats.delimiter, stats.header, stats.quotechar)
    found = Expected(stats.rows, stats.ragged_rows, stats.first_ragged_lines, stats.columns)
    assert found == expected


TRAPS = {
    "quoted line ends": b'id,text\n1,"two\nlines"\n2,"three\n\nlines"\n3,plain\n',
    "doubled quotes": b'id,quote\n1,"she said ""hi"", then left"\n2,"""x"""\n',
    "crlf inside quotes": b'id,text\r\n1,"a\r\nb"\r\n2,c\r\n',
    "bom and header": "\ufeffnome;cidade\nAna;São Paulo\nJoão;Belém\n".encode(),
    "ragged rows": b"a,b,c\n1,2,3\n1,2\n1,2,3,4\n1,2,3\n,,\n",
    "no final line end": b"a,b\n1,2\n3,4",
    "unterminated quote": b'a,b\n1,2\n3,"never closed\n4,5\n',
    "pt-BR Excel": "produto;preço;qtd\r\nCafé;12,50;3\r\nPão;0,75;10\r\nAçúcar;4,99;1\r\n".encode(),
    "tab separated": b"id\tname\tscore\n1\tAna\t9.5\n2\tBia\t8.0\n",
    "single column": b"city\nRecife\nNatal\nBelo Horizonte\n",
    "empty": b"",
    "header only": b"id,name,year\n",
    "header only, no line end": b"id,name,year",
    "blank lines": b"a,b\n\n1,2\r\n\r\n3,4\n\n",
    "quote mid-field is data": b'a,b\n5\'10",x\nab"c,d\n',
    "text after closing quote": b'a,b\n"x"y,2\n"p""q"r,3\n',
    "pipe": "id|title|year\n1|Coração|2001\n2|Ação, drama|1999\n".encode(),
}


@pytest.mark.parametrize("name", TRAPS)
def test_traps_match_the_csv_module_at_any_chunk_size(name: str) -> None:
    data = TRAPS[name]
    whole = check(data)
    assert_matches_csv_module(data, whole)
    rng = random.Random(name)
    for _ in range(50):
        cuts = [rng.randint(0, len(data)) for _ in range(rng.randint(1, 8))]
        # A tiny sniff window and the whole file's dialect: boundaries fall after the sniff.
        stats = check(data, cuts, delimiter=whole.delimiter, sniff_bytes=rng.randint(1, 8))
        assert_matches_csv_module(data, stats)
        assert (stats.unterminated_quote_line, stats.missing_final_newline, stats.blank_lines) == (
            whole.unterminated_quote_line,
            whole.missing_final_newline,
            whole.blank_lines,
        )


def test_what_the_traps_report() -> None:
    assert check(TRAPS["pt-BR Excel"]).delimiter == ";"
    assert check(TRAPS["pt-BR Excel"]).names == ("produto", "preço", "qtd")
    assert check(TRAPS["tab separated"]).delimiter == "\t"
    assert check(TRAPS["bom and header"]).names == ("nome", "cidade")
    ragged = check(TRAPS["ragged rows"])
    assert (ragged.rows, ragged.ragged_rows, ragged.first_ragged_lines) == (5, 2, (3, 4))
    assert check(TRAPS["no final line end"]).missing_final_newline
    unterminated = check(TRAPS["unterminated quote"])
    assert unterminated.unterminated_quote_line == 3 and unterminated.first_bad_line == 3
    assert (check(TRAPS["header only"]).rows, check(TRAPS["header only"]).columns) == (0, 3)
    single = check(TRAPS["single column"])
    assert (single.delimiter, single.columns, single.rows, single.not_csv) == (None, 1, 3, None)
    empty = check(TRAPS["empty"])
    assert (empty.rows, empty.columns, empty.header) == (0, 0, False)
    quoted = check(TRAPS["quoted line ends"])
    assert (quoted.rows, quoted.ragged_rows) == (3, 0)
    assert check(TRAPS["blank lines"]).blank_lines == 3


def test_a_long_single_line_without_line_end_is_one_row() -> None:
    line = b"x" * (24 * 1024 * 1024)
    stats = check(line, list(range(0, len(line), 8 * 1024 * 1024)))
    assert (stats.rows, stats.header, stats.missing_final_newline, stats.ragged_rows) == (1, False, True, 0)


def test_free_text_and_binary_are_reported_as_not_csv() -> None:
    rng = random.Random(2)
    words = [
        "the",
        "river,",
        "at",
        "night;",
        "a",
        "city",
        "sleeps",
        "and",
        "the",
        "wind",
        "rises,",
        "slowly",
        "over",
        "roofs",
    ]
    prose = "".join(" ".join(rng.choices(words, k=rng.randint(5, 40))) + "\n" for _ in range(200))
    assert check(prose.encode()).not_csv is not None
    long_lines = ("One long line of prose without any separator at all " * 6 + "\n") * 20
    assert "free text" in (check(long_lines.encode()).not_csv or "")
    binary = random.Random(1).randbytes(100_000)
    assert "binary" in (check(binary).not_csv or "")


def test_sniff_prefers_the_consistent_delimiter_and_reads_the_header() -> None:
    dialect = sniff(b"a;b;c\n1,5;2,5;x\n3,0;4,0;y\n", complete=True)
    assert (dialect.delimiter, dialect.header, dialect.names) == (";", True, ("a", "b", "c"))
    assert not sniff(b"1,2,3\n4,5,6\n", complete=True).header
    assert sniff(b"a,b\n1,2\n", complete=True, delimiter="|").delimiter == "|"
    assert sniff(b"id,name\n1,'Ana, Maria'\n2,'Bia'\n", complete=True).quotechar == "'"
    assert sniff(b"id|title\n1|l'amour\n2|'Til Death\n", complete=True).quotechar == '"'


def test_policy_strict_and_schema_drift() -> None:
    checker = CsvChecker(sniff_bytes=10)
    checker.feed(b"a,b,c\n1,2,3\n")
    CsvPolicy("strict", expect_columns=3, expect_header=("a", "b", "c")).check(checker, None)
    with pytest.raises(CsvRejected, match="expected header a,b,x, found a,b,c"):
        CsvPolicy("report", expect_header=("a", "b", "x")).check(checker, None)
    with pytest.raises(CsvRejected, match="expected 4 columns, found 3"):
        CsvPolicy("report", expect_columns=4).check(checker, None)
    checker.feed(b"1,2\n")
    CsvPolicy("report").check(checker, None)
    with pytest.raises(CsvRejected, match="line 3"):
        CsvPolicy("strict").check(checker, None)
    checker = CsvChecker(sniff_bytes=4)
    checker.feed(b'a,b\n"open\n')
    stats = checker.finish()
    with pytest.raises(CsvRejected, match="line 2: a quote opened there never closes"):
        CsvPolicy("strict").check(checker, stats)


def test_metadata_known_after_the_first_part_and_rows_at_the_end() -> None:
    checker = CsvChecker(sniff_bytes=4)
    checker.feed(b"a|b\n1|2\n")
    early = csv_metadata(checker)
    assert early["csv-delimiter"] == "pipe" and early["csv-columns"] == "2" and "csv-rows" not in early
    checker.finish()
    assert csv_metadata(checker)["csv-rows"] == "1"


# No lone CR: the csv module ends a row there (newline=""), the check does not (documented).
FIELD = st.lists(st.sampled_from(["a", "é", ",", '"', "\n", "\r\n", " "]), max_size=6).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.lists(FIELD, min_size=0, max_size=4), min_size=0, max_size=12),
    terminator=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    sniff_bytes=st.integers(min_value=1, max_value=64),
)
def test_written_csv_matches_the_csv_module_at_any_boundary(
    rows: list[list[str]], terminator: str, final_newline: bool, cuts: list[int], sniff_bytes: int
) -> None:
    """Rows as csv.writer quotes them (quoted line ends, doubled quotes, ragged field counts), cut
    anywhere: inside quoted fields, between CR and LF, inside a two-byte character."""
    out = io.StringIO()
    csv.writer(out, lineterminator=terminator).writerows(rows)
    text = out.getvalue()
    if not final_newline:
        text = text.removesuffix(terminator)
    data = text.encode()
    stats = check(data, [c for c in cuts if c <= len(data)], delimiter=",", sniff_bytes=sniff_bytes)
    assert_matches_csv_module(data, stats)


@settings(max_examples=300, deadline=None)
@given(
    tokens=st.lists(st.sampled_from(["a", ",", '"', "\n", "\r\n", "é"]), max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=8),
)
def test_malformed_quoting_matches_the_csv_module(tokens: list[str], cuts: list[int]) -> None:
    """Quotes anywhere (not RFC 4180): the counts still follow the csv module's reading."""
    data = "".join(tokens).encode()
    stats = check(data, [c for c in cuts if c <= len(data)], delimiter=",", sniff_bytes=3)
    assert_matches_csv_module(data, stats)


def test_sniff_rows_without_quotes_are_the_csv_modules_records() -> None:
    """The split fast path gives the csv module's records for any unquoted text: CR, LF, CR LF,
    blank lines, empty fields, more lines than a sniff reads."""
    rnd = random.Random(7)
    for _ in range(3000):
        text = "".join(rnd.choice("ab ,;|\t\r\n") for _ in range(rnd.randint(0, 2500)))
        for delimiter in (*csvcheck.CANDIDATES, csvcheck.NO_DELIMITER.decode()):
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"')
            expected = list(itertools.islice((row for row in reader if row), csvcheck.SNIFF_ROWS))
            assert csvcheck._rows(text, delimiter, '"') == expected
