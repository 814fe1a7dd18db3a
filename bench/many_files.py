"""Many tiny files: peak RSS and wall time of a first run and of a re-run (every file skipped).

    python bench/many_files.py                     # 20,000 files, default --concurrency
    python bench/many_files.py --files 100000 --concurrency 100000
    python bench/many_files.py --files 20000 --runs first rerun dry

The files (FILE_BYTES each, FOLDERS folders) are generated once under --workdir and reused. A fresh
SeaweedFS (async_ingest.s3.local.LocalS3Server) and a fresh bucket per invocation; each run is measured
as the OS sees it (bench/measure.py: wall, CPU, peak RSS of the process tree). Keys are
``many/{reldir}/{filename}``, so all files share one prefix and every key is distinct.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR.parent))

from measure import Usage  # noqa: E402
from scratch_server import run_logged, scratch_server  # noqa: E402

FILE_BYTES = 100
FOLDERS = 20
ROW = "id|title|year\r\n"


def generate(root: Path, files: int) -> Path:
    """files CSVs of FILE_BYTES bytes each, spread over FOLDERS folders; kept for the next invocation."""
    folder = root / f"many-{files}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    for index in range(files):
        sub = folder / f"d{index % FOLDERS:02d}"
        if index < FOLDERS:
            sub.mkdir(parents=True)
        body = (ROW + f"{index}|Título {index}|1999\r\n").encode()
        (sub / f"f{index:06d}.csv").write_bytes(body + b"x" * (FILE_BYTES - len(body) - 2) + b"\r\n")
    marker.touch()
    return folder


def command(folder: Path, endpoint_url: str, bucket: str, concurrency: int | None, dry: bool) -> list[str]:
    cmd = [sys.executable, "-m", "async_ingest", str(folder), "--endpoint-url", endpoint_url]
    cmd += ["--bucket", bucket, "--key-template", "many/{reldir}/{filename}", "--quiet"]
    if concurrency is not None:
        cmd += ["--concurrency", str(concurrency)]
    if dry:
        cmd.append("--dry-run")
    return cmd


def show(label: str, files: int, usage: Usage) -> None:
    print(
        f"{label:<6} {files:>7} files  wall {usage.wall_s:6.1f} s  cpu {usage.cpu_s:6.1f} s  "
        f"peak RSS {usage.peak_rss_bytes / 1e6:5.0f} MB  exit {usage.exit_code}",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, help="passed as --concurrency (default: the tool's)")
    p.add_argument("--runs", nargs="+", choices=["first", "rerun", "dry"], default=["first", "rerun"])
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "async-ingest-many")
    args = p.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    folder = generate(args.workdir, args.files)
    failed = False
    with scratch_server(args.workdir) as (server, scratch):
        for label in args.runs:
            cmd = command(folder, server.endpoint_url, "many", args.concurrency, label == "dry")
            usage = run_logged(cmd, server, scratch, label)
            show(label, args.files, usage)
            failed |= usage.exit_code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
