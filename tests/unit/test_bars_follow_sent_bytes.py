"""The terminal bars follow the bytes going out (PartSending), not only the parts
acknowledged: with several parts in flight on a slow link every part lands near the end, and a bar
fed by acknowledgements alone sat at 0% until then. No server: events are fed by hand, and the
payload writes to a fake connection."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import sys
import types
from typing import Any

import pytest

from async_ingest.events import (
    EncodingInfo,
    FileFinished,
    FileResult,
    FileStarted,
    PartSending,
    PartUploaded,
    Status,
)
from async_ingest.output.bars import TerminalProgress
from async_ingest.output.progress import JsonLogPrinter, PlainPrinter
from async_ingest.s3 import writer as writer_module
from async_ingest.s3.compat import PAYLOAD_SLICE, PartPayload
from async_ingest.s3.transport import PartBody
from async_ingest.s3.writer import SENDING_EVERY_S, ObjectWriter
from async_ingest.sources.files import SourceFile

MiB = 1 << 20
CP1252 = EncodingInfo("cp1252", "detected", 1.0, False)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def bars(monkeypatch: Any, total: int, files: int = 1) -> tuple[TerminalProgress, FakeTerminal]:
    screen = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", screen)  # where tqdm draws
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setattr(shutil, "get_terminal_size", lambda: os.terminal_size((80, 24)))
    monkeypatch.setenv("COLUMNS", "80")
    return TerminalProgress(total, files), screen


def shown(printer: TerminalProgress) -> int:
    """Source bytes the total bar counts."""
    return int(printer._total.n)


def test_total_bar_moves_while_parts_in_flight_are_sent(monkeypatch: Any) -> None:
    # 42 MiB in cp1252, four 8 MiB source parts in flight at once, each ~10% larger in UTF-8.
    source = SourceFile("slow.csv", "", 42 * MiB, 0)
    printer, screen = bars(monkeypatch, source.size)
    printer(FileStarted(source, "k/slow.csv", CP1252))
    seen = [shown(printer)]
    utf8 = 9 * MiB  # the part's body; its share of the source is 8 MiB
    for tenth in range(1, 11):  # the bwlimit shared: every part advances a little at a time
        for number in range(1, 5):
            printer(PartSending(source, number, utf8 * tenth // 10, utf8, 8 * MiB))
            seen.append(shown(printer))
    assert seen[1] > 0  # it moved with the first bytes out, not at the first acknowledgement
    assert shown(printer) == 32 * MiB  # four parts sent whole: their share of the source, not UTF-8
    assert seen == sorted(seen)  # never backwards
    # The acknowledgements come late, the reader already past them: the bar follows the reader.
    for number in range(1, 5):
        printer(PartUploaded(source, number, utf8, 40 * MiB))
        seen.append(shown(printer))
    printer(PartSending(source, 5, utf8 // 2, utf8, 8 * MiB))  # less than the reader's position
    seen.append(shown(printer))
    printer(PartSending(source, 6, 2 * MiB, 2 * MiB, 2 * MiB))
    seen.append(shown(printer))
    assert seen == sorted(seen)
    assert max(seen) <= source.size
    assert "slow.csv:" in screen.getvalue()  # a multipart file got its own bar while sending
    result = FileResult(source, "b", "k/slow.csv", Status.UPLOADED, CP1252, source.size, 46 * MiB, parts=6)
    printer(FileFinished(result))
    assert shown(printer) == source.size
    printer.close()


def test_a_retried_part_counts_once(monkeypatch: Any) -> None:
    source = SourceFile("retry.csv", "", 16 * MiB, 0)
    printer, _ = bars(monkeypatch, source.size)
    printer(FileStarted(source, "k/retry.csv", CP1252))
    printer(PartSending(source, 1, 6 * MiB, 8 * MiB, 8 * MiB))
    assert shown(printer) == 6 * MiB
    for sent in (2 * MiB, 5 * MiB, 6 * MiB):  # the attempt failed; the retry starts from 0
        printer(PartSending(source, 1, sent, 8 * MiB, 8 * MiB))
        assert shown(printer) == 6 * MiB  # neither back, nor counted again
    printer(PartSending(source, 1, 8 * MiB, 8 * MiB, 8 * MiB))
    printer(PartUploaded(source, 1, 8 * MiB, 8 * MiB))
    assert shown(printer) == 8 * MiB
    printer(PartSending(source, 2, 4 * MiB, 8 * MiB, 8 * MiB))
    printer(PartSending(source, 2, 1 * MiB, 8 * MiB, 8 * MiB))  # part 2 retried too
    assert shown(printer) == 12 * MiB
    printer.close()


def test_sent_bytes_beyond_the_file_size_stop_at_it(monkeypatch: Any) -> None:
    # A file that grew since it was listed: its parts' shares add up to more than the listed size.
    source = SourceFile("grew.csv", "", 10 * MiB, 0)
    other = SourceFile("other.csv", "", 10 * MiB, 0)
    printer, _ = bars(monkeypatch, 20 * MiB, 2)
    printer(FileStarted(source, "k/grew.csv", CP1252))
    printer(FileStarted(other, "k/other.csv", CP1252))
    printer(PartSending(source, 1, 8 * MiB, 8 * MiB, 8 * MiB))
    printer(PartSending(source, 2, 8 * MiB, 8 * MiB, 8 * MiB))
    assert shown(printer) == 10 * MiB  # this file's size, not 16 MiB of the 20 MiB run
    printer.close()


def test_a_one_part_file_sending_gets_no_bar_of_its_own(monkeypatch: Any) -> None:
    source = SourceFile("single.csv", "", 6 * MiB, 0)
    printer, screen = bars(monkeypatch, source.size)
    printer(FileStarted(source, "k/single.csv", CP1252))
    printer(PartSending(source, 1, 3 * MiB, 6 * MiB, 6 * MiB))  # a single PUT: part 1 only
    assert shown(printer) == 3 * MiB  # the total bar moves
    assert "single.csv:" not in screen.getvalue()
    printer.close()


def test_lines_and_json_logs_print_nothing_per_slice() -> None:
    source = SourceFile("quiet.csv", "", 16 * MiB, 0)
    sending = PartSending(source, 1, 4 * MiB, 8 * MiB, 8 * MiB)
    out, err = io.StringIO(), io.StringIO()
    plain = PlainPrinter(out=out, err=err, every_s=0.0, total_files=2, total_bytes=32 * MiB)
    plain(FileStarted(source, "k/quiet.csv", CP1252))
    out.seek(0), out.truncate()  # the overall line FileStarted may print (every_s=0): not a slice's
    plain(sending)
    log = JsonLogPrinter(out=out, err=err)
    log(sending)
    assert out.getvalue() == "" and err.getvalue() == ""


class FakeConnection:
    """What aiohttp's StreamWriter offers a payload: write(), awaited."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def write(self, chunk: Any) -> None:
        self.chunks.append(bytes(chunk))


@pytest.mark.parametrize("length", [0, 1000, PAYLOAD_SLICE, 3 * PAYLOAD_SLICE + 12345])
def test_the_payload_reports_each_slice_written(length: int) -> None:
    data = bytes(range(256)) * (length // 256) + b"x" * (length % 256)
    reports: list[int] = []
    body = PartBody(bytearray(data), on_sent=reports.append)
    connection, payload = FakeConnection(), PartPayload(body)
    asyncio.run(payload.write_with_length(connection, None))  # type: ignore[arg-type]
    assert b"".join(connection.chunks) == data
    assert len(reports) == len(connection.chunks)  # one report per slice, none per byte
    assert reports == sorted(reports) and (reports[-1] if reports else 0) == length
    steps = [b - a for a, b in zip([0, *reports], reports, strict=False)]
    assert steps == [len(chunk) for chunk in connection.chunks]
    assert all(step <= PAYLOAD_SLICE for step in steps)
    # A second attempt (aiohttp re-sends once on a dead kept-alive connection) reports from 0 again.
    reports.clear()
    asyncio.run(payload.write_with_length(FakeConnection(), None))  # type: ignore[arg-type]
    assert (reports[-1] if reports else 0) == length


def test_the_writer_reports_a_part_at_most_every_interval(monkeypatch: Any) -> None:
    clock = [100.0]
    monkeypatch.setattr(writer_module, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    told: list[tuple[int, int, int]] = []

    def tell(number: int, sent: int, size: int) -> None:
        told.append((number, sent, size))

    writer = ObjectWriter(None, "b", "k", {}, None, 0, on_sending=tell)  # type: ignore[arg-type]
    sent = writer._sending(3, 10 * PAYLOAD_SLICE)
    assert sent is not None
    for slice_number in range(1, 11):
        clock[0] += SENDING_EVERY_S / 4  # four slices per interval
        sent(slice_number * PAYLOAD_SLICE)
    assert told == [(3, 4 * PAYLOAD_SLICE, 10 * PAYLOAD_SLICE), (3, 8 * PAYLOAD_SLICE, 10 * PAYLOAD_SLICE)]
    quiet = ObjectWriter(None, "b", "k", {}, None, 0)  # type: ignore[arg-type]
    assert quiet._sending(1, 100) is None  # nobody listens: the body reports nothing


def test_a_landed_part_counts_its_own_bytes_not_how_far_the_reader_has_read_ahead(monkeypatch: Any) -> None:
    """The read-ahead has read the whole file when the first part lands: the bar shows that part's
    share of the source, not the reader's position (seen: the total at 100% with files at 27%)."""
    source = SourceFile("ahead.csv", "", 40 * MiB, 0)
    printer, _ = bars(monkeypatch, source.size)
    printer(FileStarted(source, "k/ahead.csv", CP1252))
    printer(PartUploaded(source, 1, 9 * MiB, 40 * MiB, 8 * MiB))  # the reader is at the end already
    assert shown(printer) == 8 * MiB
    printer(PartUploaded(source, 3, 9 * MiB, 40 * MiB, 8 * MiB))  # parts land out of order
    assert shown(printer) == 16 * MiB
