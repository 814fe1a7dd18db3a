"""The part filler alone (issue 22): one file through PartFiller (one thread, as before read-ahead) and
through ParallelFiller with a pool of 1 and of N worker threads, with the CSV check and the default
checksum as in the pipeline, no network. Wall seconds, best of --repeat; MB/s of source bytes.

    python -m bench.parallel_fill /tmp/fill --mib 256 --shape quotes-in-unquoted --density 1in4

The file is written once from bench.shapes (Windows-1252 or UTF-8) and reused.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from async_ingest.pipeline.file import CsvCheck
from async_ingest.pipeline.parts import DEFAULT_PART_SIZE, PartFiller
from async_ingest.pipeline.readahead import ParallelFiller
from async_ingest.transform.csvcheck import CsvChecker, CsvPolicy
from async_ingest.transform.transcode import Transcoder
from bench.shapes import DENSITIES, SHAPES, block


def write_input(folder: Path, shape: str, density: str, encoding: str, mib: int) -> Path:
    path = folder / f"{shape}-{density}-{mib}MiB.{encoding}.csv"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    body = block(shape, DENSITIES[density], 22).encode(encoding)
    with path.open("wb") as file:
        file.write(SHAPES[shape][0].encode(encoding))
        for _ in range(max(1, mib * (1 << 20) // len(body))):
            file.write(body)
    return path


def thread_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of each thread of this process, by thread id (Linux: /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def fill_all(
    path: Path, encoding: str, workers: int | None
) -> tuple[float, float, float, list[float], list[bytes]]:
    """(wall s, CPU s, CPU s of the filling thread, CPU s of each other thread, part checksums) of
    filling every part of path; workers None: PartFiller."""
    size = path.stat().st_size
    transcoder = Transcoder(encoding)
    check = CsvCheck(CsvChecker(), CsvPolicy("report"))
    buffer = bytearray(DEFAULT_PART_SIZE)
    digests = []
    pool = ThreadPoolExecutor(workers) if workers else None
    before = thread_cpu()
    started, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
    with open(path, "rb", buffering=0) as source:
        filler: PartFiller
        if pool is not None:
            filler = ParallelFiller(
                path,
                transcoder,
                DEFAULT_PART_SIZE,
                size,
                pool=pool,
                workers=workers,
                csv=check.checker,
            )
        else:
            filler = PartFiller(source, transcoder, DEFAULT_PART_SIZE, size)
        while True:
            part = filler.fill(buffer)
            if filler.text_checked:  # as pipeline.file.fill_next does
                check.settle(filler.exhausted)
            else:
                check.part(part.data, filler.exhausted)
            digests.append(part.digest)
            if filler.exhausted:
                break
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    own = time.thread_time() - own
    others = sorted(
        (
            spent - before.get(tid, 0.0)
            for tid, spent in thread_cpu().items()
            if tid != threading.get_native_id()
        ),
        reverse=True,
    )
    if isinstance(filler, ParallelFiller):
        filler.close()
    if pool is not None:
        pool.shutdown()
    return wall, cpu, own, [t for t in others if t > 0], [*digests, repr(check.checker.finish()).encode()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--shape", default="quotes-in-unquoted", choices=sorted(SHAPES))
    parser.add_argument("--density", default="1in4", choices=sorted(DENSITIES))
    parser.add_argument("--encoding", default="cp1252", choices=("cp1252", "utf-8"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = write_input(args.folder, args.shape, args.density, args.encoding, args.mib)
    size = path.stat().st_size
    print(f"{path.name}: {size / 1e6:.0f} MB, load {os.getloadavg()[0]:.2f}")
    best: dict[str, tuple[float, float, float, list[float]]] = {}
    reference = None
    for _ in range(args.repeat):
        for name, workers in (
            ("PartFiller", None),
            ("pool of 1", 1),
            (f"pool of {args.workers}", args.workers),
        ):
            wall, cpu, own, others, digests = fill_all(path, args.encoding, workers)
            reference = reference or digests
            assert digests == reference, f"{name}: parts differ"
            if name not in best or wall < best[name][0]:
                best[name] = (wall, cpu, own, others)
    base = best["PartFiller"][0]
    base_cpu = best["PartFiller"][1]
    for name, (wall, cpu, own, others) in best.items():
        # On a loaded machine wall time is the scheduler's: the CPU bound is what the work allows on
        # N free cores, the filling thread's own CPU or the total spread over the cores.
        pool = {"PartFiller": 0, "pool of 1": 1}.get(name, args.workers)
        bound = max(own, (cpu - own) / pool, cpu / (os.cpu_count() or 1)) if pool else cpu
        print(
            f"{name:>12}: wall {wall:6.2f} s  CPU {cpu:6.2f} s (filling thread {own:5.2f} s, "
            f"critical path {bound:5.2f} s)  {size / wall / 1e6:7.0f} MB/s  {base / wall:.2f}x wall, "
            f"{base_cpu / bound:.2f}x CPU-bound"
        )
        if others:
            print(f"{'':>14}other threads' CPU: " + ", ".join(f"{spent:.2f} s" for spent in others))
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
