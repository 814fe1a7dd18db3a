"""Throughput of the CSV check (csvcheck.CsvChecker.feed) on the benchmark's rows, next to MD5 (which
the upload computes anyway) measured in the same run, so a loaded machine still gives a fair ratio.

    python -m bench.csv_check_speed [MiB]
"""

from __future__ import annotations

import hashlib
import sys
import time

from async_ingest.transform.csvcheck import CsvChecker
from bench.generate import DEFAULT_SEED, HEADER, build_block

PART = 8 * 1024 * 1024


def parts(total_mib: int) -> list[bytearray]:
    """A stream of rows cut into parts anywhere (mid-row), as the upload cuts them."""
    block = build_block(DEFAULT_SEED, "\r\n")
    stream = bytearray((HEADER + "\r\n").encode())
    copy = 1
    while len(stream) < total_mib * 1024 * 1024:
        stream += block.render(copy, "utf-8")
        copy += 1
    view = memoryview(stream)
    return [bytearray(view[i : i + PART]) for i in range(0, total_mib * 1024 * 1024, PART)]


def main() -> None:
    total_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    chunks = parts(total_mib)
    size = sum(map(len, chunks))
    started = time.process_time()
    for chunk in chunks:
        hashlib.md5(chunk, usedforsecurity=False).digest()
    md5_s = time.process_time() - started
    started = time.process_time()
    checker = CsvChecker()
    for chunk in chunks:
        checker.feed(chunk)
    stats = checker.finish()
    check_s = time.process_time() - started
    print(
        f"{size / 2**20:.0f} MiB in 8 MiB parts: rows={stats.rows:,} cols={stats.columns} "
        f"ragged={stats.ragged_rows}"
    )
    print(
        f"csv check {size / check_s / 1e9:.2f} GB/s ({check_s:.2f} CPU s), "
        f"md5 {size / md5_s / 1e9:.2f} GB/s ({md5_s:.2f} CPU s)"
    )


if __name__ == "__main__":
    main()
