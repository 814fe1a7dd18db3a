"""A zip with many members against as many plain files of the same sizes: wall, CPU and peak RSS.

    python bench/zip_members.py                    # 10,000 members vs 10,000 files, dry and real runs
    python bench/zip_members.py --files 2000 --runs dry

Each member once cost a ZipFile() that parsed the whole central directory again (quadratic: 2,000
members 33 s, 4,000 members 155 s); the target is a 10,000-member zip within 2x the time of 10,000
plain files. The inputs (FILE_BYTES-byte CSVs in FOLDERS folders, and one deflated zip of the same
files) are generated once under --workdir. A fresh SeaweedFS per invocation; the real runs upload to
distinct key prefixes of one bucket. Measured as bench/measure.py does (the process tree as the OS
sees it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR.parent))

from many_files import FILE_BYTES, generate  # noqa: E402
from measure import Usage  # noqa: E402
from scratch_server import run_logged, scratch_server  # noqa: E402


def zipped(folder: Path, root: Path) -> Path:
    """folder's CSVs as one deflated zip (same relative paths), made once; in a folder of its own."""
    target = root / f"{folder.name}-zip" / f"{folder.name}.zip"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*.csv")):
            archive.write(path, path.relative_to(folder).as_posix())
    partial.rename(target)
    return target


def command(source: Path, endpoint_url: str, prefix: str, dry: bool) -> list[str]:
    cmd = [sys.executable, "-m", "async_ingest", str(source), "--endpoint-url", endpoint_url]
    cmd += ["--bucket", "zips", "--key-template", prefix + "/{reldir}/{filename}", "--quiet", "--no-manifest"]
    return [*cmd, "--dry-run"] if dry else cmd


def show(label: str, usage: Usage) -> None:
    print(
        f"{label:<12} wall {usage.wall_s:6.1f} s  cpu {usage.cpu_s:6.1f} s  "
        f"peak RSS {usage.peak_rss_bytes / 1e6:5.0f} MB  exit {usage.exit_code}",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=10_000)
    p.add_argument("--runs", nargs="+", choices=["dry", "real"], default=["dry", "real"])
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "async-ingest-many")
    args = p.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    folder = generate(args.workdir, args.files)
    archive = zipped(folder, args.workdir)
    print(f"{args.files} files of {FILE_BYTES} bytes; zip {archive.stat().st_size / 1e6:.1f} MB", flush=True)
    failed = False
    with scratch_server(args.workdir) as (server, scratch):
        for run in args.runs:
            for label, source in (("files", folder), ("zip", archive)):
                cmd = command(source, server.endpoint_url, f"{run}-{label}", run == "dry")
                usage = run_logged(cmd, server, scratch, f"{run}-{label}")
                show(f"{run} {label}", usage)
                failed |= usage.exit_code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
