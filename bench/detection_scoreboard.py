"""Detection scoreboard: the generated corpus of tests/corpus_text.py (27 languages, their legacy code
pages, files of 200 B, 1 KiB, 10 KiB and 64 KiB) through `detect()`, as the pipeline calls it for a file
read whole. Prints group/code page x size -> % correct, the wrong answers, and the detection CPU per file
size. "Correct" means the detected code page decodes the bytes to the text written.

    python bench/detection_scoreboard.py [--seeds 8] [--small-per-group 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from async_ingest.transform.detect import UndetectableEncoding, detect
from tests.corpus_text import SIZES, cases, correct, generate

SIZE_LABELS = {200: "200 B", 1024: "1 KiB", 10 * 1024: "10 KiB", 64 * 1024: "64 KiB"}


def score(
    seeds: int, small_per_group: int
) -> tuple[dict[tuple[str, str], dict[int, list[int]]], Counter[str], dict[int, float]]:
    """Per (group, codec) and size: [correct, total]; the wrong answers; CPU seconds per file by size."""
    table: dict[tuple[str, str], dict[int, list[int]]] = defaultdict(lambda: {s: [0, 0] for s in SIZES})
    wrong: Counter[str] = Counter()
    cpu: dict[int, list[float]] = defaultdict(list)
    for group, lang, codec, size, seed in cases(seeds, small_per_group):
        text = generate(lang, codec, size, seed)
        data = text.encode(codec)
        started = time.process_time()
        try:
            found = detect([data]).encoding
        except UndetectableEncoding:
            found = "undetectable"
        cpu[size].append(time.process_time() - started)
        cell = table[(group, codec)][size]
        cell[1] += 1
        if correct(data, text, found):
            cell[0] += 1
        else:
            wrong[f"{lang} {codec} {SIZE_LABELS[size]} -> {found}"] += 1
    return table, wrong, {size: sum(times) / len(times) for size, times in cpu.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=8, help="files per language, code page and size")
    p.add_argument("--small-per-group", type=int, default=100, help="200 B files per group, at least")
    args = p.parse_args()
    table, wrong, cpu = score(args.seeds, args.small_per_group)
    header = "| group / code page | files | " + " | ".join(SIZE_LABELS[s] for s in SIZES) + " |"
    print(header)
    print("|" + "---|" * (2 + len(SIZES)))
    for (group, codec), cells in table.items():
        share = " | ".join(f"{100 * ok / total:.1f}%" for ok, total in cells.values())
        print(f"| {group} / {codec} | {sum(total for _, total in cells.values())} | {share} |")
    print()
    print("Detection CPU per file: " + ", ".join(f"{SIZE_LABELS[s]} {cpu[s] * 1000:.2f} ms" for s in SIZES))
    print(f"Wrong answers ({sum(wrong.values())}):" if wrong else "Wrong answers: none")
    for answer, count in wrong.most_common():
        print(f"  {count} x {answer}")


if __name__ == "__main__":
    main()
