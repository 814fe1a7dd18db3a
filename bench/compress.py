"""Output compression: wall, CPU, peak RSS and stored size of one file uploaded with --compress none,
gzip and zstd (interleaved rounds), against a fresh SeaweedFS on loopback.

    python bench/compress.py /work/benchdata/single-1GiB/movies-1GiB-cp1252.csv
    python bench/compress.py FILE --modes none zstd --rounds 2

Each run is measured as the OS sees it (bench/measure.py); the stored size is the report's
bytes_written (the object as stored), bytes_uncompressed its UTF-8 size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR.parent))

import peers  # noqa: E402
from measure import run_measured  # noqa: E402

from async_ingest.local import LocalS3Server  # noqa: E402


def command(source: Path, endpoint_url: str, mode: str, report: Path) -> list[str]:
    cmd = [sys.executable, "-m", "async_ingest", str(source), "--endpoint-url", endpoint_url]
    cmd += ["--bucket", "compress", "--key-template", f"{mode}/{{filename}}", "--quiet", "--force"]
    return [*cmd, "--no-manifest", "--report", str(report), "--compress", mode]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path)
    p.add_argument("--modes", nargs="+", choices=["none", "gzip", "zstd"], default=["none", "gzip", "zstd"])
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="async-ingest-compress-"))
    server = LocalS3Server(scratch / "seaweedfs")
    failed = False
    try:
        server.start()
        assert server._process is not None
        for _ in range(args.rounds):
            for mode in args.modes:
                report = scratch / f"{mode}.json"
                cmd = command(args.source, server.endpoint_url, mode, report)
                usage = run_measured(
                    cmd, peers.tool_env(scratch), scratch / f"{mode}.log", server._process.pid, 3600
                )
                entry = json.loads(report.read_text())["files"][0] if report.exists() else {}
                stored = entry.get("bytes_written", 0)
                text = entry.get("bytes_uncompressed") or stored
                print(
                    f"{mode:<5} wall {usage.wall_s:6.1f} s  cpu {usage.cpu_s:6.1f} s  "
                    f"server cpu {usage.server_cpu_s:5.1f} s  peak RSS {usage.peak_rss_bytes / 1e6:4.0f} MB  "
                    f"stored {stored / 1e6:7.1f} MB (UTF-8 {text / 1e6:.1f} MB)  "
                    f"exit {usage.exit_code}",
                    flush=True,
                )
                failed = failed or usage.exit_code != 0
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
