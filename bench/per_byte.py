"""Per-byte throughput of the C core against the pure-Python twin (today's CPython code), per data shape,
on one core: UTF-8 validation, Windows-1252 -> UTF-8 and the CSV scan (issue 22).

    python -m bench.shapes /tmp/shapes --mib 8
    python -m bench.per_byte /tmp/shapes [--repeat 3]

Data is fed in 1 MiB chunks, as the pipeline feeds it. MB/s is 10^6 bytes of input per second, the
best of --repeat runs (CPU time of this process). Targets of the issue: validation >= 4x CPython,
cp1252 -> UTF-8 >= 3x, CSV scan >= 1 GB/s on every shape.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from async_ingest.transform import _native, pytwin

CHUNK = 1 << 20
TARGETS = {"utf8-validate": ("ratio", 4.0), "cp1252-to-utf8": ("ratio", 3.0), "csv-scan": ("native", 1000.0)}


def best_seconds(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return max(best, 1e-9)


def validate(impl: ModuleType, chunks: list[bytes]) -> Callable[[], object]:
    def run() -> object:
        for chunk in chunks:
            valid, error, _ = impl.utf8_check(chunk)
            assert error == -1, error
        return valid

    return run


def cp1252(impl: ModuleType, chunks: list[bytes]) -> Callable[[], object]:
    table = pytwin.sbcs_table("cp1252")
    out = bytearray(3 * CHUNK)

    def run() -> object:
        for chunk in chunks:
            written, _, error = impl.sbcs_to_utf8(table, chunk, out, 0, "strict")
            assert error == -1, error
        return written

    return run


def csv_scan(impl: ModuleType, chunks: list[bytes], delimiter: int) -> Callable[[], object]:
    def run() -> object:
        state = pytwin.csv_state(delimiter, ord('"'), True)
        for chunk in chunks:
            state = impl.csv_scan(state, chunk)
        return state

    return run


def split(data: bytes) -> list[bytes]:
    """1 MiB chunks cut before a character's first byte (the transcoder carries a cut one over)."""
    chunks, start = [], 0
    while start < len(data):
        end = min(start + CHUNK, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        chunks.append(data[start:end])
        start = end
    return chunks


def measure(path: Path, repeat: int) -> list[tuple[str, str, float, float]]:
    data = path.read_bytes()
    chunks = split(data)
    shape = path.name.split(".")[0]
    rows: list[tuple[str, str, float, float]] = []

    def time_both(op: str, make: Callable[[ModuleType], Callable[[], object]]) -> None:
        native_s = best_seconds(make(_native), repeat)
        python_s = best_seconds(make(pytwin), repeat)
        rows.append((shape, op, len(data) / native_s / 1e6, len(data) / python_s / 1e6))

    if path.name.endswith(".utf-8.csv"):
        time_both("utf8-validate", lambda impl: validate(impl, chunks))
        delimiter = ord(";") if shape.startswith("quotes-in-unquoted") else ord(",")
        time_both("csv-scan", lambda impl: csv_scan(impl, chunks, delimiter))
    else:
        time_both("cp1252-to-utf8", lambda impl: cp1252(impl, chunks))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path, help="folder written by bench/shapes.py")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, str, float, float]] = []
    for path in sorted(args.corpus.glob("*.csv")):
        rows += measure(path, args.repeat)
    print(f"{'shape':<38} {'operation':<15} {'native MB/s':>12} {'python MB/s':>12} {'ratio':>7}")
    for shape, op, native_mbs, python_mbs in sorted(rows, key=lambda row: (row[1], row[0])):
        print(
            f"{shape:<38} {op:<15} {native_mbs:>12,.0f} {python_mbs:>12,.0f} {native_mbs / python_mbs:>6.1f}x"
        )
    print()
    for op, (kind, target) in TARGETS.items():
        # Pure ASCII apart: CPython's own ASCII path already runs at cache bandwidth there, so its ratio
        # measures memory, not work; it is shown on a line of its own.
        for label, mine in (
            ("", [row for row in rows if row[1] == op and not row[0].endswith("-ascii")]),
            (" (ascii)", [row for row in rows if row[1] == op and row[0].endswith("-ascii")]),
        ):
            if mine:
                print(verdict_line(op + label, kind, target, mine))


def verdict_line(op: str, kind: str, target: float, rows: list[tuple[str, str, float, float]]) -> str:
    worst = min(rows, key=lambda row: row[2] / row[3] if kind == "ratio" else row[2])
    value = worst[2] / worst[3] if kind == "ratio" else worst[2]
    goal = f">= {target:g}x CPython" if kind == "ratio" else f">= {target:,.0f} MB/s"
    verdict = "met" if value >= target else "MISSED"
    shown = f"{value:.1f}x" if kind == "ratio" else f"{value:,.0f} MB/s"
    return f"worst {op:<23} {worst[0]:<34} {shown:>11}   target {goal}: {verdict}"


if __name__ == "__main__":
    main()
