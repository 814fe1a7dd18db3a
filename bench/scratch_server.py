"""A fresh SeaweedFS in a scratch folder for the folder benchmarks (many_files.py, zip_members.py),
and one measured run of the command against it."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import peers
from measure import Usage, run_measured

from async_ingest.s3.local import LocalS3Server


@contextlib.contextmanager
def scratch_server(workdir: Path) -> Iterator[tuple[LocalS3Server, Path]]:
    """The server and its scratch folder (the tools' logs too), both gone at the end."""
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    server = LocalS3Server(scratch / "seaweedfs")
    try:
        server.start()
        yield server, scratch
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def run_logged(cmd: list[str], server: LocalS3Server, scratch: Path, name: str) -> Usage:
    """CMD measured (wall, CPU, peak RSS, the server's CPU); its log's tail on stderr if it failed."""
    assert server.pid is not None
    log = scratch / f"{name}.log"
    usage = run_measured(cmd, peers.tool_env(scratch), log, server.pid, 3600)
    if usage.exit_code != 0:
        print(log.read_text()[-2000:], file=sys.stderr)
    return usage
