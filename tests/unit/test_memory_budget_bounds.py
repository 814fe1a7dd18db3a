"""What the memory budget bounds (issue 22): read-ahead loans stay within the parts-in-flight limit and
count pooled part buffers as memory, and the read-ahead holds resident only what it writes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from async_ingest.pipeline.budget import MemoryBudget
from async_ingest.transform import native
from async_ingest.units import MiB


def test_readahead_loans_stay_within_the_parts_limit() -> None:
    """Files waiting for a part buffer do not each hold a read-ahead: 16 files of a loopback run once
    held 96 MiB of loans under a 16 MiB window (225 MB peak RSS)."""
    budget = MemoryBudget(144 * MiB)
    budget.set_limit(16 * MiB)  # the parts-in-flight window: two 8 MiB parts
    granted = [budget.lend(4 * MiB, 8 * MiB) for _ in range(6)]
    assert granted == [True] * 4 + [False] * 2
    assert budget.lent == 16 * MiB
    budget.set_limit(24 * MiB)  # the window grew: so may the loans
    assert budget.lend(4 * MiB, 8 * MiB)
    budget.give_back(4 * MiB)
    budget.set_limit(8 * MiB)  # a shrinking window takes no loan back, but grants no new one
    assert budget.lent == 16 * MiB
    assert not budget.lend(4 * MiB, 8 * MiB)


async def test_a_loan_drops_the_pooled_buffers_it_needs_room_for() -> None:
    budget = MemoryBudget(32 * MiB)
    buffers = [await budget.take_buffer(8 * MiB) for _ in range(3)]
    for buffer in buffers:
        budget.return_buffer(buffer)
    assert budget.in_use == 0 and budget.pooled == 24 * MiB
    assert budget.lend(12 * MiB, 8 * MiB)
    assert budget.in_use + budget.pooled + budget.lent <= budget.capacity
    assert budget.pooled == 16 * MiB  # two buffers kept for the borrower's parts
    part = await budget.take_buffer(8 * MiB)  # a pooled one, not a new one
    assert budget.pooled == 8 * MiB and len(part) == 8 * MiB


# Run in a child process so that the resident memory measured is the read-ahead's own.
_RESIDENT_SCRIPT = """
import sys
from async_ingest.pipeline.readahead import ParallelFiller
from async_ingest.transform.transcode import Transcoder

def rss():
    with open("/proc/self/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) * 1024

path, workers = sys.argv[1], int(sys.argv[2])
size = __import__("os").path.getsize(path)
buffer = bytearray(8 << 20)
before = rss()
filler = ParallelFiller(path, Transcoder("cp1252"), 8 << 20, size, workers=workers)
while not filler.exhausted:
    filler.fill(buffer)
grown = rss() - before
filler.close()
print(grown)
"""


@pytest.mark.skipif(native.IMPLEMENTATION != "native", reason="read-ahead needs the C core")
def test_readahead_of_mostly_ascii_text_holds_what_it_writes_not_its_worst_case(tmp_path: Path) -> None:
    """A single-byte code page's UTF-8 slots are sized for the worst case (3 bytes a byte) but only
    the pages written are memory: ASCII-heavy Windows-1252 text costs ~2 bytes of slot per segment
    byte (source + output), not 4."""
    from async_ingest.pipeline.readahead import SEGMENT, readahead_memory

    path = tmp_path / "western.csv"
    row = "id|name|city\n" + "".join(f"{i}|Caf\u00e9 {i}|S\u00e3o Paulo\n" for i in range(4000))
    with path.open("wb") as file:
        while file.tell() < 24 * MiB:
            file.write(row.encode("cp1252"))
    workers = 16  # 32 slots: 32 MiB of slots at their worst, ~16 MiB written
    script = textwrap.dedent(_RESIDENT_SCRIPT)
    result = subprocess.run(
        [sys.executable, "-c", script, str(path), str(workers)], capture_output=True, text=True, check=True
    )
    grown = int(result.stdout)
    worst = readahead_memory("cp1252", workers)
    assert worst == 32 * (SEGMENT + 4 + 3 * SEGMENT)
    assert grown < 0.7 * worst, (grown, worst)
