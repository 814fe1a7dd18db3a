"""The encoding of a source: sampled (memory paid from the run's detection budget), detected or
forced, fingerprinted in the same worker-thread call; detected again around a decode failure."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING

from async_ingest.events import EncodingInfo
from async_ingest.pipeline.identity import fingerprint
from async_ingest.pipeline.job import reads_inline, small_member
from async_ingest.settings import IngestSettings
from async_ingest.sources.files import SourceFile, read_region
from async_ingest.transform.detect import Detection, detect, forced
from async_ingest.units import KiB

if TYPE_CHECKING:
    from async_ingest.pipeline.scheduler import RunContext


REDETECT_CONTEXT = 256 * KiB  # bytes around a decode failure added to the samples when re-detecting


@functools.lru_cache(maxsize=256)  # one shared instance per distinct detection, not one per file
def encoding_info(detection: Detection) -> EncodingInfo:
    return EncodingInfo(detection.encoding, detection.method, detection.confidence, bool(detection.bom))


def sample_windows(source: SourceFile, settings: IngestSettings) -> list[bytes]:
    return source.sample(settings.max_expanded_size)


def detect_and_fingerprint(source: SourceFile, settings: IngestSettings) -> tuple[Detection, str]:
    """Read the windows, decide the encoding, fingerprint the file: one worker-thread call, as
    charset-normalizer can take a few hundred ms and parts of other files go on meanwhile."""
    windows = sample_windows(source, settings)
    return choose_encoding(windows, settings, []), fingerprint(source, windows, settings)


def redetect(source: SourceFile, settings: IngestSettings, failed_at: int) -> Detection:
    """Detection again, with the region around a decode failure added to the windows."""
    region = read_region(source, failed_at, REDETECT_CONTEXT, settings.max_expanded_size)
    return choose_encoding(sample_windows(source, settings), settings, [region])


def choose_encoding(windows: list[bytes], settings: IngestSettings, extra: list[bytes]) -> Detection:
    if settings.encoding == "auto":
        return detect(windows, extra=extra)
    return forced(settings.encoding, windows[0] if windows else b"")


async def detect_source(source: SourceFile, ctx: RunContext) -> tuple[Detection, str]:
    """The encoding and the fingerprint of a source."""
    if reads_inline(source) or small_member(source):
        return detect_and_fingerprint(source, ctx.settings)
    # Paid from a budget of its own (ctx.detecting, DETECTION_MEMORY): one large file's windows at a
    # time, or many small files at once, not 8 MiB for every file in flight.
    paid = await ctx.detecting.acquire(source.detection_memory)
    try:
        return await asyncio.to_thread(detect_and_fingerprint, source, ctx.settings)
    finally:
        ctx.detecting.release(paid)
