"""What the CSV check costs an upload (issue 15): async_ingest with `--csv-check off` and `report`,
interleaved, on the benchmark's Windows-1252 file against a local SeaweedFS; medians of wall time and
client CPU (user+sys of the process tree).

    python bench/csv_check_cost.py [--size 1GiB] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import generate
import measure
import peers
import run
from run import BENCH_DIR


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=run._size, default=1024**3)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--workdir", type=Path, default=BENCH_DIR / "data")
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    _, cp1252 = generate.DataFactory(args.workdir, generate.DataSpec()).single(args.size, "csvcost")
    scratch = Path(tempfile.mkdtemp(prefix="csvcost-", dir=args.workdir))
    env = peers.tool_env(scratch)
    results: dict[str, list[measure.Usage]] = {"off": [], "report": []}
    with run.seaweedfs(args.workdir) as server:
        s3 = run.admin_client(server.endpoint_url)
        assert server._process is not None
        pid = server._process.pid
        for number in range(args.runs):
            for mode in ("off", "report") if number % 2 == 0 else ("report", "off"):
                bucket = f"csvcost-{mode}-{number}"
                run.fresh_bucket(s3, bucket)
                cmd = [
                    sys.executable, "-m", "async_ingest", str(cp1252), "--bucket", bucket,
                    "--endpoint-url", server.endpoint_url, "--key-template", "p/{filename}",
                    "--force", "--quiet", "--csv-check", mode,
                ]  # fmt: skip
                usage = measure.run_measured(cmd, env, scratch / f"{bucket}.log", pid, 600)
                assert usage.exit_code == 0, (scratch / f"{bucket}.log").read_text()
                results[mode].append(usage)
                print(
                    f"run {number + 1} {mode:6s} wall {usage.wall_s:6.2f} s  client CPU {usage.cpu_s:6.2f} s"
                )
                run.drop_bucket(s3, bucket)
    off_wall = statistics.median(u.wall_s for u in results["off"])
    off_cpu = statistics.median(u.cpu_s for u in results["off"])
    on_wall = statistics.median(u.wall_s for u in results["report"])
    on_cpu = statistics.median(u.cpu_s for u in results["report"])
    print(
        f"medians: off wall {off_wall:.2f} s CPU {off_cpu:.2f} s; "
        f"report wall {on_wall:.2f} s CPU {on_cpu:.2f} s"
    )
    print(f"report / off: wall {on_wall / off_wall:.3f}x, client CPU {on_cpu / off_cpu:.3f}x")


if __name__ == "__main__":
    main()
