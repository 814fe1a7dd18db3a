"""End to end encodings (issue 3): generated corpora go through the real CLI into SeaweedFS and are read back.

Every expected object is computed independently of the package: ``text.encode("utf-8")`` of the text the
test wrote, or Python's own ``bytes.decode`` for the replacement case. The package is only imported for
``sample_offsets``/``SAMPLE_WINDOW``: which bytes detection samples, so regions can be put between windows.
"""

# The corpora are CSV rows kept whole, as real exports have them.
# ruff: noqa: E501

from __future__ import annotations

import codecs
import gzip
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from async_ingest.transform.detect import SAMPLE_WINDOW, sample_offsets
from tests.conftest import CliResult, cli_env, list_keys, open_uploads, read_object, run_cli
from tests.unit.test_detection import (
    CHINESE_SIMPLIFIED,
    CHINESE_TRADITIONAL,
    CZECH,
    FRENCH,
    ISO8859_15_FRENCH,
    JAPANESE,
    KOREAN,
    LATIN1_SPANISH,
    POLISH,
    PORTUGUESE,
    RUSSIAN,
    SPANISH,
)

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

MiB = 1024 * 1024
CONTENT_TYPE = "text/csv; charset=utf-8"

# Outside the BMP on purpose: surrogate pairs in UTF-16, 4-byte sequences in UTF-8.
GREEK_EMOJI = """id|τίτλος|έτος|κριτική
1|Ζορμπάς ο Έλληνας|1964|Ένας νεαρός Άγγλος συγγραφέας φτάνει στην Κρήτη και γνωρίζει τον Αλέξη Ζορμπά. 🎬🎬🎬🎬
2|Το βλέμμα του Οδυσσέα|1995|Ένας σκηνοθέτης ταξιδεύει στα Βαλκάνια αναζητώντας τρεις χαμένες μπομπίνες. ⭐⭐⭐⭐ 𝄞
3|Κυνόδοντας|2009|Τρία αδέλφια μεγαλώνουν κλεισμένα σε μια έπαυλη, χωρίς να γνωρίζουν τον έξω κόσμο. 😱
4|Η Μικρά Αγγλία|2013|Δύο αδελφές στην Άνδρο του μεσοπολέμου ερωτεύονται τον ίδιο άντρα. 🌊⛵
"""
MULTILINGUAL = [SPANISH, RUSSIAN, JAPANESE, CHINESE_SIMPLIFIED, KOREAN, GREEK_EMOJI]

ASCII_TITLES = [
    "The Shawshank Redemption|1994|Drama|9.3",
    "The Godfather|1972|Crime, Drama|9.2",
    "The Dark Knight|2008|Action, Crime, Drama|9.0",
    "12 Angry Men|1957|Crime, Drama|9.0",
    "Schindler's List|1993|Biography, Drama, History|9.0",
    "Pulp Fiction|1994|Crime, Drama|8.9",
    "Fight Club|1999|Drama|8.8",
    "Forrest Gump|1994|Drama, Romance|8.8",
]


def table(*corpora: str, target: int, codec: str, newline: str = "\n") -> str:
    """A '|'-separated table: the first corpus's header, then the corpora's rows cycled with fresh ids
    until the file is at least `target` bytes in `codec`."""
    header = corpora[0].splitlines()[0]
    body = [line.split("|", 1)[1] for corpus in corpora for line in corpus.splitlines()[1:]]
    per_cycle = len("".join(f"{i}|{row}{newline}" for i, row in enumerate(body, 1)).encode(codec))
    rows = max(len(body), -(-target * len(body) // per_cycle))
    return header + newline + "".join(f"{i}|{body[i % len(body)]}{newline}" for i in range(1, rows + 1))


def ascii_rows(start: int, size: int) -> str:
    """ASCII movie rows (CRLF) totalling at least `size` bytes."""
    rows = []
    total, i = 0, start
    while total < size:
        row = f"tt{i:07d}|movie|{ASCII_TITLES[i % len(ASCII_TITLES)]}\r\n"
        rows.append(row)
        total += len(row)
        i += 1
    return "".join(rows)


@dataclass
class Upload:
    result: CliResult
    report: dict[str, Any]
    prefix: str

    def entry(self, name: str) -> dict[str, Any]:
        matches = [e for e in self.report["files"] if Path(e["source"]).name == name]
        assert len(matches) == 1, f"{name}: {len(matches)} report entries\n{self.result.output}"
        return matches[0]

    def line(self, name: str, stream: str = "stdout") -> str:
        """The file's one result line: 'SOURCE -> s3://...' on stdout, 'FAILED SOURCE: ...' on stderr
        (progress and restart lines are not result lines)."""
        if stream == "stdout":
            lines = [line for line in self.result.stdout.splitlines() if f"/{name} -> s3://" in line]
        else:
            lines = [line for line in self.result.stderr.splitlines() if f"/{name}: " in line]
        assert len(lines) == 1, f"{name}: expected one {stream} line, got {lines}\n{self.result.output}"
        return lines[0]


def upload(server: Any, bucket: str, prefix: str, sources: Path, *args: str | Path) -> Upload:
    report = sources.parent / f"report-{sources.name}.json"
    result = run_cli(
        sources,
        "--bucket",
        bucket,
        "--key-template",
        prefix + "/{filename}",
        "--report",
        report,
        *args,
        env=cli_env(server.endpoint_url),
        timeout=180,
    )
    assert "Traceback" not in result.output, result.output
    data = json.loads(report.read_text("utf-8")) if report.exists() else {"files": []}
    return Upload(result, data, prefix)


def equivalent(reported: str, written_in: str, payload: bytes, text: str) -> bool:
    """The only equivalence accepted for a reported source encoding: the codec the test wrote the file in
    (canonical names compared), or a codec that decodes the WHOLE file (BOM removed) to the identical text
    (e.g. cp1252 for a latin-1 file without 0x80-0x9F bytes, cp949 for euc_kr, cp950 for big5)."""
    if codecs.lookup(reported).name == codecs.lookup(written_in).name:
        return True
    try:
        return payload.decode(reported) == text
    except (UnicodeDecodeError, LookupError):
        return False


# --- 1. the corpus, one CLI run ------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusFile:
    name: str
    text: str
    codec: str  # codec the payload is written in (BOM-less variant)
    bom: bytes = b""

    @property
    def data(self) -> bytes:
        return self.bom + self.text.encode(self.codec)


def _corpus() -> list[CorpusFile]:
    # Sizes from a few KB to ~1.2 MB: the larger multi-byte ones cross the pipeline's 1 MiB read blocks.
    return [
        CorpusFile("utf-8.csv", table(*MULTILINGUAL, target=300_000, codec="utf-8"), "utf-8"),
        CorpusFile(
            "utf-8-bom.csv", table(FRENCH, PORTUGUESE, target=20_000, codec="utf-8"), "utf-8", codecs.BOM_UTF8
        ),
        CorpusFile(
            "utf-16-le-bom.csv",
            table(*MULTILINGUAL, target=1_200_000, codec="utf-16-le"),
            "utf-16-le",
            codecs.BOM_UTF16_LE,
        ),
        CorpusFile(
            "utf-16-be-bom.csv",
            table(KOREAN, GREEK_EMOJI, CHINESE_TRADITIONAL, target=150_000, codec="utf-16-be"),
            "utf-16-be",
            codecs.BOM_UTF16_BE,
        ),
        CorpusFile(
            "utf-32-le-bom.csv",
            table(RUSSIAN, JAPANESE, GREEK_EMOJI, target=1_200_000, codec="utf-32-le"),
            "utf-32-le",
            codecs.BOM_UTF32_LE,
        ),
        CorpusFile(
            "utf-32-be-bom.csv",
            table(FRENCH, GREEK_EMOJI, target=60_000, codec="utf-32-be"),
            "utf-32-be",
            codecs.BOM_UTF32_BE,
        ),
        CorpusFile("latin-1.csv", table(LATIN1_SPANISH, target=8_000, codec="latin-1"), "latin-1"),
        CorpusFile("cp1252.csv", table(PORTUGUESE, FRENCH, target=200_000, codec="cp1252"), "cp1252"),
        CorpusFile(
            "iso-8859-15.csv", table(ISO8859_15_FRENCH, target=30_000, codec="iso8859-15"), "iso8859-15"
        ),
        CorpusFile("cp1250.csv", table(CZECH, POLISH, target=100_000, codec="cp1250"), "cp1250"),
        CorpusFile("koi8-r.csv", table(RUSSIAN, target=50_000, codec="koi8-r"), "koi8-r"),
        CorpusFile("shift_jis.csv", table(JAPANESE, target=1_200_000, codec="shift_jis"), "shift_jis"),
        CorpusFile("euc-jp.csv", table(JAPANESE, target=40_000, codec="euc_jp"), "euc_jp"),
        CorpusFile("gb18030.csv", table(CHINESE_SIMPLIFIED, target=1_100_000, codec="gb18030"), "gb18030"),
        CorpusFile("big5.csv", table(CHINESE_TRADITIONAL, target=60_000, codec="big5"), "big5"),
        CorpusFile("euc-kr.csv", table(KOREAN, target=1_100_000, codec="euc_kr"), "euc_kr"),
    ]


CORPUS = _corpus()


@pytest.fixture(scope="module")
def corpus_upload(s3_server: Any, shared_bucket: str, tmp_path_factory: pytest.TempPathFactory) -> Upload:
    sources = tmp_path_factory.mktemp("corpus") / "corpus"
    sources.mkdir()
    for item in CORPUS:
        (sources / item.name).write_bytes(item.data)
    return upload(s3_server, shared_bucket, f"t-{uuid.uuid4().hex[:12]}", sources)


def test_corpus_run_lands_every_file(corpus_upload: Upload, s3: Any, shared_bucket: str) -> None:
    result = corpus_upload.result
    assert result.returncode == 0, result.output
    summary = corpus_upload.report["summary"]
    assert (summary["files"], summary["uploaded"], summary["failed"]) == (len(CORPUS), len(CORPUS), 0)
    assert list_keys(s3, shared_bucket, corpus_upload.prefix) == sorted(
        f"{corpus_upload.prefix}/{item.name}" for item in CORPUS
    )
    assert open_uploads(s3, shared_bucket, corpus_upload.prefix) == []


@pytest.mark.parametrize("item", CORPUS, ids=[item.name for item in CORPUS])
def test_corpus_file_lands_as_exact_utf8(
    item: CorpusFile, corpus_upload: Upload, s3: Any, shared_bucket: str
) -> None:
    key = f"{corpus_upload.prefix}/{item.name}"
    expected = item.text.encode("utf-8")
    assert not expected.startswith(codecs.BOM_UTF8)
    body = read_object(s3, shared_bucket, key)
    assert body == expected, f"{item.name}: object differs from the UTF-8 of the source text"
    assert s3.head_object(Bucket=shared_bucket, Key=key)["ContentType"] == CONTENT_TYPE

    entry = corpus_upload.entry(item.name)
    assert entry["status"] == "uploaded" and entry["error"] is None
    assert entry["bytes_read"] == len(item.data) and entry["bytes_written"] == len(expected)
    assert entry["replacements"] == 0 and entry["notes"] == []
    line = corpus_upload.line(item.name)
    if item.bom:
        assert entry["source_encoding"] == item.codec, entry
        assert (entry["encoding_method"], entry["bom_removed"]) == ("bom", True), entry
        assert entry["encoding_confidence"] == 1.0
        assert f"{item.codec} (bom, BOM removed)" in line
    else:
        assert equivalent(entry["source_encoding"], item.codec, item.data, item.text), (
            f"{item.name} written in {item.codec}, reported {entry['source_encoding']} "
            "which does not decode the file to the same text"
        )
        assert (entry["encoding_method"], entry["bom_removed"]) == ("detected", False), entry
        assert 0.0 < entry["encoding_confidence"] <= 1.0
        assert f"{entry['source_encoding']} (detected, confidence " in line and "BOM" not in line


# --- 2. line endings and content ------------------------------------------------------------------------

TRICKY_ROWS = (
    "id|titulo|sinopse|preco\r\n"
    '1|"Cidade de Deus"|"Buscapé cresce na favela.\r\nSegunda linha, com | pipe dentro"|€ 9,90\r\n'
    '2|Ação|"aspas “duplas” e ""escapadas""\nLF sozinho dentro das aspas"|– 7,50\r\n'
    "\r\n"
    '3|"Coração | partido"|"CR sozinho\rdentro"|  espaços e\ttab  \r\n'
    '4|Último|"termina sem nova linha; 3 × ½"|€ 1'
)


def test_line_endings_and_quoted_fields_are_kept_byte_for_byte(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    crlf_cp1252 = TRICKY_ROWS
    # Same rows, repeated past a 1 MiB read block, in UTF-16 (a CR LF is 4 bytes there).
    body = TRICKY_ROWS.split("\r\n", 1)[1]
    crlf_utf16 = TRICKY_ROWS + "\r\n" + (body + "\r\n") * 3000 + body
    files = {
        "crlf-cp1252.csv": (crlf_cp1252, crlf_cp1252.encode("cp1252")),
        "crlf-utf16.csv": (crlf_utf16, codecs.BOM_UTF16_LE + crlf_utf16.encode("utf-16-le")),
    }
    for name, (_, data) in files.items():
        (sources / name).write_bytes(data)
    up = upload(s3_server, shared_bucket, prefix, sources)
    assert up.result.returncode == 0, up.result.output
    for name, (text, data) in files.items():
        body_out = read_object(s3, shared_bucket, f"{prefix}/{name}")
        assert body_out == text.encode("utf-8"), f"{name}: content not kept byte for byte"
        assert body_out.count(b"\r\n") == text.count("\r\n") and not body_out.endswith(b"\n")
        assert up.entry(name)["bytes_read"] == len(data)
    assert up.entry("crlf-cp1252.csv")["source_encoding"] == "cp1252"
    assert up.entry("crlf-utf16.csv")["source_encoding"] == "utf-16-le"


# --- 3. non-ASCII bytes only after many megabytes (multipart) ------------------------------------------


def accented_rows(start: int, size: int, codec: str = "cp1252") -> str:
    """Portuguese/French rows (with € “ ” – ’ œ) totalling at least `size` bytes in `codec`."""
    body = [line.split("|", 1)[1] for corpus in (PORTUGUESE, FRENCH) for line in corpus.splitlines()[1:]]
    rows, total, i = [], 0, start
    while total < size:
        row = f"{i}|{body[i % len(body)]}\r\n"
        rows.append(row)
        total += len(row.encode(codec))
        i += 1
    return "".join(rows)


def windows_touching(size: int, start: int, end: int) -> list[int]:
    """Sampled window offsets that overlap the byte range [start, end)."""
    return [o for o in sample_offsets(size) if o < end and start < o + SAMPLE_WINDOW]


def test_accents_only_after_many_megabytes_land_exactly_via_multipart(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    head = ascii_rows(0, 12 * MiB)
    at_end = head + accented_rows(10**6, 300_000)
    before, block = ascii_rows(0, 6 * MiB), accented_rows(10**6, 1_500_000)
    in_middle = before + block + ascii_rows(2 * 10**6, 6 * MiB)
    files = {"accents-at-end.csv": at_end, "accents-in-middle.csv": in_middle}
    for name, text in files.items():
        data = text.encode("cp1252")
        first = len(data) - len(data.lstrip(bytes(range(0x80))))
        assert first >= 6 * MiB, f"{name}: precondition, first non-ASCII byte at {first}"
        (sources / name).write_bytes(data)
    middle_start = len(before)
    assert windows_touching(len(in_middle), middle_start, middle_start + len(block)), "precondition"

    up = upload(s3_server, shared_bucket, prefix, sources, "--part-size", "5MiB")
    assert up.result.returncode == 0, up.result.output
    for name, text in files.items():
        expected = text.encode("utf-8")
        key = f"{prefix}/{name}"
        assert read_object(s3, shared_bucket, key) == expected, f"{name}: not the exact UTF-8"
        entry = up.entry(name)
        assert entry["source_encoding"] == "cp1252", entry
        assert entry["encoding_method"] == "detected" and entry["notes"] == [], entry
        parts = -(-len(expected) // (5 * MiB))
        assert parts >= 3 and entry["parts"] == parts
        assert s3.head_object(Bucket=shared_bucket, Key=key)["ETag"].strip('"').endswith(f"-{parts}")
    assert "starting again" not in up.result.stdout
    assert open_uploads(s3, shared_bucket, prefix) == []


# --- 4. decode failure part-way: re-detection, restart once, or a clean failure -------------------------


def place_between_windows(
    filler: list[bytes], regions: list[bytes], gaps: list[int]
) -> tuple[bytes, list[int]]:
    """Insert each region at a row boundary of `filler` so that, in the final file, it lies entirely in the
    gap after sampled window number gaps[i] (never sampled at first detection). Returns (file, offsets)."""
    size = sum(map(len, filler)) + sum(map(len, regions))
    windows = sample_offsets(size)
    assert len(windows) == 8, windows
    boundaries = [0]
    for row in filler:
        boundaries.append(boundaries[-1] + len(row))
    out, offsets, used, shift = bytearray(), [], 0, 0
    for region, gap in zip(regions, gaps, strict=True):
        low, high = windows[gap] + SAMPLE_WINDOW, windows[gap + 1]
        # The first filler boundary whose final position leaves the region inside the gap (with margin).
        row = next(i for i, b in enumerate(boundaries) if b + shift >= low + 4096)
        position = boundaries[row] + shift
        assert position + len(region) <= high - 4096, f"region of {len(region)} bytes does not fit the gap"
        out += b"".join(filler[used:row]) + region
        offsets.append(position)
        used, shift = row, shift + len(region)
    out += b"".join(filler[used:])
    assert len(out) == size
    for offset, region in zip(offsets, regions, strict=True):
        assert out[offset : offset + len(region)] == region
        assert not windows_touching(size, offset, offset + len(region)), "precondition: region was sampled"
    return bytes(out), offsets


def first_bad_byte(data: bytes, codec: str) -> int:
    with pytest.raises(UnicodeDecodeError) as caught:
        data.decode(codec)
    return caught.value.start


def test_decode_failure_part_way_redetects_restarts_once_or_fails_cleanly(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    portuguese = [line.split("|", 1)[1] for line in PORTUGUESE.splitlines()[1:]]
    legacy_rows = accented_rows(5_000_000, 20_000)

    # (a) A UTF-8 export (accents everywhere, so every window is valid multi-byte UTF-8) with cp1252 rows
    # pasted into an unsampled gap after the first part. Re-detection sees UTF-8 around them; reading the
    # whole file as cp1252 would garble every valid sequence: it must fail, naming the offset.
    utf8_rows = [f"{i}|{portuguese[i % len(portuguese)]}\r\n".encode() for i in range(90_000)]
    mixed, (mixed_at,) = place_between_windows(utf8_rows, [legacy_rows.encode("cp1252")], [4])
    mixed_bad = first_bad_byte(mixed, "utf-8")
    assert mixed_bad >= mixed_at > 5 * MiB
    text_before = mixed[:mixed_bad].decode("utf-8")
    assert not text_before.isascii()

    # (b) A cp1252 file whose only non-ASCII rows lie in an unsampled gap: first read as UTF-8 ('ascii'),
    # fails there, re-detected as cp1252 with the failing region, restarted once, lands exactly.
    ascii_filler = [row.encode() for row in ascii_rows(0, 10 * MiB).splitlines(keepends=True)]
    restart, (restart_at,) = place_between_windows(ascii_filler, [legacy_rows.encode("cp1252")], [4])
    restart_bad = first_bad_byte(restart, "utf-8")
    assert restart_bad >= restart_at > 5 * MiB

    # (c) Same, plus one byte cp1252 cannot decode (0x81) in a later gap: the restart as cp1252 fails
    # there, and the file fails naming that offset and cp1252 (no second restart).
    corrupt = b"tt9999999|movie|Bras\x81lia|1960|Documentary|7.1\r\n"
    twice, (_, corrupt_at) = place_between_windows(
        ascii_filler, [legacy_rows.encode("cp1252"), corrupt], [2, 5]
    )
    twice_bad = corrupt_at + corrupt.index(b"\x81")
    assert first_bad_byte(twice, "cp1252") == twice_bad

    (sources / "utf8-with-cp1252-rows.csv").write_bytes(mixed)
    (sources / "cp1252-late-accents.csv").write_bytes(restart)
    (sources / "cp1252-late-accents-and-corrupt-byte.csv").write_bytes(twice)
    up = upload(s3_server, shared_bucket, prefix, sources, "--part-size", "5MiB")
    assert up.result.returncode == 1, up.result.output
    assert open_uploads(s3, shared_bucket, prefix) == [], "an aborted file left a multipart upload open"
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/cp1252-late-accents.csv"]

    # (a) clean failure, exact offset of the first bad byte, the encoding tried, the file.
    entry = up.entry("utf8-with-cp1252-rows.csv")
    assert (entry["status"], entry["source_encoding"]) == ("failed", "utf-8"), entry
    failure = up.line("utf8-with-cp1252-rows.csv", "stderr")
    assert failure.startswith("FAILED ") and "utf8-with-cp1252-rows.csv" in failure
    assert f"byte offset {mixed_bad} as utf-8" in failure, (
        f"expected the first bad byte {mixed_bad} (utf-8) in: {failure}"
    )

    # (b) restarted once as cp1252, lands as the exact UTF-8.
    name = "cp1252-late-accents.csv"
    entry = up.entry(name)
    assert entry["status"] == "uploaded", entry
    assert read_object(s3, shared_bucket, f"{prefix}/{name}") == restart.decode("cp1252").encode("utf-8")
    assert entry["source_encoding"] == "cp1252" and entry["encoding_method"] == "detected", entry
    assert len(entry["notes"]) == 1 and "restarted" in entry["notes"][0], entry["notes"]
    assert f"byte offset {restart_bad} as utf-8" in entry["notes"][0], entry["notes"]
    restarts = [line for line in up.result.stdout.splitlines() if "starting again" in line]
    assert any(f"/{name}:" in line and line.endswith("starting again as cp1252") for line in restarts)

    # (c) restarted once, then a clean failure at the corrupt byte, as cp1252.
    name = "cp1252-late-accents-and-corrupt-byte.csv"
    assert sum(f"/{name}:" in line for line in restarts) == 1, restarts
    failure = up.line(name, "stderr")
    assert failure.startswith("FAILED ") and f"byte offset {twice_bad} as cp1252" in failure, failure
    assert up.entry(name)["status"] == "failed"


# --- 5. --on-decode-error replace -------------------------------------------------------------------------


def test_replace_writes_u_fffd_and_counts_replacements(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    rows = table(PORTUGUESE, FRENCH, target=40_000, codec="utf-8").encode().splitlines(keepends=True)
    rows[10] = rows[10].replace(b"|", b"|\xff", 1)  # a byte never valid in UTF-8
    rows[100] = rows[100].replace(b"|", b"\xc3|", 1)  # a lead byte followed by ASCII
    rows[200] = rows[200].replace(b"|", b"\xe2\x82|", 1)  # a truncated 3-byte sequence: one U+FFFD
    damaged = b"".join(rows)
    truncated = table(SPANISH, target=5_000, codec="utf-8").encode() + "Añ".encode()[:-1]  # ends inside "ñ"
    files = {"damaged.csv": (damaged, 3), "truncated-at-eof.csv": (truncated, 1)}
    for name, (data, _) in files.items():
        (sources / name).write_bytes(data)
    up = upload(s3_server, shared_bucket, prefix, sources, "--on-decode-error", "replace")
    assert up.result.returncode == 0, up.result.output
    for name, (data, count) in files.items():
        expected_text = data.decode("utf-8", errors="replace")
        assert expected_text.count("\ufffd") == count  # precondition
        assert read_object(s3, shared_bucket, f"{prefix}/{name}") == expected_text.encode("utf-8"), name
        entry = up.entry(name)
        assert entry["replacements"] == count and entry["source_encoding"] == "utf-8", entry
        assert f", {count} replacement(s)" in up.line(name)
    assert up.report["summary"]["replacements"] == 4
    assert "4 undecodable" in up.result.stdout  # the run summary says it too


def test_replacing_many_bad_bytes_of_a_small_utf8_file_still_fits_its_single_put(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    # Each undecodable byte becomes U+FFFD (3 bytes): a small UTF-8 file can grow threefold. Its one-part
    # buffer must hold that, or the file would be cut into a first part below S3's 5 MiB minimum.
    sources = tmp_path / "src"
    sources.mkdir()
    data = b"id|value\n" + b"".join(b"%d|\xff\xfe\xfd\xfc ok\n" % i for i in range(6000))
    (sources / "bad.csv").write_bytes(data)
    up = upload(
        s3_server, shared_bucket, prefix, sources, "--encoding", "utf-8", "--on-decode-error", "replace"
    )
    assert up.result.returncode == 0, up.result.output
    expected = data.decode("utf-8", errors="replace").encode("utf-8")
    assert len(expected) - len(data) > 40_000  # precondition: it grew far beyond any slack
    assert read_object(s3, shared_bucket, f"{prefix}/bad.csv") == expected
    assert up.entry("bad.csv")["parts"] == 1 and up.entry("bad.csv")["replacements"] == 24_000


# --- 6. --encoding forced ---------------------------------------------------------------------------------


def test_forced_cp1252_is_reported_as_forced_and_never_restarted(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    text = table(PORTUGUESE, target=10_000, codec="cp1252")
    (sources / "forced.csv").write_bytes(text.encode("cp1252"))
    bad = text.encode("cp1252") + b"99|Bras\x81lia|1960|x|y\n"
    (sources / "forced-undecodable.csv").write_bytes(bad)
    up = upload(s3_server, shared_bucket, prefix, sources, "--encoding", "cp1252")
    assert up.result.returncode == 1, up.result.output
    assert read_object(s3, shared_bucket, f"{prefix}/forced.csv") == text.encode("utf-8")
    entry = up.entry("forced.csv")
    assert (entry["source_encoding"], entry["encoding_method"]) == ("cp1252", "forced"), entry
    assert entry["encoding_confidence"] == 1.0 and entry["bom_removed"] is False
    assert "cp1252 (forced)" in up.line("forced.csv")
    failure = up.line("forced-undecodable.csv", "stderr")
    offset = bad.index(b"\x81")
    assert f"byte offset {offset} as cp1252" in failure, failure
    assert "starting again" not in up.result.stdout
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/forced.csv"]


def test_forced_utf16_strips_the_bom_whatever_its_byte_order(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    text = table(FRENCH, GREEK_EMOJI, target=20_000, codec="utf-16-le")
    files = {
        "le-bom.csv": (codecs.BOM_UTF16_LE + text.encode("utf-16-le"), "utf-16-le", True),
        "be-bom.csv": (codecs.BOM_UTF16_BE + text.encode("utf-16-be"), "utf-16-be", True),
        "le-no-bom.csv": (text.encode("utf-16-le"), "utf-16-le", False),
    }
    for name, (data, _, _) in files.items():
        (sources / name).write_bytes(data)
    up = upload(s3_server, shared_bucket, prefix, sources, "--encoding", "utf-16")
    assert up.result.returncode == 0, up.result.output
    for name, (data, codec, bom) in files.items():
        assert read_object(s3, shared_bucket, f"{prefix}/{name}") == text.encode("utf-8"), name
        entry = up.entry(name)
        assert (entry["source_encoding"], entry["encoding_method"], entry["bom_removed"]) == (
            codec,
            "forced",
            bom,
        ), entry
        assert entry["bytes_read"] == len(data)


@pytest.mark.parametrize("name", ["nonsense", "rot13"])
def test_unknown_or_non_text_encoding_is_a_usage_error(
    name: str, s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("id|nome\n1|José\n", encoding="utf-8")
    result = run_cli(
        tmp_path / "a.csv",
        "--bucket",
        shared_bucket,
        "--key-template",
        prefix + "/{filename}",
        "--encoding",
        name,
        env=cli_env(s3_server.endpoint_url),
    )
    assert result.returncode == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], result.stderr
    assert "Traceback" not in result.output and result.stdout == ""
    assert list_keys(s3, shared_bucket, prefix) == []


# --- 7. binary garbage named .csv --------------------------------------------------------------------------


def binary_files() -> Iterator[tuple[str, bytes]]:
    rng = random.Random(3)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"
    yield "image.csv", png + rng.randbytes(40_000)
    yield "gzipped.csv", gzip.compress(table(PORTUGUESE, target=50_000, codec="utf-8").encode(), mtime=0)
    yield "random.csv", rng.randbytes(300_000)
    # No NUL at all: only the plausibility floor of detection can reject it.
    yield "random-no-nul.csv", rng.randbytes(300_000).replace(b"\x00", b"")


def test_binary_garbage_fails_alone_and_leaves_nothing(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    good = table(CZECH, target=5_000, codec="cp1250")
    (sources / "good.csv").write_bytes(good.encode("cp1250"))
    names = []
    for name, data in binary_files():
        (sources / name).write_bytes(data)
        names.append(name)
    up = upload(s3_server, shared_bucket, prefix, sources)
    assert up.result.returncode == 1, up.result.output
    for name in names:
        line = up.line(name, "stderr")
        assert line.startswith("FAILED ") and name in line, line
        assert up.entry(name)["status"] == "failed"
    assert len(up.result.stderr.strip().splitlines()) == len(names), up.result.stderr
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/good.csv"]
    assert read_object(s3, shared_bucket, f"{prefix}/good.csv") == good.encode("utf-8")
    assert open_uploads(s3, shared_bucket, prefix) == []
