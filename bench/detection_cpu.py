"""Detection CPU per file, the code before issue 20 against today's, in one process on the same files.

    python bench/detection_cpu.py [--seeds 2] [--passes 5] [--old-rev 9a734a0~1]

The old detector is `git show <old-rev>:async_ingest/encoding.py`, written to a temporary file and loaded
with importlib next to `async_ingest.transform.detect`. The files are the generated corpus of
tests/corpus_text.py (every language and code page, `--seeds` files each) at 200 B, 1 KiB and 10 KiB.
Each pass times every file once with each detector (alternating, so machine load hits both alike); a
size's figure is the best pass's CPU time divided by its file count. Caches are warm after the first pass,
as they are in a run of many files. "Full contest" is the share of files that reach charset-normalizer
(neither ASCII, UTF-8 nor the Western shortcut decides them), timed separately.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import charset_normalizer  # noqa: E402

from async_ingest.transform import detect as new_detect  # noqa: E402
from tests.corpus_text import cases, generate  # noqa: E402

SIZES = {200: "200 B", 1024: "1 KiB", 10 * 1024: "10 KiB"}


def load_old(rev: str, folder: Path) -> ModuleType:
    """The detector as it was at `rev`, imported from a copy under `folder`."""
    source = subprocess.run(
        ["git", "show", f"{rev}:async_ingest/encoding.py"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    path = folder / "old_encoding.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("old_encoding", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_encoding"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def corpus(seeds: int) -> dict[int, list[bytes]]:
    files: dict[int, list[bytes]] = {size: [] for size in SIZES}
    for _, lang, codec, size, seed in cases(seeds):
        if size in files:
            files[size].append(generate(lang, codec, size, seed).encode(codec))
    return files


def run_detector(module: ModuleType, data: bytes) -> None:
    with contextlib.suppress(module.UndetectableEncoding):
        module.detect([data])


def needs_contest(data: bytes) -> bool:
    """Whether today's detector asks charset-normalizer about the file (it imports from_bytes per call)."""
    called = []
    original = charset_normalizer.from_bytes

    def counting(*args: object, **kwargs: object) -> object:
        called.append(True)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    charset_normalizer.from_bytes = counting  # type: ignore[assignment]
    try:
        run_detector(new_detect, data)
    finally:
        charset_normalizer.from_bytes = original
    return bool(called)


def cpu_seconds(module: ModuleType, files: Sequence[bytes]) -> float:
    started = time.process_time()
    for data in files:
        run_detector(module, data)
    return time.process_time() - started


def measure(modules: Sequence[ModuleType], files: Sequence[bytes], passes: int) -> list[float]:
    """Best-of-`passes` milliseconds per file for each module."""
    best = [float("inf")] * len(modules)
    for _ in range(passes):
        for index, module in enumerate(modules):
            best[index] = min(best[index], cpu_seconds(module, files))
    return [1000 * seconds / max(1, len(files)) for seconds in best]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=2, help="files per language, code page and size")
    p.add_argument("--passes", type=int, default=5, help="timed passes; the best counts")
    p.add_argument("--old-rev", default="9a734a0~1", help="git revision holding async_ingest/encoding.py")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        old = load_old(args.old_rev, Path(folder))
        modules = (old, new_detect)
        print(
            f"old: {args.old_rev}:async_ingest/encoding.py, new: working tree; best of {args.passes} passes"
        )
        print()
        print("| file size | files | old | new | new/old | full contest | old | new |")
        print("|---|---|---|---|---|---|---|---|")
        for size, files in corpus(args.seeds).items():
            measure(modules, files, 1)  # warm caches and charset-normalizer's import
            contest = [data for data in files if needs_contest(data)]
            old_ms, new_ms = measure(modules, files, args.passes)
            old_c, new_c = measure(modules, contest, args.passes)
            print(
                f"| {SIZES[size]} | {len(files)} | {old_ms:.3f} ms | {new_ms:.3f} ms | {new_ms / old_ms:.3f} "
                f"| {len(contest)} | {old_c:.3f} ms | {new_c:.3f} ms |"
            )


if __name__ == "__main__":
    main()
