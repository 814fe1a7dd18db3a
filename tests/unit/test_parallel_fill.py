"""Read-ahead (issue 22): ParallelFiller gives the same parts, checksums, counts and CSV facts as
PartFiller, whatever falls on a segment or part boundary; one end-to-end upload against SeaweedFS."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest

from async_ingest.pipeline.budget import MemoryBudget
from async_ingest.pipeline.file import CsvCheck
from async_ingest.pipeline.parts import MIN_PART_SIZE, PartFiller
from async_ingest.pipeline.readahead import SEGMENT, ParallelFiller
from async_ingest.transform import native
from async_ingest.transform.csvcheck import CsvChecker, CsvPolicy
from async_ingest.transform.transcode import DecodeFailure, Transcoder
from async_ingest.units import MiB

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(native.IMPLEMENTATION != "native", reason="read-ahead needs the C core"),
]

PART = MIN_PART_SIZE


def fill(path: Path, encoding: str, errors: str, parallel: bool, bom: bytes = b"") -> tuple[Any, ...]:
    """Every part of path: (part bytes' SHA-256s, part checksums, object SHA-256, bytes in/out,
    replacements, CSV facts), or ("failed", message)."""
    size = path.stat().st_size
    transcoder = Transcoder(encoding, errors=errors, bom=bom)
    check = CsvCheck(CsvChecker(), CsvPolicy("report"))
    filler: PartFiller
    if parallel:
        filler = ParallelFiller(path, transcoder, PART, size, bom=bom, whole_sha256=True, csv=check.checker)
    else:
        filler = PartFiller(open(path, "rb", buffering=0), transcoder, PART, size, whole_sha256=True)  # noqa: SIM115
    hashes, digests = [], []
    try:
        while True:
            part = filler.fill(bytearray(PART))
            if filler.text_checked:
                check.settle(filler.exhausted)
            else:
                check.part(part.data, filler.exhausted)
            hashes.append(hashlib.sha256(part.data).hexdigest())
            digests.append(part.digest)
            if filler.exhausted:
                break
    except DecodeFailure as failure:
        return ("failed", str(failure))
    finally:
        if isinstance(filler, ParallelFiller):
            filler.close()
    assert filler.sha256 is not None
    counts = (transcoder.bytes_in, transcoder.bytes_out, transcoder.replacements)
    return hashes, digests, filler.sha256.hexdigest(), counts, check.checker.finish()


def same_both_ways(path: Path, encoding: str, errors: str = "strict", bom: bytes = b"") -> tuple[Any, ...]:
    sequential = fill(path, encoding, errors, parallel=False, bom=bom)
    assert fill(path, encoding, errors, parallel=True, bom=bom) == sequential
    return sequential


def rows(count: int, text: str) -> bytes:
    return "".join(f"{i}|{text}|{i * 7}\r\n" for i in range(count)).encode("utf-8")


def test_cp1252_parts_equal(tmp_path: Path) -> None:
    path = tmp_path / "cp1252.csv"
    body = "".join(f"{i}|Ação “{i}” – café…|{i % 97}\r\n" for i in range(400_000))
    path.write_bytes(("id|t|n\r\n" + body).encode("cp1252"))
    hashes, _, _, counts, stats = same_both_ways(path, "cp1252")
    assert len(hashes) > 2 and counts[1] > counts[0]  # several parts; the text grew
    assert stats.rows == 400_000 and stats.ragged_rows == 0


@pytest.mark.parametrize("back", [1, 2, 3])
def test_utf8_multibyte_straddling_boundaries(tmp_path: Path, back: int) -> None:
    """A 4-byte character starting `back` bytes before every segment (and so every part) boundary,
    and 3-byte and 2-byte ones everywhere else."""
    path = tmp_path / "utf8.csv"
    unit = "ab😀€é|".encode()
    data = bytearray(b"id|t\n")
    for boundary in range(SEGMENT, 3 * PART + SEGMENT, SEGMENT):
        while len(data) + len(unit) <= boundary - back:
            data += unit
        data += b"x" * (boundary - back - len(data)) + "😀".encode() + b"\n"
    path.write_bytes(bytes(data))
    hashes, _, _, counts, _ = same_both_ways(path, "utf-8")
    assert counts[0] == counts[1] == len(data) and len(hashes) == 4


@pytest.mark.parametrize("errors", ["strict", "replace"])
@pytest.mark.parametrize("cut", [-3, -2, -1, 0, 1])
def test_utf8_bad_sequence_at_segment_boundary(tmp_path: Path, errors: str, cut: int) -> None:
    """A truncated or stray sequence right at a segment boundary fails at the same offset with the
    same reason (strict), or gets the same U+FFFDs (replace), as in one pass."""
    path = tmp_path / "bad.csv"
    data = bytearray(rows(300_000, "coração|ñandú"))
    for boundary in (SEGMENT, 5 * SEGMENT, PART):
        data[boundary + cut : boundary + cut + 3] = b"\xe2\x82|"  # € without its last byte
        data[boundary + 40] = 0x80  # a stray continuation byte
    path.write_bytes(bytes(data))
    result = same_both_ways(path, "utf-8", errors)
    if errors == "strict":
        assert result[0] == "failed" and f"offset {SEGMENT + cut}" in result[1]
    else:
        assert result[3][2] >= 3  # at least the three cut euro signs


def test_cp1252_undefined_byte_and_replace(tmp_path: Path) -> None:
    path = tmp_path / "undefined.csv"
    data = bytearray("ação|x\n".encode("cp1252") * 2_000_000)
    data[3 * SEGMENT + 1] = 0x81  # undefined in Windows-1252
    path.write_bytes(bytes(data))
    failed = same_both_ways(path, "cp1252")
    assert failed[0] == "failed" and f"offset {3 * SEGMENT + 1}" in failed[1]
    assert same_both_ways(path, "cp1252", "replace")[3][2] == 1


def test_utf8_bom_and_exact_part_multiple(tmp_path: Path) -> None:
    """A BOM is stripped once; a file that ends exactly on a part boundary ends with that part."""
    path = tmp_path / "bom.csv"
    bom = b"\xef\xbb\xbf"
    body = rows(800_000, "é")
    end = body.rfind(b"\n", 0, 2 * PART) + 1
    path.write_bytes(bom + body[:end] + b"x" * (2 * PART - end))
    hashes, _, _, counts, _ = same_both_ways(path, "utf-8", bom=bom)
    assert len(hashes) == 2 and counts[1] == 2 * PART


class CountingChecker(CsvChecker):
    """A CsvChecker that counts the segments fed with a prescan (the worker-thread scan)."""

    prescanned = 0

    def feed(self, chunk: Any, prescanned: Any = None) -> None:
        self.prescanned += prescanned is not None
        super().feed(chunk, prescanned)


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8"])
def test_csv_scanned_on_workers_same_facts(tmp_path: Path, encoding: str) -> None:
    """Quoted fields holding line ends and doubled quotes, CRLF rows, blank lines and ragged rows all
    over, so segment boundaries fall inside quotes, between CR and LF and inside "": the CSV facts of
    the segments scanned on worker threads (prescan, then joined in order) are the sequential ones."""
    rows = []
    for i in range(120_000):
        if i % 9 == 0:
            rows.append(f'{i},"dito ""é"" \r\nsegunda\nlinha",ç\r\n')
        elif i % 1000 == 7:
            rows.append(f"{i},ragged\r\n\r\n")
        else:
            rows.append(f'{i},"{"x" * (i % 23)}",€\r\n')
    path = tmp_path / "quoted.csv"
    path.write_bytes(("id,texto,tag\r\n" + "".join(rows)).encode(encoding))
    errors = "replace" if encoding == "utf-8" else "strict"  # strict UTF-8 is sequential in the pipeline
    sequential = fill(path, encoding, errors, parallel=False)
    checker = CountingChecker()
    transcoder = Transcoder(encoding, errors=errors)
    filler = ParallelFiller(path, transcoder, PART, path.stat().st_size, whole_sha256=True, csv=checker)
    try:
        while not filler.exhausted:
            filler.fill(bytearray(PART))
    finally:
        filler.close()
    stats = checker.finish()
    assert stats == sequential[4]
    assert stats.ragged_rows == stats.blank_lines == 106 and len(stats.first_ragged_lines) == 5
    assert checker.prescanned >= path.stat().st_size // SEGMENT - 8  # all but the first few segments


async def test_readahead_loan_never_stops_its_own_part() -> None:
    """The read-ahead is lent from the budget's capacity, only when free now, and never counted
    against the parts-in-flight limit: when the window shrinks to one part, the borrowing file's part
    is still granted (paid from the limit, read-ahead and part held together, the file waited for
    itself: the hang of the first version)."""
    budget = MemoryBudget(28 * MiB)
    assert budget.lend(8 * MiB, 5 * MiB)
    assert budget.lend(8 * MiB, 5 * MiB)
    assert not budget.lend(8 * MiB, 5 * MiB)  # 24 + 5 > 28: the third file reads sequentially
    budget.set_limit(5 * MiB)  # the parts-in-flight window shrank to one part
    first = await asyncio.wait_for(budget.acquire(5 * MiB), 1)
    assert budget.in_use + budget.lent <= budget.capacity
    second = asyncio.ensure_future(budget.acquire(5 * MiB))  # waits for the first part, not the loans
    await asyncio.sleep(0.01)
    assert not second.done()
    budget.release(first)
    assert await asyncio.wait_for(second, 1) == 5 * MiB
    budget.set_limit(28 * MiB)
    assert await asyncio.wait_for(budget.acquire(5 * MiB), 1) == 5 * MiB  # 10 in use + 16 lent
    fourth = asyncio.ensure_future(budget.acquire(5 * MiB))  # 10 + 16 + 5 > 28: the capacity says wait
    await asyncio.sleep(0.01)
    assert not fourth.done()
    budget.give_back(8 * MiB)
    assert await asyncio.wait_for(fourth, 1) == 5 * MiB
    assert budget.peak_in_use <= budget.capacity
