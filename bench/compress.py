"""Output compression: wall, CPU, peak RSS and stored size of one file uploaded with --compress none,
gzip and zstd (interleaved rounds), against a fresh SeaweedFS on loopback. With --gz-source: a
compressed source instead, async_ingest on FILE.gz against ``gunzip -c | iconv | aws s3 cp -``.

    python bench/compress.py /work/benchdata/single-1GiB/movies-1GiB-cp1252.csv
    python bench/compress.py FILE --modes none zstd --rounds 2
    python bench/compress.py FILE --gz-source --rounds 2 --workdir /work/benchwork/gz-source \\
        --peers-venv /work/wt-link/bench/data/venv-peers

Each run is measured as the OS sees it (bench/measure.py); the stored size is the report's
bytes_written (the object as stored), bytes_uncompressed its UTF-8 size.

--gz-source: FILE (Windows-1252) is gzipped once by the system's ``gzip -6`` (the default of
database dumps' .csv.gz) into --workdir (default: beside FILE) and reused while newer than FILE. Per
round, in rotating order: async_ingest on FILE.gz, async_ingest on FILE (the plain-file baseline of
peak RSS) and the peer pipeline (aws from the peers' virtualenv, as bench/run.py runs it); each into
a fresh bucket, key <run>/FILE, whose object must have the same (UTF-8) size for all three.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR.parent))

import peers  # noqa: E402
import run  # noqa: E402
from measure import Usage, run_measured  # noqa: E402

from async_ingest.s3.local import LocalS3Server  # noqa: E402


def command(
    source: Path, endpoint_url: str, mode: str, report: Path, bucket: str = "compress", prefix: str = ""
) -> list[str]:
    cmd = [sys.executable, "-m", "async_ingest", str(source), "--endpoint-url", endpoint_url]
    cmd += ["--bucket", bucket, "--key-template", f"{prefix or mode}/{{filename}}", "--quiet", "--force"]
    return [*cmd, "--no-manifest", "--report", str(report), "--compress", mode]


def usage_line(usage: Usage) -> str:
    return (
        f"wall {usage.wall_s:6.1f} s  cpu {usage.cpu_s:6.1f} s  server cpu {usage.server_cpu_s:5.1f} s  "
        f"peak RSS {usage.peak_rss_bytes / 1e6:4.0f} MB"
    )


def summary(runs: Sequence[Usage]) -> str:
    """Median wall, ranges of CPU, server CPU and peak RSS."""

    def span(values: list[float], fmt: str) -> str:
        return f"{min(values):{fmt}}-{max(values):{fmt}}"

    return (
        f"wall {statistics.median(u.wall_s for u in runs):.1f} s (median), "
        f"cpu {span([u.cpu_s for u in runs], '.1f')} s, "
        f"server cpu {span([u.server_cpu_s for u in runs], '.1f')} s, "
        f"peak RSS {span([u.peak_rss_bytes / 1e6 for u in runs], '.0f')} MB"
    )


def output_modes(args: argparse.Namespace, server: LocalS3Server, scratch: Path) -> bool:
    """--compress none/gzip/zstd on one file; True when every run exited 0."""
    assert server._process is not None
    ok = True
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
                f"{mode:<5} {usage_line(usage)}  stored {stored / 1e6:7.1f} MB (UTF-8 {text / 1e6:.1f} MB)  "
                f"exit {usage.exit_code}",
                flush=True,
            )
            ok = ok and usage.exit_code == 0
    return ok


def gz_copy(source: Path, workdir: Path) -> Path:
    """FILE.gz by the system gzip at level 6 (its default), made once and reused while newer than FILE."""
    target = workdir / f"{source.name}.gz"
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    workdir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.part")
    run.log(f"gzip -6 -c {source} > {target} (once)...")
    with open(partial, "wb") as out:
        subprocess.run(["gzip", "-6", "-c", str(source)], stdout=out, check=True)
    partial.replace(target)
    return target


GZ, PLAIN, PEER = "async_ingest .csv.gz", "async_ingest .csv", "gunzip | iconv | aws"


def gz_source(args: argparse.Namespace, server: LocalS3Server, scratch: Path) -> bool:
    """async_ingest on FILE.gz against gunzip -c | iconv | aws s3 cp -; True when all runs stored the
    same UTF-8 object."""
    assert server._process is not None
    gz = gz_copy(args.source, (args.workdir or args.source.parent).resolve())
    peer_env = peers.ensure_peers(args.peers_venv.resolve(), run.log)
    env, s3, name = peers.tool_env(scratch), run.admin_client(server.endpoint_url), args.source.name
    plain_mb, gz_mb = args.source.stat().st_size / 1e6, gz.stat().st_size / 1e6
    print(f"source {gz}: {gz_mb:.1f} MB (gzip -6 of {plain_mb:.1f} MB)")
    builds: dict[str, Callable[[peers.Target], list[str]]] = {
        GZ: lambda t: command(gz, t.endpoint_url, "none", scratch / "gz.json", t.bucket, t.prefix),
        PLAIN: lambda t: command(
            args.source, t.endpoint_url, "none", scratch / "plain.json", t.bucket, t.prefix
        ),
        PEER: lambda t: peers.gunzip_iconv_aws(gz, t, peer_env, name),
    }
    usages: dict[str, list[Usage]] = {label: [] for label in builds}
    sizes: set[int] = set()
    ok = True
    for round_no in range(args.rounds):
        labels = list(builds)
        shift = round_no % len(labels)
        for n, label in enumerate(labels[shift:] + labels[:shift]):
            target = peers.Target(server.endpoint_url, f"gz-source-{round_no}-{n}", f"r{round_no + 1}")
            run.fresh_bucket(s3, target.bucket)
            time.sleep(run.SETTLE_S)
            log_path = scratch / f"{target.bucket}.log"
            usage = run_measured(builds[label](target), env, log_path, server._process.pid, 3600)
            stored = run.list_sizes(s3, target.bucket).get(f"{target.prefix}/{name}", 0)
            run.drop_bucket(s3, target.bucket)
            print(f"{label:<21} {usage_line(usage)}  stored {stored:,} B  exit {usage.exit_code}", flush=True)
            if usage.exit_code != 0:
                print(f"  {run.last_line(log_path)}")
            ok = ok and usage.exit_code == 0 and stored > 0
            usages[label].append(usage)
            sizes.add(stored)
    ok = ok and len(sizes) == 1
    print(f"stored objects: {'all ' + format(sizes.pop(), ',') + ' B' if ok else 'DIFFER or failed'}")
    for label, runs in usages.items():
        print(f"{label:<21} {summary(runs)}")
    peer_wall = statistics.median(u.wall_s for u in usages[PEER])
    for label in (GZ, PLAIN):
        ratios = [mine.wall_s / peer.wall_s for mine, peer in zip(usages[label], usages[PEER], strict=True)]
        median = statistics.median(u.wall_s for u in usages[label])
        print(
            f"{label} / {PEER}: wall {' '.join(f'{r:.2f}x' for r in ratios)} (by round), "
            f"medians {median:.1f} / {peer_wall:.1f} s: {median / peer_wall:.2f}x"
        )
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path)
    p.add_argument("--modes", nargs="+", choices=["none", "gzip", "zstd"], default=["none", "gzip", "zstd"])
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--gz-source", action="store_true", help="FILE.gz against gunzip | iconv | aws s3 cp -")
    p.add_argument("--workdir", type=Path, help="where FILE.gz is kept (--gz-source; default: beside FILE)")
    p.add_argument(
        "--peers-venv", type=Path, default=BENCH_DIR / "data" / "venv-peers", help="(bench/data/venv-peers)"
    )
    args = p.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="async-ingest-compress-"))
    server = LocalS3Server(scratch / "seaweedfs")
    try:
        server.start()
        ok = gz_source(args, server, scratch) if args.gz_source else output_modes(args, server, scratch)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
