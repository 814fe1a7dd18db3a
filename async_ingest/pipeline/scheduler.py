"""Many files at once: a fixed set of workers pulling the next file, one memory budget split
between part buffers, (de)compressor state and detection, the parts-in-flight window, and the
listing a re-run decides from. Results come back in the order of the sources."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from async_ingest.events import Emit, FileQueued, FileResult, WindowChanged
from async_ingest.keys import InvalidKey
from async_ingest.pipeline.budget import MemoryBudget
from async_ingest.pipeline.flight import START_PARTS, FlightController, PartsInFlight
from async_ingest.pipeline.identity import key_plan, object_key
from async_ingest.pipeline.ingest import ingest_file
from async_ingest.pipeline.job import MIN_RESERVATION
from async_ingest.pipeline.skip import ListingTrust, listed_keys
from async_ingest.s3.model import Listed
from async_ingest.settings import IngestSettings
from async_ingest.sources.files import DETECTION_MEMORY, SourceFile

if TYPE_CHECKING:  # the S3 face loads botocore: a dry run goes without it
    from async_ingest.s3.client import S3

MIN_PARTS_IN_FLIGHT = 2  # one sending while the next fills


# Files in flight beyond this only wait (for budget, for connections), each costing memory (~60 KB
# for a small one: its request, writer, filler, CSV checker). 128 is ample: a small file costs ~3 ms
# of client CPU, so ~50 in flight already cover a 150 ms round trip.
MAX_FILES_IN_FLIGHT = 128


def max_files_in_flight(settings: IngestSettings) -> int:
    """--concurrency, capped at MAX_FILES_IN_FLIGHT and at the files whose smallest part buffer the
    memory budget can pay for at once."""
    return max(1, min(settings.concurrency, MAX_FILES_IN_FLIGHT, settings.max_memory // MIN_RESERVATION))


@dataclass
class RunContext:
    """What every file of one run shares."""

    settings: IngestSettings
    s3: S3 | None  # None: dry run
    budget: MemoryBudget
    emit: Emit
    detecting: MemoryBudget
    listed: dict[str, Listed] | None = None  # the keys known to exist already (None: unknown)
    listing_trust: ListingTrust = field(default_factory=ListingTrust)
    flight: PartsInFlight | None = None  # None: dry run
    # --compress: compressor state (zstd's window and tables) is memory too. It is paid from a share
    # of --max-memory kept apart from part buffers, so a file holding it never waits on another
    # file's (no deadlock); files wait here for it when many compress at once.
    codecs: MemoryBudget | None = None


CODEC_SHARE = 8  # 1/8 of --max-memory for (de)compressor state, when there is any


def split_budget(
    settings: IngestSettings, sources: list[SourceFile]
) -> tuple[MemoryBudget, MemoryBudget | None]:
    """The part-buffer budget and, with --compress or compressed sources, the (de)compressor-state
    budget beside it."""
    if settings.compress.name == "none" and not any(source.compression for source in sources):
        return MemoryBudget(settings.max_memory), None
    share = max(settings.compress.memory, settings.max_memory // CODEC_SHARE)
    return MemoryBudget(max(settings.part_size, settings.max_memory - share)), MemoryBudget(share)


async def ingest_all(
    sources: list[SourceFile], settings: IngestSettings, s3: S3 | None, emit: Emit
) -> list[FileResult]:
    """Every file, `concurrency` at a time (see max_files_in_flight), part buffers bounded by one
    shared budget; the results in the order of the sources.

    Cancellation (Ctrl-C, SIGTERM) propagates into every file, each of which aborts its upload.
    """
    parts_budget, codecs = split_budget(settings, sources)
    ctx = RunContext(settings, s3, parts_budget, emit, MemoryBudget(DETECTION_MEMORY), codecs=codecs)
    # Rendered once: for the listing, then for each file (its result keeps the same string).
    keys = [key for _, key in key_plan(sources, settings)]
    if s3 is not None and not settings.dry_run:
        ctx.listed = await listed_keys(s3, settings, keys)
        ctx.flight = parts_in_flight(settings, ctx.budget, s3, emit)
    aligned = len(keys) == len(sources)  # else some key is invalid: each file renders its own
    results: list[FileResult | None] = [None] * len(sources)
    pending = iter(enumerate(sources))

    async def worker() -> None:
        # A fixed set of workers pulling the next file, not a task per file waiting its turn:
        # memory does not grow with the number of files.
        for index, source in pending:
            key = keys[index] if aligned else None
            emit(FileQueued(source, key if key is not None else queued_key(source, settings)))
            results[index] = await ingest_file(source, ctx, key)

    async with asyncio.TaskGroup() as group:
        ticker = group.create_task(ctx.flight.run_ticker()) if ctx.flight else None
        workers = [
            group.create_task(worker()) for _ in range(min(max_files_in_flight(settings), len(sources)))
        ]
        await asyncio.gather(*workers, return_exceptions=True)
        if ticker is not None:
            ticker.cancel()
    done = [result for result in results if result is not None]
    assert len(done) == len(sources)  # every worker ran to the end, or the task group raised
    return done


def queued_key(source: SourceFile, settings: IngestSettings) -> str:
    """The key of a file of a run where some key is invalid ("" for this one, if it is the one)."""
    try:
        return object_key(source, settings)
    except InvalidKey:
        return ""


def parts_in_flight(settings: IngestSettings, budget: MemoryBudget, s3: S3, emit: Emit) -> PartsInFlight:
    """The window of part buffers: pinned by --parts-in-flight, else following the link within
    --max-memory."""
    ceiling = max(1, settings.max_memory // settings.part_size)
    pinned = settings.parts_in_flight
    controller = FlightController(
        max_parts=pinned or ceiling,
        min_parts=pinned or MIN_PARTS_IN_FLIGHT,
        start_parts=pinned or START_PARTS,
    )

    def changed(window: int) -> None:
        emit(WindowChanged(window, controller.sending))

    return PartsInFlight(controller, budget, settings.part_size, retries=s3, on_change=changed)
