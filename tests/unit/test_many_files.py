"""Many files: a bounded set of workers (memory does not grow with the file count or --concurrency),
results in source order, cancellation reaching every file in flight; and a re-run that decides
from one listing. The 20,000 / 100,000 file measurements are in bench/many_files.py."""

from __future__ import annotations

import asyncio
import random

import pytest

from async_ingest.events import Event, FileFinished, FileResult, FileStarted
from async_ingest.pipeline import scheduler as pipeline
from async_ingest.pipeline.detection import encoding_info
from async_ingest.pipeline.scheduler import RunContext, ingest_all
from async_ingest.settings import IngestSettings
from async_ingest.sources.files import SourceFile
from async_ingest.transform.detect import forced
from async_ingest.units import KiB, MiB

pytestmark = pytest.mark.slow  # runs of the command: not in the quick subset


def sources(count: int) -> list[SourceFile]:
    return [SourceFile(f"in/f{index}.csv", "", index, 0) for index in range(count)]


class FakeFiles:
    """Stands in for ingest_file: emits FileStarted/FileFinished like an upload and records how many
    files were between the two at once."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.in_flight = 0
        self.most = 0
        self.cancelled = 0
        self.events: list[Event] = []

    async def __call__(self, source: SourceFile, ctx: RunContext, key: str | None = None) -> FileResult:
        result = FileResult(source, ctx.settings.bucket, source.path.name, "uploaded")
        ctx.emit(FileStarted(source, result.key, encoding_info(forced("utf-8"))))
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(random.uniform(0, self.seconds))
            if source.size % 7 == 3:
                result.status, result.error = "failed", f"{source.path}: broken"
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        ctx.emit(FileFinished(result))
        return result


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeFiles:
    files = FakeFiles(seconds=0.002)
    monkeypatch.setattr(pipeline, "ingest_file", files)
    return files


async def test_at_most_concurrency_files_are_in_flight_and_results_keep_source_order(fake: FakeFiles) -> None:
    files = sources(200)
    results = await ingest_all(
        files, IngestSettings("b", concurrency=7, dry_run=True), None, fake.events.append
    )
    assert fake.most == 7
    assert [r.source for r in results] == files
    assert [r.error for r in results if r.status == "failed"] == [
        f"in/f{i}.csv: broken" for i in range(200) if i % 7 == 3
    ]
    started = [e for e in fake.events if isinstance(e, FileStarted)]
    assert len(started) == 200 == len([e for e in fake.events if isinstance(e, FileFinished)])


async def test_a_huge_concurrency_is_capped_by_what_the_memory_budget_can_pay_for(fake: FakeFiles) -> None:
    roomy = IngestSettings("b", concurrency=100_000, max_memory=16 * MiB, dry_run=True)
    assert pipeline.max_files_in_flight(roomy) == pipeline.MAX_FILES_IN_FLIGHT == 128
    settings = IngestSettings("b", concurrency=100_000, max_memory=256 * KiB, dry_run=True)
    assert pipeline.max_files_in_flight(settings) == 64  # 256 KiB of 4 KiB smallest buffers
    files = sources(300)
    results = await ingest_all(files, settings, None, fake.events.append)
    assert fake.most == 64
    assert len(results) == len(files)


async def test_cancelling_the_run_cancels_every_file_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = FakeFiles(seconds=60)
    monkeypatch.setattr(pipeline, "ingest_file", slow)
    run = asyncio.ensure_future(
        ingest_all(sources(50), IngestSettings("b", concurrency=5), None, slow.events.append)
    )
    while slow.in_flight < 5:
        await asyncio.sleep(0.01)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert slow.cancelled == 5 and slow.in_flight == 0


def test_report_is_written_entry_by_entry_as_the_same_json_document() -> None:
    # Written in pieces so 100,000 files are never one document in memory; the text is the same as
    # the whole document dumped at once (indent 2), odd names included.
    from async_ingest.output.display import json_text
    from async_ingest.output.report import report_chunks, result_entry, summarise, summary_entry

    results = [
        FileResult(SourceFile(f"in/é{index}\u2028.csv", "", index, 0), "b", f"k{index}", "uploaded")
        for index in range(3)
    ]
    results[1].notes += ("restarted",)
    for listed in (results, []):
        summary = summarise(listed, 1.5)
        whole = {
            "run_id": "r1",
            "manifest_key": "m/r1.json",
            "files": [result_entry(r) for r in listed],
            "summary": summary_entry(summary),
        }
        assert "".join(report_chunks(listed, summary, "m/r1.json", "r1")) == json_text(whole, indent=2) + "\n"
