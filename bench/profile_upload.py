"""Where async_ingest spends its CPU: py-spy samples one upload to a local SeaweedFS.

    python bench/profile_upload.py                       # the 1 GiB UTF-8 input of bench/run.py
    python bench/profile_upload.py --input cp1252 --size 1GiB --top 15
    python bench/profile_upload.py --many 8x256MiB       # the folder scenario

py-spy (installed in the peers' virtualenv by bench/run.py) records every thread at 100 Hz, active
samples only, and writes collapsed stacks; this script prints the functions with the most samples of
their own ("self": the function was running) and in total ("incl.": the function or its callees were
running), as a share of all active samples, plus the upload's wall time, CPU and peak RSS. The
upload is then run again without the profiler, its CPU and the server's sampled every 0.25 s, to show
how the cores were shared: start-up before the server got busy, then cores busy on each side.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import generate
import peers
import report
import run
from measure import CpuSampler, CpuSplit, Usage, run_measured

from async_ingest.units import GiB


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=run._size, default=GiB, help="single-file size (1GiB)")
    p.add_argument("--input", choices=["utf8", "cp1252"], default="utf8")
    p.add_argument(
        "--many", type=run.parse_many, help="profile a folder COUNTxSIZE instead (8x256MiB, 1000x10KiB)"
    )
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--rate", type=int, default=100, help="samples per second")
    p.add_argument("--native", action="store_true", help="include C frames (slower sampling)")
    p.add_argument("--workdir", type=Path, default=run.BENCH_DIR / "data")
    p.add_argument("--peers-venv", type=Path)
    p.add_argument("--output", type=Path, help="keep the collapsed stacks here (flamegraph.pl input)")
    return p.parse_args(argv)


def frame_name(frame: str) -> str:
    """'read_block (async_ingest/pipeline/file.py:123)' -> 'read_block (async_ingest/pipeline/file.py)'."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0].rstrip(")")
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


# Leaf frames that mean "waiting" although py-spy counted the thread as active (a futex or epoll wait).
IDLE_LEAVES = (
    "_worker (concurrent/futures/thread.py:81)",  # ThreadPoolExecutor worker waiting for work
    "EpollSelector.select (selectors.py:468)",  # the event loop waiting for sockets
)

Counter = collections.Counter[str]


def tally(lines: Iterable[str]) -> tuple[Counter, Counter, int, int]:
    """Self and inclusive sample counts per function from collapsed stacks ('a;b;c 12'), active samples
    total, waiting samples (IDLE_LEAVES) left out."""
    own: Counter = collections.Counter()
    inclusive: Counter = collections.Counter()
    total = waiting = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        if stack.endswith(IDLE_LEAVES):
            waiting += count
            continue
        frames = [
            frame_name(f) for f in stack.split(";") if " (" in f and not f.startswith(("process ", "thread "))
        ]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    return own, inclusive, total, waiting


def top_table(
    own: collections.Counter[str], inclusive: collections.Counter[str], total: int, top: int
) -> str:
    lines = ["| # | function (self) | self % | incl. % |", "|---|---|---|---|"]
    for rank, (name, count) in enumerate(own.most_common(top), 1):
        lines.append(
            f"| {rank} | `{name}` | {100 * count / total:.1f} | {100 * inclusive[name] / total:.1f} |"
        )
    lines += ["", "| # | function (inclusive) | incl. % |", "|---|---|---|"]
    for rank, (name, count) in enumerate(inclusive.most_common(top + 8), 1):
        lines.append(f"| {rank} | `{name}` | {100 * count / total:.1f} |")
    return "\n".join(lines)


def pick_input(args: argparse.Namespace, factory: generate.DataFactory) -> Path:
    if args.many:
        count, size = args.many
        kind = "small" if size < 1024**2 else "many"  # the same cached folders as bench/run.py
        return factory.folder(count, size, f"{kind}-{count}x{report.size_label(size).replace(' ', '')}")
    utf8, cp1252 = factory.single(args.size, report.size_label(args.size).replace(" ", ""))
    return utf8 if args.input == "utf8" else cp1252


def upload_command(source: Path, endpoint_url: str) -> list[str]:
    return [sys.executable, "-m", "async_ingest", str(source), "--bucket", "profile", "--endpoint-url",
            endpoint_url, "--key-template", "p/{filename}", "--force", "--quiet"]  # fmt: skip


def profile(
    args: argparse.Namespace, source: Path, scratch: Path, collapsed: Path
) -> tuple[Usage, Usage, CpuSplit | None]:
    """One upload under py-spy, then one without it (for the true wall time, CPU, RSS and CPU split)."""
    peer_env = peers.ensure_peers((args.peers_venv or args.workdir / "venv-peers").resolve(), run.log)
    with run.seaweedfs(args.workdir) as server:
        s3 = run.admin_client(server.endpoint_url)
        run.fresh_bucket(s3, "profile")
        upload = upload_command(source, server.endpoint_url)
        native = ["--native"] if args.native else []
        spy = [str(peer_env.venv / "bin" / "py-spy"), "record", "--format", "raw", "--rate", str(args.rate),
               "--threads", "--output", str(collapsed), *native, "--", *upload]  # fmt: skip
        assert server._process is not None
        env, pid = peers.tool_env(scratch), server._process.pid
        sampled = run_measured(spy, env, scratch / "profile.log", pid, 3600)
        sampler = CpuSampler(pid)
        try:
            plain = run_measured(upload, env, scratch / "plain.log", pid, 3600, on_start=sampler.start)
        finally:
            sampler.stop()
        run.drop_bucket(s3, "profile")
    return sampled, plain, sampler.split()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir = args.workdir.resolve()
    source = pick_input(args, generate.DataFactory(args.workdir / "inputs", generate.DataSpec()))
    scratch = Path(tempfile.mkdtemp(prefix="profile-", dir=args.workdir))
    collapsed = args.output or scratch / "stacks.txt"
    try:
        sampled, plain, split = profile(args, source, scratch, collapsed)
        own, inclusive, total, waiting = tally(collapsed.read_text().splitlines())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"## py-spy profile of async_ingest: {source.name}\n")
    print(
        f"{total} active samples at {args.rate} Hz ({waiting} more were threads waiting for work or sockets, "
        f"left out). Without the profiler: wall {plain.wall_s:.1f} s, client CPU {plain.cpu_s:.1f} s "
        f"({plain.user_s:.1f} user + {plain.sys_s:.1f} sys), "
        f"peak RSS {plain.peak_rss_bytes / report.MB:.0f} MB, server CPU {plain.server_cpu_s:.1f} s, "
        f"exit {plain.exit_code}; under py-spy: wall {sampled.wall_s:.1f} s.\n"
    )
    if split is not None:
        print(
            f"How the {os.cpu_count()} cores were shared without the profiler (sampled every "
            f"{split.interval_s} s): {split.startup_s:.1f} s of start-up before SeaweedFS got "
            f"busy, then async_ingest {split.client_cores:.2f} cores + SeaweedFS "
            f"{split.server_cores:.2f} cores = {split.client_cores + split.server_cores:.2f} busy.\n"
        )
    print(top_table(own, inclusive, total, args.top))
    return 0 if plain.exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
