"""SOURCE - (issue 14, item 2): standard input through a real pipe, multipart-sized, against SeaweedFS."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from async_ingest.units import MiB
from tests.conftest import REPO, cli_env, list_keys, open_uploads, read_object

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

# The producer, as `pg_dump ... |` would be: ROWS rows of cp1252 text, written in 64 KiB chunks.
PRODUCER = """
import sys
rows, plain = int(sys.argv[1]), int(sys.argv[2]); tail = sys.argv[3].encode("latin-1")
out = sys.stdout.buffer
out.write("id;título;preço\\n".encode("cp1252"))
chunk = []
for i in range(rows):
    chunk.append(f"{i};Ação à São Tomé nº{i % 97};{i * 3 % 1000},50 €\\n".encode("cp1252"))
    if len(chunk) == 1000:
        out.write(b"".join(chunk)); chunk = []
out.write(b"".join(chunk))
for _ in range(plain // 1000):
    out.write(b"a;b\\n" * 1000)
out.write(tail)
"""
PLAIN = 2_360_000  # ASCII lines of 4 bytes after the header: 9 MiB, past the 8 MiB head (whole thousands)


def produced(rows: int, tail: bytes = b"") -> bytes:
    lines = [f"{i};Ação à São Tomé nº{i % 97};{i * 3 % 1000},50 €\n" for i in range(rows)]
    return "id;título;preço\n".encode("cp1252") + "".join(lines).encode("cp1252") + tail


def piped(
    rows: int, *args: str | Path, endpoint_url: str, plain: int = 0, tail: bytes = b""
) -> tuple[int, str, str]:
    """producer | async-ingest - ARGS: two processes and an OS pipe between them."""
    producer = subprocess.Popen(
        [sys.executable, "-c", PRODUCER, str(rows), str(plain), tail.decode("latin-1")],
        stdout=subprocess.PIPE,
    )
    assert producer.stdout is not None
    consumer = subprocess.run(
        [sys.executable, "-m", "async_ingest", "-", *map(str, args)],
        stdin=producer.stdout,
        capture_output=True,
        text=True,
        env=cli_env(endpoint_url),
        cwd=REPO,
        timeout=300,
    )
    producer.stdout.close()
    assert producer.wait(timeout=60) == 0
    return consumer.returncode, consumer.stdout, consumer.stderr


def test_a_pipe_lands_as_utf8_in_parts_with_bounded_memory(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    rows = 600_000  # 21 MiB of cp1252, 24 MiB as UTF-8: more than the 16 MiB of buffers allowed
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    code, out, err = piped(
        rows,
        "--name", "movies.csv", "--bucket", shared_bucket, "--key-template", prefix + "/raw/{filename}",
        "--part-size", "5MiB", "--max-memory", "16MiB", "--report", tmp_path / "r.json", "--no-manifest",
        endpoint_url=s3_server.endpoint_url,
    )  # fmt: skip
    assert code == 0, err
    expected = produced(rows)
    assert len(expected) > 20 * MiB
    body = read_object(s3, shared_bucket, f"{prefix}/raw/movies.csv")
    assert body == expected.decode("cp1252").encode("utf-8")
    parts = -(-len(body) // (5 * MiB))
    [entry] = json.loads((tmp_path / "r.json").read_text())["files"]
    assert entry["source"] == "-" and entry["status"] == "uploaded"
    assert entry["source_encoding"] == "cp1252" and entry["parts"] >= parts >= 5
    assert entry["source_size"] == entry["bytes_read"] == len(expected)
    assert entry["rows"] == rows
    head = s3.head_object(Bucket=shared_bucket, Key=f"{prefix}/raw/movies.csv")
    assert head["Metadata"]["source-name"] == "movies.csv"
    # The stream is never held whole: the process stays near its ~75 MB plus buffers and the head.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if peak_mb > before / 1024:  # this child set the children's peak: it is the one measured
        assert peak_mb < 150, peak_mb
    assert "movies.csv" in out


def test_a_decode_failure_after_the_head_fails_and_leaves_nothing(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str
) -> None:
    """The head (8 MiB) is cp1252 (its header) then ASCII; a byte cp1252 does not define comes after
    it. A file would be re-detected and restarted; a pipe cannot be read again: the upload is
    aborted, with what to do instead."""
    code, _out, err = piped(
        0, "--name", "late.csv", "--bucket", shared_bucket, "--key-template", prefix + "/{filename}",
        "--part-size", "5MiB", "--no-manifest", "--encoding", "auto",
        endpoint_url=s3_server.endpoint_url, plain=PLAIN, tail=b"999;caf\x81;1\n",
    )  # fmt: skip
    assert code == 1, err
    failure = [line for line in err.splitlines() if line.startswith("FAILED")]
    assert len(failure) == 1 and "standard input cannot be read again" in failure[0], err
    assert "--encoding" in failure[0] and "Traceback" not in err
    assert list_keys(s3, shared_bucket, prefix) == []
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_replace_after_the_head_lands_with_the_replacement_counted(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    """--on-decode-error replace: on a pipe the bad sequence is replaced at once (no strict try first)."""
    code, _out, err = piped(
        0, "--name", "late.csv", "--bucket", shared_bucket, "--key-template", prefix + "/{filename}",
        "--part-size", "5MiB", "--no-manifest", "--on-decode-error", "replace",
        "--report", tmp_path / "r.json",
        endpoint_url=s3_server.endpoint_url, plain=PLAIN, tail=b"999;caf\x81;1\n",
    )  # fmt: skip
    assert code == 0, err
    [entry] = json.loads((tmp_path / "r.json").read_text())["files"]
    assert entry["replacements"] == 1 and entry["parts"] == 2
    body = read_object(s3, shared_bucket, f"{prefix}/late.csv")
    last = "999;caf\ufffd;1\n".encode()
    assert body == "id;título;preço\n".encode() + b"a;b\n" * PLAIN + last


def test_a_small_pipe_is_one_put(s3_server: Any, s3: Any, shared_bucket: str, prefix: str) -> None:
    code, out, err = piped(
        3, "--name", "tiny.csv", "--bucket", shared_bucket, "--key-template", prefix + "/{filename}",
        "--no-manifest", endpoint_url=s3_server.endpoint_url,
    )  # fmt: skip
    assert code == 0, err
    assert read_object(s3, shared_bucket, f"{prefix}/tiny.csv") == produced(3).decode("cp1252").encode()
    assert "-> s3://" in out and "-" in out.split()[0]
