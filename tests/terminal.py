"""Test helpers: the command in a pseudo-terminal, as at an interactive shell, and a multi-MiB
Windows-1252 file to watch bars on."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.conftest import REPO


def make_file(path: Path, mib: int) -> bytes:
    row = "tt{:07d}|movie|Ação e Reação nº {:d}|Coração especial|2001|Drama\n"
    text = "".join(row.format(i, i) for i in range(mib * 17_000)).encode("cp1252")
    path.write_bytes(text)
    return text


def run_in_terminal(
    args: list[str], env: dict[str, str], timeout: float = 120, columns: int = 120
) -> tuple[int, str]:
    """The CLI with a pseudo-terminal as stdout and stderr, as at an interactive shell."""
    leader, follower = pty.openpty()
    # A real terminal has a size; a fresh pseudo-terminal says 0x0, which leaves bars no room.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "async_ingest", *args],
        stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, env=env, cwd=REPO,
    )  # fmt: skip
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=10), b"".join(chunks).decode("utf-8", "replace")
