"""Hostile folders and options: a link loop under --follow-symlinks ends, a long listing answers Ctrl-C
and SIGTERM at once, and values that used to fail late (or be taken wrongly) are refused up front with
one line and exit 2, before any request (UNREACHABLE: nothing listens there)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from async_ingest.api import ConfigError, ingest
from async_ingest.cli.main import UsageError, parse_settings
from async_ingest.s3.object_options import parse_metadata
from async_ingest.sources.walk import ListingStopped, find_sources
from async_ingest.transform.csvcheck import CsvChecker
from tests.conftest import REPO, CliResult, cli_env, run_cli

pytestmark = pytest.mark.slow  # runs of the command: not in the quick subset

UNREACHABLE = "http://127.0.0.1:9"
BASE = ("data/series.csv", "--bucket", "b-ok")


def assert_one_line_usage_error(result: CliResult, message: str) -> None:
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr, result.stderr


def refused(*args: str | Path) -> CliResult:
    return run_cli(*BASE, *args, env=cli_env(UNREACHABLE), timeout=60)


# 5. --follow-symlinks with links to a parent; a long listing and signals


def test_two_links_to_a_parent_are_walked_once(tmp_path: Path) -> None:
    """ln -s .. L/sub/l1; ln -s .. L/sub/l2: every folder is reached again and again through the links
    (2^depth paths); folders are known by (device, inode), so the walk ends, each file listed once."""
    root = tmp_path / "L"
    (root / "sub").mkdir(parents=True)
    (root / "a.csv").write_text("a,b\n1,2\n")
    (root / "sub" / "b.csv").write_text("c,d\n3,4\n")
    (root / "sub" / "l1").symlink_to("..")
    (root / "sub" / "l2").symlink_to("..")
    started = time.monotonic()
    result = run_cli(root, "--dry-run", "--follow-symlinks", timeout=30)  # before: never ended
    assert result.returncode == 0, result.output
    assert time.monotonic() - started < 20
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith(str(root))]
    assert listed == [str(root / "a.csv"), str(root / "sub" / "b.csv")]
    assert "2 file(s) planned" in result.stdout


def test_a_stopped_walk_ends_at_its_next_entry(tmp_path: Path) -> None:
    """The run cancelled: the walk (on its own thread) is told to stop and does, not listing on."""
    (tmp_path / "a.csv").write_text("a\n1\n")
    stop = threading.Event()
    assert [s.relpath for s in find_sources([tmp_path], stop=stop)] == ["a.csv"]
    stop.set()
    with pytest.raises(ListingStopped):
        find_sources([tmp_path], stop=stop)


@pytest.fixture(scope="module")
def slow_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose listing takes ~20 s: 400 names of one zip archive holding 20,000 members that are
    not CSV. Each name is opened and its central directory read (~50 ms); nothing is ingested."""
    folder = tmp_path_factory.mktemp("slow")
    first = folder / "m0000.zip"
    with zipfile.ZipFile(first, "w") as archive:
        for index in range(20_000):
            archive.writestr(f"d/x{index}.txt", b"")
    for index in range(1, 400):
        os.link(first, folder / f"m{index:04}.zip")
    return folder


def wait_until_listing(process: subprocess.Popen[str], folder: Path, timeout: float = 30) -> None:
    """Until the process has a file of folder open: the walk is under way."""
    deadline = time.monotonic() + timeout
    fds = Path(f"/proc/{process.pid}/fd")
    while time.monotonic() < deadline:
        assert process.poll() is None, "the command ended before listing"
        for fd in list(fds.iterdir()) if fds.exists() else []:
            try:
                if os.readlink(fd).startswith(str(folder)):
                    return
            except OSError:  # closed meanwhile
                continue
        time.sleep(0.01)
    pytest.fail("the listing never started")


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to see the listing")
@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_during_a_long_listing_exits_at_once(
    signum: signal.Signals, code: int, slow_folder: Path
) -> None:
    """The walk ran on the event loop's thread, so the signal handlers waited for its end (before:
    ~20 s here, forever with a link loop)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "async_ingest", str(slow_folder), "--dry-run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(UNREACHABLE),
        cwd=REPO,
    )
    try:
        wait_until_listing(process, slow_folder)
        sent = time.monotonic()
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        process.kill()
        process.wait()
    assert process.returncode == code, stderr
    assert took < 2.0, took
    assert "Traceback" not in stderr, stderr


# 9. --parts-in-flight N raised the budget past the memory checks


def test_pinned_parts_beyond_the_ceiling_are_refused() -> None:
    result = refused("--part-size", "128MiB", "--max-memory", "128MiB", "--parts-in-flight", "1000")
    assert_one_line_usage_error(result, "--parts-in-flight 1000 x --part-size 128MiB = 125.0 GiB")
    assert "machine's memory" in result.stderr or "ceiling" in result.stderr


def test_pinned_parts_beyond_the_machine_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("async_ingest.validate.physical_memory", lambda: 1024**3)  # a 1 GiB machine
    args = ["data/", "--bucket", "b-ok", "--part-size", "8MiB", "--max-memory", "64MiB"]
    with pytest.raises(UsageError, match=r"--parts-in-flight 200 x --part-size 8MiB .* machine's memory"):
        parse_settings([*args, "--parts-in-flight", "200"], {})
    assert parse_settings([*args, "--parts-in-flight", "100"], {}).ingest.max_memory == 800 * 1024**2


# 10, 11, 13, 16: refused up front, one line, before any request


def test_an_over_long_manifest_key_is_refused_before_any_upload() -> None:
    result = refused("--manifest-key", "m/" + "x" * 1000 + "/{run_id}.json")
    assert_one_line_usage_error(result, "S3 allows 1024")


@pytest.mark.parametrize("key_id", ["alias/k\r\nX-Injected: 1", "alias/kl\u00e9", "alias/a b"])
def test_a_kms_key_id_with_line_breaks_or_non_ascii_is_refused(key_id: str) -> None:
    result = refused("--sse", "aws:kms", "--sse-kms-key-id", key_id)
    assert_one_line_usage_error(result, "--sse-kms-key-id")
    assert "X-Injected: 1\n" not in result.stderr  # the CR LF is shown escaped, on the one line


def test_a_kms_key_arn_is_taken() -> None:
    arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    args = ["data/", "--bucket", "b-ok", "--sse", "aws:kms", "--sse-kms-key-id", arn]
    assert parse_settings(args, {}).ingest.sse_kms_key_id == arn


def test_closed_standard_input_is_named_as_such() -> None:
    """<&-: descriptor 0 is closed, and the next file the process opens (the event loop's epoll) takes
    number 0: reading it said "[Errno 22] Invalid argument"."""
    command = [sys.executable, "-m", "async_ingest", "-", "--name", "c.csv", "--bucket", "b-ok"]
    proc = subprocess.run(
        ["sh", "-c", 'exec "$@" <&-', "sh", *command],
        capture_output=True,
        text=True,
        env=cli_env(UNREACHABLE),
        cwd=REPO,
        timeout=60,
    )
    assert_one_line_usage_error(CliResult(proc.returncode, proc.stdout, proc.stderr), "standard input")
    assert "it is closed" in proc.stderr
    assert "Errno" not in proc.stderr


def test_standard_input_cannot_be_resumed() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "async_ingest", "-", "--name", "c.csv", "--bucket", "b-ok", "--resume"],
        input="a,b\n1,2\n",
        capture_output=True,
        text=True,
        env=cli_env(UNREACHABLE),
        cwd=REPO,
        timeout=60,
    )
    assert_one_line_usage_error(CliResult(proc.returncode, proc.stdout, proc.stderr), "--resume")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--parts-in-flight", "\u0663"),  # ARABIC-INDIC DIGIT THREE: str.isdigit() and int() take it
        ("--concurrency", "\u0663"),
        ("--max-attempts", "\u0662"),
        ("--read-timeout", "\u0661"),
    ],
)
def test_numbers_in_other_scripts_are_refused(option: str, value: str) -> None:
    assert_one_line_usage_error(refused(option, value), option)


def test_numbers_from_the_environment_are_ascii_too() -> None:
    with pytest.raises(UsageError, match="ASYNC_INGEST_CONCURRENCY"):
        parse_settings(["data/", "--bucket", "b-ok"], {"ASYNC_INGEST_CONCURRENCY": "\u0663"})
    assert (
        parse_settings(["data/", "--bucket", "b-ok"], {"ASYNC_INGEST_CONCURRENCY": "3"}).ingest.concurrency
        == 3
    )


# 16. The Python API: values checked at the call, as the command would


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 1.7}, "concurrency=1.7: expected a whole number"),
        ({"concurrency": "\u0663"}, "concurrency"),
        ({"progress": "no"}, "progress='no': expected True or False"),
        ({"printer": 5}, "printer=5: expected a printer"),
        ({"printer": print}, "expected a printer"),  # callable, but no summary() / close()
    ],
)
def test_api_values_are_checked_at_the_call(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ingest(["data/"], dry_run=True, **options)


@pytest.mark.parametrize("day", [dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 23, 30)])
def test_api_date_takes_a_date_or_a_datetime(day: dt.date) -> None:
    result = ingest(["data/series.csv"], dry_run=True, date=day, key_template="{yyyy}-{mm}-{dd}/{filename}")
    assert result.ok
    assert [r.key for r in result.results] == ["2024-02-29/series.csv"]


def test_api_whole_numbers_still_taken() -> None:
    assert ingest(["data/series.csv"], dry_run=True, concurrency=2, read_timeout=1.5).ok


# 16. --metadata x-amz-meta-foo=1


def test_metadata_keys_lose_s3s_own_prefix() -> None:
    notes: list[str] = []
    assert parse_metadata(["x-amz-meta-foo=1", "X-Amz-Meta-Bar=2", "baz=3"], notes.append) == (
        ("foo", "1"),
        ("bar", "2"),
        ("baz", "3"),
    )
    assert notes == [
        "{opt:metadata} x-amz-meta-foo: stored as foo (S3 adds the x-amz-meta- prefix itself)",
        "{opt:metadata} X-Amz-Meta-Bar: stored as bar (S3 adds the x-amz-meta- prefix itself)",
    ]


def test_a_header_longer_than_the_sniff_window_is_recognised() -> None:
    names = [f"column_{index:05}" for index in range(6000)]  # ~77 KiB
    header = ",".join(names).encode() + b"\n"
    assert len(header) > 64 * 1024
    row = ",".join(str(index) for index in range(6000)).encode() + b"\n"
    checker = CsvChecker()
    data = header + row * 3
    for start in range(0, len(data), 16 * 1024):  # as parts would give it: in pieces
        checker.feed(data[start : start + 16 * 1024])
    stats = checker.finish()
    assert stats.header
    assert stats.names == tuple(names)
    assert (stats.columns, stats.rows, stats.ragged_rows) == (6000, 3, 0)


def test_a_first_line_longer_than_the_sniff_window_in_one_chunk() -> None:
    header = ",".join(f"name_{index}" for index in range(9000)).encode() + b"\n"
    checker = CsvChecker()
    checker.feed(memoryview(header + b",".join(b"1" for _ in range(9000)) + b"\n"))
    stats = checker.finish()
    assert stats.header and len(stats.names) == 9000 and stats.rows == 1
