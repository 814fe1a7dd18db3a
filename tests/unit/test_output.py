"""What people and log pipelines see: terminal bars, plain lines, JSON events, quiet, shards."""

from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from async_ingest.events import (
    EncodingInfo,
    FileFinished,
    FileResult,
    FileStarted,
    ManifestWritten,
    PartUploaded,
)
from async_ingest.output import bars as terminal_bars
from async_ingest.output import progress
from async_ingest.output.bars import TerminalProgress
from async_ingest.output.lines import columns_of, file_line, json_error_line, short_line, summary_lines
from async_ingest.output.progress import JsonLogPrinter, PlainPrinter
from async_ingest.output.report import summarise, write_report
from async_ingest.sources.files import SourceFile
from async_ingest.transform.csvcheck import CsvStats

pytestmark = pytest.mark.slow  # runs of the command: not in the quick subset


CP1252 = EncodingInfo("cp1252", "detected", 1.0, False)


def stats(
    delimiter: str | None = "|", *, ragged: int = 0, quote: int | None = None, header: bool = True
) -> Any:
    lines = (3,) if ragged else ()
    return CsvStats(delimiter, '"', header, ("a", "b"), 2, 1234, ragged, lines, 0, False, quote, None)


def uploaded(name: str, size: int = 100, csv: Any = None, key: str | None = None) -> FileResult:
    source = SourceFile(name, "", size, 0)
    return FileResult(source, "b", key or f"Raw/{name}", "uploaded", CP1252, size, size, csv=csv, seconds=0.1)


def lines_of(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_the_manifest_is_named_by_every_printer() -> None:
    event = ManifestWritten("b", "m/2026/r1.json", "r1")
    out = io.StringIO()
    JsonLogPrinter(out=out)(event)
    record = json.loads(out.getvalue())
    assert {k: record[k] for k in ("event", "key", "run_id", "bucket")} == {
        "event": "manifest", "key": "m/2026/r1.json", "run_id": "r1", "bucket": "b",
    }  # fmt: skip
    out = io.StringIO()
    PlainPrinter(out=out)(event)
    assert lines_of(out) == ["manifest s3://b/m/2026/r1.json"]
    out = io.StringIO()
    PlainPrinter(quiet=True, out=out)(event)
    assert out.getvalue() == ""  # --quiet: errors and the summary only


def test_the_report_names_the_manifest_and_the_run(tmp_path: Path) -> None:
    results = [uploaded("a.csv")]
    write_report(tmp_path / "r.json", results, summarise(results, 1.0), manifest_key="m/r1.json", run_id="r1")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["manifest_key"] == "m/r1.json" and report["run_id"] == "r1"
    assert [f["source"] for f in report["files"]] == ["a.csv"] and report["summary"]["uploaded"] == 1
    write_report(tmp_path / "none.json", results, summarise(results, 1.0))  # --no-manifest
    report = json.loads((tmp_path / "none.json").read_text())
    assert report["manifest_key"] is None and report["run_id"] is None


def test_a_configuration_error_in_json_mode_is_one_json_object() -> None:
    line = json_error_line("--part-size 'x': not a size\nFORGED")
    assert len(line.splitlines()) == 1
    assert json.loads(line) == {"event": "error", "error": "--part-size 'x': not a size\nFORGED"}


def test_json_mode_also_writes_the_failed_line_on_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    printer = JsonLogPrinter(out=out, err=err)
    failed = FileResult(SourceFile("bad\n.csv", "", 9, 0), "b", "k", "failed", error="not text")
    printer(FileFinished(failed))
    printer(FileFinished(uploaded("ok.csv")))
    assert lines_of(err) == ["FAILED bad\\n.csv: not text"]  # one line, the name escaped
    assert [json.loads(line)["event"] for line in lines_of(out)] == ["file_failed", "file_uploaded"]


def test_the_summary_counts_files_with_csv_findings_in_every_format(tmp_path: Path) -> None:
    results = [uploaded(f"q{i}.csv", csv=stats(quote=7)) for i in range(3)]
    results += [uploaded("r.csv", csv=stats(ragged=2, quote=9)), uploaded("h.csv", csv=stats(header=False))]
    results += [uploaded("fine.csv", csv=stats()), uploaded("off.csv")]
    summary = summarise(results, 1.0)
    assert summary.csv_flagged == 5 and summary.failed == 0
    assert summary.csv_findings == {"ragged_rows": 1, "unterminated_quote": 4, "no_header": 1}
    assert "csv check   5 file(s) with findings: 1 ragged rows, 4 unterminated quote, 1 no header" in (
        summary_lines(summary)
    )
    out = io.StringIO()
    JsonLogPrinter(out=out).summary(summary)
    record = json.loads(out.getvalue())
    assert record["csv_flagged"] == 5 and record["csv_findings"]["unterminated_quote"] == 4
    write_report(tmp_path / "r.json", results, summary)
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["csv_flagged"] == 5
    clean = summarise([uploaded("fine.csv", csv=stats())], 1.0)
    assert not any(line.startswith("csv check") for line in summary_lines(clean))


def test_text_line_report_and_metadata_write_the_delimiter_the_same_way() -> None:
    from async_ingest.output.report import csv_entry
    from async_ingest.transform.csvcheck import CsvChecker, csv_metadata

    for text, name in [("a,b\n1,2\n", "comma"), ("a;b\n1;2\n", "semicolon"), ("a|b\n1|2\n", "pipe"),
                       ("a\tb\n1\t2\n", "tab"), ("a\n1\n", "none")]:  # fmt: skip
        checker = CsvChecker()
        checker.feed(text.encode())
        found = checker.finish()
        result = uploaded("x.csv", csv=found)
        assert csv_metadata(checker)["csv-delimiter"] == name
        assert csv_entry(result)["delimiter"] == name
        assert f" delim={name}" in file_line(result)


def test_at_a_terminal_each_file_line_fits_the_width() -> None:
    name = "/data/exports/vendas_região_sudeste_relatório_mensal_東京データ_2026.csv"
    key = "Raw/Local/CSV/Vendas_regiao_sudeste/2026/12/06/vendas_região_sudeste_relatório_mensal_2026.csv"
    flagged = uploaded(name, 12_345_678, stats(ragged=3, quote=9), key)
    for width in (40, 60, 80, 120):
        for result in (flagged, uploaded(name, 5, stats(), key)):
            line = short_line(result, width)
            assert columns_of(line) <= width, (width, line)
            assert result is not flagged or ("cp1252" in line and "11.8 MiB" in line)
    wide = short_line(flagged, 120)
    assert "1,234 rows  ragged  open quote  -> " in wide and wide.endswith("_mensal_2026.csv")
    assert columns_of("東京") == 4
    full = file_line(flagged)  # piped output and logs keep everything
    assert name in full and key in full and "unterminated quote (line 9)" in full


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def terminal_printer(monkeypatch: Any, total: int, files: int, rows: int = 24) -> tuple[Any, FakeTerminal]:
    screen = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", screen)  # where tqdm draws
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setattr(terminal_bars.shutil, "get_terminal_size", lambda: os.terminal_size((80, rows)))
    monkeypatch.setenv("COLUMNS", "80")
    return TerminalProgress(total, files), screen


def test_one_part_files_get_no_bar_and_bars_are_capped_to_the_rows(monkeypatch: Any) -> None:
    mib = 1 << 20
    small = [SourceFile(f"small{i}.csv", "", mib, 0) for i in range(3)]
    big = [SourceFile(f"big{i}.csv", "", 40 * mib, 0) for i in range(10)]
    printer, screen = terminal_printer(monkeypatch, 3 * mib + 400 * mib, 13, rows=10)
    for source in small + big:
        printer(FileStarted(source, "k/" + source.file_name, CP1252))
    for source in small:
        printer(PartUploaded(source, 1, source.size, source.size))  # its only part
    for source in big:
        printer(PartUploaded(source, 1, 8 * mib, 8 * mib))
    drawn = screen.getvalue()
    assert not any(f"small{i}.csv:" in drawn for i in range(3))
    bars = [source for source in big if f"{source.file_name}:" in drawn]
    assert len(bars) == 10 - terminal_bars.RESERVED_ROWS  # 6 of 10 rows; the total bar says the rest
    assert "B / 40.0 MiB" in drawn and "B / 403.0 MiB" in drawn  # sizes as the summary writes them
    printer.close()  # the total bar drawn once more, with its rate
    assert re.search(r"\d\.\d [KMGT]iB/s\]", screen.getvalue())
    assert not re.search(r"[kMGT]B/s", screen.getvalue())  # tqdm's own (1000-style) unit names
    printer.close()  # again, as the CLI does before its SIGINT line: nothing breaks
    printer(FileFinished(uploaded("small0.csv", mib, stats())))
    assert screen.getvalue().endswith("small0.csv  cp1252  1.0 MiB  1,234 rows  -> s3://b/Raw/small0.csv\n")


def test_piped_output_has_an_overall_progress_line(monkeypatch: Any) -> None:
    out = io.StringIO()
    printer = PlainPrinter(out=out, every_s=0.0, total_files=3, total_bytes=300)
    monkeypatch.setattr(progress.time, "monotonic", lambda: 1e9)  # a long time since the start
    for name in ("a.csv", "b.csv"):
        printer(FileStarted(SourceFile(name, "", 100, 0), name, CP1252))
        printer(FileFinished(uploaded(name)))
    overall = [line for line in lines_of(out) if line.startswith("progress")]
    assert overall and overall[-1].startswith("progress    2/3 files, 200 B of 300 B (67%), ")
    assert overall[-1].endswith(" B/s")
    quiet = io.StringIO()
    PlainPrinter(quiet=True, out=quiet, every_s=0.0, total_files=3)(FileFinished(uploaded("a.csv")))
    assert quiet.getvalue() == ""
