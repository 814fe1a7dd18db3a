"""The public API: what `async_ingest` exports is what the README lists, and each name resolves."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import async_ingest
from async_ingest.events import FileResult
from async_ingest.outcome import FailedFiles, RunResult
from async_ingest.sources.files import SourceFile

README = Path(__file__).resolve().parents[2] / "README.md"


def documented_names() -> set[str]:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"The public names, all importable from `async_ingest`[^:]*:\n(.*?)\.\n", text, re.S)
    assert match, "README's Python API section lists the public names"
    return set(re.findall(r"`([A-Za-z_]+)`", match.group(1)))


def test_all_is_what_the_readme_lists() -> None:
    assert set(async_ingest.__all__) == documented_names()


@pytest.mark.parametrize("name", async_ingest.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(async_ingest, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        async_ingest.no_such_name  # noqa: B018


def result(location: str, status: Any, error: str | None = None) -> FileResult:
    return FileResult(SourceFile(location, "", 10, 0), "bucket", f"k/{location}", status, error=error)


def test_raise_for_failures_names_every_failed_file_and_its_cause() -> None:
    run = RunResult(
        summary={},
        exit_code=1,
        errors=["the run manifest could not be written"],
        results=[
            result("a.csv", "uploaded"),
            result("b.csv", "failed", "not valid UTF-8 at byte 12"),
            result("c.csv", "failed", "ragged rows"),
        ],
    )
    with pytest.raises(FailedFiles) as caught:
        run.raise_for_failures()
    assert caught.value.failed == [("b.csv", "not valid UTF-8 at byte 12"), ("c.csv", "ragged rows")]
    assert caught.value.errors == ["the run manifest could not be written"]
    message = str(caught.value)
    assert message.startswith("2 file(s) failed, 1 run error(s):")
    assert "b.csv: not valid UTF-8 at byte 12" in message and "a.csv" not in message


def test_raise_for_failures_is_silent_when_the_run_is_ok() -> None:
    RunResult(summary={}, exit_code=0, results=[result("a.csv", "uploaded")]).raise_for_failures()
