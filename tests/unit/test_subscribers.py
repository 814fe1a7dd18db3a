"""Issue 21, item 4: typed per-file results (FileResult, Status), progress reaching a subscriber
(on_queued / on_progress / on_done) and the `async_ingest` logger, beside the printers. The runs go
against the real SeaweedFS of the session."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from async_ingest.events import FileFinished, FileResult, Status
from async_ingest.outcome import ConfigError
from async_ingest.sources.files import SourceFile
from async_ingest.subscribers import LOGGER_NAME, BaseSubscriber, SubscriberPrinter, subscriber_printer


def test_status_is_a_str_enum_equal_to_its_strings() -> None:
    assert [str(s) for s in Status] == ["uploaded", "skipped", "failed", "planned"]
    assert Status.UPLOADED == "uploaded" and isinstance(Status.FAILED, str)
    assert Status("skipped") is Status.SKIPPED and f"file_{Status.FAILED}" == "file_failed"
    assert json.dumps({"status": Status.UPLOADED}) == '{"status": "uploaded"}'


def test_a_subscriber_that_raises_is_logged_and_the_run_goes_on(caplog: Any) -> None:
    class Broken(BaseSubscriber):
        def on_done(self, result: FileResult) -> None:
            raise RuntimeError("bug in the callback")

    printer = SubscriberPrinter(Broken())
    result = FileResult(SourceFile("a.csv", "", 1, 0), "b", "k", Status.UPLOADED)
    with caplog.at_level(logging.ERROR, logger=LOGGER_NAME):
        printer(FileFinished(result))  # does not raise
    [record] = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert "raised on FileFinished" in record.getMessage() and record.exc_info is not None


def test_something_that_is_not_a_subscriber_is_refused_at_once() -> None:
    class OnlyDone:
        def on_done(self, result: FileResult) -> None:
            pass

    with pytest.raises(ConfigError, match="lacks on_queued, on_progress"):
        subscriber_printer(OnlyDone())  # type: ignore[arg-type]
