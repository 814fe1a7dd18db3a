"""Run one command and measure it as the OS sees it: wall time, user+sys CPU and peak RSS of its tree.

A child's ``ru_maxrss`` includes the memory of the process it was forked from (Linux keeps the
pre-exec high-water mark), so a tool started straight from the benchmark would inherit the
benchmark's own RSS. Each command therefore runs under a tiny launcher (``python -I -S``, ~9 MB)
that starts it, waits, and reports ``getrusage(RUSAGE_CHILDREN)``: the CPU of every process of the
tree that was waited for (a ``bash -c 'a | b'`` pipeline included) and the largest peak RSS among
them, never a sum. Peak RSS values below ~9 MB are the launcher's floor.

The S3 server's CPU (utime+stime of the SeaweedFS process from /proc) is read before and after.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_LAUNCHER = r"""
import os, resource, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
pid = os.posix_spawnp(cmd[0], cmd, os.environ, setsid=True)
status = os.waitpid(pid, 0)[1]
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out, "w") as f:
    f.write('{"wall": %r, "user": %r, "sys": %r, "maxrss_kib": %d, "exit": %d}'
            % (wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss, os.waitstatus_to_exitcode(status)))
"""

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    """What one command cost."""

    wall_s: float
    cpu_s: float  # user + sys of the whole tree
    peak_rss_bytes: int  # the largest process of the tree
    server_cpu_s: float
    exit_code: int
    timed_out: bool = False
    user_s: float = 0.0
    sys_s: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "peak_rss_bytes": self.peak_rss_bytes,
            "server_cpu_s": self.server_cpu_s,
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "user_s": self.user_s,
            "sys_s": self.sys_s,
        }


def process_cpu_s(pid: int) -> float:
    """utime+stime of a process (all its threads) in seconds, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def child_pids(pid: int) -> list[int]:
    """Direct children of a process."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


@dataclass(frozen=True)
class CpuSplit:
    """How the CPU was shared during an upload (from CpuSampler)."""

    startup_s: float  # from start until the server first works (>= BUSY_CORES)
    client_cores: float  # mean cores busy from then to the end
    server_cores: float
    interval_s: float


class CpuSampler:
    """Samples the cumulative CPU of a launched tool (its launcher's children) and of the server on a
    thread, every interval_s: shows how the cores were shared, which totals alone cannot."""

    BUSY_CORES = 0.5

    def __init__(self, server_pid: int, interval_s: float = 0.25) -> None:
        self.server_pid = server_pid
        self.interval_s = interval_s
        self.samples: list[tuple[float, float, float]] = []  # (seconds, client CPU s, server CPU s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, launcher_pid: int) -> None:
        self._thread = threading.Thread(target=self._run, args=(launcher_pid,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, launcher_pid: int) -> None:
        started, server_base, tool_cpu = time.perf_counter(), process_cpu_s(self.server_pid), 0.0
        tools: list[int] = []
        while not self._stop.wait(self.interval_s):
            tools = tools or child_pids(launcher_pid)
            with contextlib.suppress(OSError):  # the tool exited: keep its last reading
                tool_cpu = sum(process_cpu_s(pid) for pid in tools)
            server_cpu = process_cpu_s(self.server_pid) - server_base
            self.samples.append((time.perf_counter() - started, tool_cpu, server_cpu))

    def split(self) -> CpuSplit | None:
        """None when the server never got busy (a failed or very short run)."""
        points = [(0.0, 0.0, 0.0), *self.samples]
        for (t0, client0, server0), (t1, _, server1) in itertools.pairwise(points):
            if (server1 - server0) / (t1 - t0) >= self.BUSY_CORES:
                end, client_end, server_end = points[-1]
                span = end - t0
                return CpuSplit(
                    t0, (client_end - client0) / span, (server_end - server0) / span, self.interval_s
                )
        return None


def run_measured(
    cmd: Sequence[str],
    env: Mapping[str, str],
    log_path: Path,
    server_pid: int,
    timeout_s: float,
    cwd: Path | None = None,
    on_timeout: Callable[[int, Path], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Usage:
    """Run cmd under the launcher; stdout and stderr go to log_path.

    on_start(launcher_pid) runs once the launcher is started (e.g. to sample its tree's CPU).
    On timeout, on_timeout(pid, log_path) may record where the tool hangs (e.g. a py-spy dump), then
    the tool's process group is killed; the launcher still reports what the tree used until then.
    """
    result_path = log_path.with_suffix(".usage.json")
    result_path.unlink(missing_ok=True)
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(result_path), *cmd]
    server_before = process_cpu_s(server_pid)
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            launcher,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: a timeout kills the whole tree
        )
        if on_start is not None:
            on_start(proc.pid)
        timed_out = _wait(proc, timeout_s, log_path, on_timeout)
    server_cpu = process_cpu_s(server_pid) - server_before
    if not result_path.exists():  # the launcher itself failed
        return Usage(time.perf_counter() - started, 0.0, 0, server_cpu, -1, timed_out)
    raw = json.loads(result_path.read_text())
    return Usage(
        wall_s=raw["wall"],
        cpu_s=raw["user"] + raw["sys"],
        peak_rss_bytes=raw["maxrss_kib"] * 1024,
        server_cpu_s=server_cpu,
        exit_code=raw["exit"],
        timed_out=timed_out,
        user_s=raw["user"],
        sys_s=raw["sys"],
    )


def _wait(
    proc: subprocess.Popen[bytes],
    timeout_s: float,
    log_path: Path,
    on_timeout: Callable[[int, Path], None] | None,
) -> bool:
    try:
        proc.wait(timeout=timeout_s)
        return False
    except subprocess.TimeoutExpired:
        pass
    for child in child_pids(proc.pid):  # the tool leads its own process group (setsid)
        if on_timeout is not None:
            on_timeout(child, log_path)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, signal.SIGKILL)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return True


def capture(cmd: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    """First line of a command's output (versions), or 'unavailable'."""
    try:
        out = subprocess.run(
            cmd, env=None if env is None else dict(env), cwd=cwd, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text and out.returncode == 0 else "unavailable"
