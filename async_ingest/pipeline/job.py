"""One file's upload job: what an attempt needs, how much of the part budget it pays, how much of
the source it reads, and which files are small enough to work on the event loop itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from async_ingest.events import Emit
from async_ingest.pipeline.budget import MemoryBudget
from async_ingest.pipeline.flight import PartsInFlight
from async_ingest.pipeline.parts import (
    MAX_PARTS,
    WORST_EXPANSION,
    fitting_source_size,
    max_expansion,
    plan_part_size,
)
from async_ingest.settings import IngestSettings
from async_ingest.sources.compressed import MAX_EXPANDED_OPTION
from async_ingest.sources.files import SourceFile
from async_ingest.transform.detect import Detection
from async_ingest.units import KiB

if TYPE_CHECKING:  # the S3 face loads botocore: a dry run goes without it
    from async_ingest.s3.client import S3


# Slack over a file's worst-case output in its one-part buffer: a compressor's frame and block
# headers (zstd and deflate add well under 1 KiB to a small input). Small, since every small file in
# flight holds one: at 64 KiB, 256 tiny files in flight had held 16 MiB.
MIN_RESERVATION = 4 * KiB
STREAM_LENGTH = 1 << 62  # what the part filler may read of a stream: until its end


@dataclass
class FileJob:
    """Everything one file's upload needs; one instance per attempt."""

    source: SourceFile
    key: str
    detection: Detection
    fingerprint: str
    settings: IngestSettings
    s3: S3
    budget: MemoryBudget
    emit: Emit
    resume: bool = False
    errors: str = "strict"  # "replace" only once the encoding is known to be right (see ingest.py)
    flight: PartsInFlight | None = None
    codecs: MemoryBudget | None = None  # compressor state is paid from here (see RunContext.codecs)

    def reservation(self) -> int:
        """Budget paid per part: a full part, or less for a file that cannot fill one."""
        if not self.source.size_known:
            return self.part_size()  # a stream: it may fill any number of parts
        # Replacing undecodable bytes can triple even UTF-8 (one bad byte -> U+FFFD, 3 bytes).
        expansion = WORST_EXPANSION if self.errors == "replace" else max_expansion(self.detection.encoding)
        worst = int(self.planned_size * expansion) + MIN_RESERVATION
        return min(self.part_size(), worst)

    def part_size(self) -> int:
        return plan_part_size(self.planned_size, self.detection.encoding, self.settings.part_size)

    @property
    def planned_size(self) -> int:
        """The most source bytes to read: a compressed source's expanded size is known only at the
        end, so its bound (expansion_bound) stands for it."""
        if self.source.member is not None:  # a member's reader refuses output past its declared size
            return min(self.source.member.expanded_size, self.expansion_bound()[0])
        return self.source.size if self.source.compression is None else self.expansion_bound()[0]

    def expansion_bound(self) -> tuple[int, str]:
        """What a compressed source may expand to, and what says so: --max-expanded-size, or less
        where 10,000 parts of the largest buffer the memory budget holds cannot take that much (parts
        are planned for the bound: memory follows --max-memory whatever the limit)."""
        largest = max(self.settings.part_size, self.budget.capacity)
        fits = fitting_source_size(self.detection.encoding, largest)
        if fits < self.settings.max_expanded_size:
            return fits, f"what {MAX_PARTS} parts within {{opt:max_memory}} hold"
        return self.settings.max_expanded_size, MAX_EXPANDED_OPTION

    @property
    def read_length(self) -> int:
        """What the part filler may read: a plain file's size; a stream, or a compressed source, to
        its end (the decompressing reader refuses output past its bound rather than being cut)."""
        if not self.source.size_known or self.source.compression is not None:
            return STREAM_LENGTH
        return self.source.size


# Up to this size a file is read, detected and filled into its part (on a re-run: regenerated) on
# the event loop itself: a worker-thread hand-off costs more than the work (20,000 files of 100
# bytes: 1.3 s for open+read in a thread pool, 0.3 s inline), and the work is Python code holding
# the GIL either way. Ambiguous bytes still reach charset-normalizer, a few ms for 64 KiB, which
# the loop can afford.
INLINE_MAX = 64 * KiB


def reads_inline(source: SourceFile) -> bool:
    return source.size_known and source.compression is None and source.size <= INLINE_MAX


def small_member(source: SourceFile) -> bool:
    """A zip member small enough to sample on the event loop, as a small file is (its archive opened,
    a few KiB inflated: less than a thread hand-off)."""
    member = source.member
    return member is not None and member.expanded_size <= INLINE_MAX and member.compress_size <= INLINE_MAX
