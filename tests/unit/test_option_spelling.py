"""Lower modules never spell a flag (issue 21): they write {opt:NAME} or {opt:NAME=VALUE} marks and
each front end words them, the command line as its flags (``--checksum md5``), the Python API as its
keywords (``checksum='md5'``). A failed file's error is worded once, by the run, before the printers,
the logger and the result see it; the report path's refusals name the option the same way."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from async_ingest import ConfigError, FailedFiles, ingest
from async_ingest.api import _settings
from async_ingest.cli.main import COMMAND_LINE, main, parse_settings
from async_ingest.events import (
    EncodingInfo,
    Event,
    FileFinished,
    FileRestarted,
    FileResult,
    ManifestSkipped,
    Status,
)
from async_ingest.options import IngestOptions
from async_ingest.outcome import PYTHON_SPELLING, RunResult, Spelling, option_mark, spell_options
from async_ingest.output.lines import file_line
from async_ingest.output.progress import JsonLogPrinter
from async_ingest.output.report import Summary, summarise
from async_ingest.resolve import resolve
from async_ingest.run import SpelledErrors, save_report
from async_ingest.sources.files import SourceFile

HINT = " (this store may not accept the x-amz-checksum-crc64nvme header: use {opt:checksum=md5})"
ERROR = "upload s3://b/k: PutObject: InvalidArgument: Unsupported header." + HINT


class Recorder:
    """A printer that keeps the errors it was shown, as they were when it saw them."""

    def __init__(self) -> None:
        self.errors: list[str | None] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, FileFinished):
            self.errors.append(event.result.error)

    def summary(self, summary: Summary) -> None:
        pass

    def close(self) -> None:
        pass


def failed_through(spelling: Spelling) -> tuple[FileResult, Recorder]:
    """A failed file as the pipeline emits it, through the run's printer chain (run.SpelledErrors)."""
    result = FileResult(SourceFile("in/movies.csv", "", 10, 0), "b", "k", Status.FAILED, error=ERROR)
    shown = Recorder()
    SpelledErrors(shown, spelling)(FileFinished(result))
    return result, shown


def test_a_mark_with_a_value_is_a_keyword_in_python_and_a_flag_on_the_command_line() -> None:
    assert spell_options("use {opt:checksum=md5}") == "use checksum='md5'"
    assert COMMAND_LINE("use {opt:checksum=md5}") == "use --checksum md5"
    assert spell_options("{opt:concurrency=4}") == "concurrency=4"  # a whole number, as Python writes it
    assert COMMAND_LINE("{opt:concurrency=4}") == "--concurrency 4"


def test_a_mark_without_a_value_is_spelled_as_before() -> None:
    text = "{opt:max_memory} and {opt:manifest}"
    assert spell_options(text) == "max_memory and manifest=False"
    assert COMMAND_LINE(text) == "--max-memory and --no-manifest"


def test_any_value_survives_its_mark_braces_and_backslashes_included() -> None:
    path = "/data/{run}\\x y"
    marked = option_mark("report", path) + ": is a folder"
    assert spell_options(marked) == f"report={path!r}: is a folder"
    assert COMMAND_LINE(marked) == f"--report {path}: is a folder"


def test_config_error_words_a_value_mark_in_its_reason_for_each_front_end() -> None:
    error = ConfigError("x-amz-checksum-crc32 refused: use {opt:checksum=md5}")
    assert str(error) == "x-amz-checksum-crc32 refused: use checksum='md5'"
    assert error.render(COMMAND_LINE.name, python=False) == "x-amz-checksum-crc32 refused: use --checksum md5"


def test_a_failed_files_error_reaches_the_api_result_in_python_words() -> None:
    result, shown = failed_through(PYTHON_SPELLING)
    assert shown.errors == [result.error]  # the printers (and the logger beside them) saw the words
    assert result.error is not None and result.error.endswith("use checksum='md5')")
    run = RunResult(summary={}, exit_code=1, results=[result])
    assert run.failures[0]["error"].endswith("use checksum='md5')")
    with pytest.raises(FailedFiles, match=r"use checksum='md5'\)"):
        run.raise_for_failures()
    assert summarise([result], 1.0).failures[0].endswith("use checksum='md5')")


class Keeper(Recorder):
    """A printer that keeps every event it was shown."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)


@pytest.mark.parametrize(
    ("spelling", "words"), [(COMMAND_LINE, "--resume"), (PYTHON_SPELLING, "resume")], ids=["cli", "api"]
)
def test_a_files_notes_why_it_starts_again_and_a_skipped_manifest_are_worded_too(
    spelling: Spelling, words: str
) -> None:
    source = SourceFile("in/movies.csv", "", 10, 0)
    shown = Keeper()
    printer = SpelledErrors(shown, spelling)
    printer(FileRestarted(source, "again: {opt:resume}", EncodingInfo("cp1252", "detected", 1.0, False)))
    printer(ManifestSkipped("none: {opt:resume} writes one"))
    landed = FileResult(
        source, "b", "k", Status.UPLOADED, notes=("aborted ({opt:resume} would continue it)",)
    )
    printer(FileFinished(landed))
    restarted, skipped, _ = shown.events
    assert isinstance(restarted, FileRestarted) and restarted.reason == f"again: {words}"
    assert isinstance(skipped, ManifestSkipped) and skipped.reason == f"none: {words} writes one"
    assert landed.notes == (f"aborted ({words} would continue it)",)


def test_a_failed_files_error_reaches_the_commands_lines_as_a_flag() -> None:
    result, _ = failed_through(COMMAND_LINE)
    assert file_line(result) == "FAILED in/movies.csv: " + ERROR.replace(
        "{opt:checksum=md5}", "--checksum md5"
    )
    out, err = io.StringIO(), io.StringIO()
    JsonLogPrinter(out=out, err=err)(FileFinished(result))
    assert json.loads(out.getvalue())["error"].endswith("use --checksum md5)")
    assert err.getvalue().rstrip().endswith("use --checksum md5)")


def test_each_front_end_hands_its_spelling_to_the_run(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    argv = [str(tmp_path / "a.csv"), "--dry-run"]
    command = parse_settings(argv, {}, lambda line: None)
    assert command.spelling == COMMAND_LINE
    assert _settings(tmp_path / "a.csv", None, {"dry_run": True}).spelling == PYTHON_SPELLING
    # Not part of what the run does: settings equal but for it are equal.
    assert command == resolve([tmp_path / "a.csv"], IngestOptions(dry_run=True), {}, lambda line: None)


def test_a_report_path_refused_before_the_run_names_the_option_per_front_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    folder = tmp_path / "reports"
    folder.mkdir()
    with pytest.raises(ConfigError) as raised:
        ingest(tmp_path / "a.csv", dry_run=True, report=folder)
    assert str(raised.value) == f"report={str(folder)!r}: is a folder; name a file in it"
    assert (raised.value.option, raised.value.reason) == ("report", "is a folder; name a file in it")
    assert main([str(tmp_path / "a.csv"), "--dry-run", "--report", str(folder)]) == 2
    assert (
        f"async-ingest: error: --report {folder}: is a folder; name a file in it" in capsys.readouterr().err
    )


def test_a_report_that_cannot_be_written_at_the_end_names_the_option_per_front_end(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    folder = tmp_path / "reports"
    folder.mkdir()  # it became a folder after the check made before the run
    command = parse_settings([str(tmp_path / "a.csv"), "--dry-run"], {}, lambda line: None)
    api = _settings(tmp_path / "a.csv", None, {"dry_run": True})
    summary = summarise([], 0.0)
    said = save_report(replace(command, report=folder), [], summary)
    assert said == f"async-ingest: error: --report {folder}: is a folder; name a file in it"
    said = save_report(replace(api, report=folder), [], summary)
    assert said == f"async-ingest: error: report={str(folder)!r}: is a folder; name a file in it"
