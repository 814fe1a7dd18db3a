"""Issue 11, end to end through the CLI against SeaweedFS: keys unique within a run, the report
written safely, paths checked before any upload, odd file names, unreadable folders."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, CliResult, cli_env, list_keys, read_object, run_cli
from tests.terminal import run_in_terminal

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

SETPRIV = shutil.which("setpriv")
# Tests run as root, which reads any folder: drop the capabilities that let it (the CLI process only).
NO_DAC = ["--bounding-set", "-dac_override,-dac_read_search", "--inh-caps=-all"]


def write(path: Path | bytes, text: str = "id|name\n1|x\n") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(text.encode())


def one_line_refusal(result: CliResult) -> str:
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- 1. keys must be unique within a run -------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--dry-run"], ["--report", "REPORT"]])
def test_two_folders_with_the_same_file_name_are_refused_before_any_upload(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, extra: list[str]
) -> None:
    write(tmp_path / "src" / "a" / "movies.csv", "id\n1\n")
    write(tmp_path / "src" / "b" / "movies.csv", "id\n2\n")
    write(tmp_path / "src" / "series.csv")
    report = tmp_path / "out" / "report.json"
    args = [str(report) if a == "REPORT" else a for a in extra]
    template = prefix + "/{dataset}/{filename}"
    result = run_cli(
        tmp_path / "src", "--bucket", shared_bucket, "--key-template", template, *args,
        env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    line = one_line_refusal(result)
    assert f"{tmp_path}/src/a/movies.csv, {tmp_path}/src/b/movies.csv -> {prefix}/Movies/movies.csv" in line
    assert f"--key-template, e.g. {prefix}/{{dataset}}/{{reldir}}/{{filename}}" in line
    assert result.stdout == ""
    assert list_keys(s3, shared_bucket, prefix) == []  # not even series.csv
    assert not report.exists()
    # With {reldir}, as suggested, both land under their own folder.
    fixed = run_cli(
        tmp_path / "src", "--bucket", shared_bucket, "--key-template", prefix + "/{reldir}/{filename}",
        env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    assert fixed.returncode == 0, fixed.output
    assert read_object(s3, shared_bucket, f"{prefix}/a/movies.csv") == b"id\n1\n"
    assert read_object(s3, shared_bucket, f"{prefix}/b/movies.csv") == b"id\n2\n"


def test_names_that_differ_only_in_replaced_characters_are_refused(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    for name in ["a\nb.csv", "a\rb.csv", "a\tb.csv", "a_b.csv", "other.csv"]:
        write(tmp_path / name)
    result = run_cli(
        tmp_path, "--bucket", shared_bucket, "--key-template", prefix + "/{reldir}/{filename}",
        env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    line = one_line_refusal(result)  # the newline in a name is shown escaped: still one line
    for shown in ["a\\nb.csv", "a\\rb.csv", "a\\tb.csv"]:
        assert f"{tmp_path}/{shown}" in line
    assert f"-> {prefix}/a_b.csv" in line and "and 1 more sources" in line and "rename" in line
    assert list_keys(s3, shared_bucket, prefix) == []


def test_every_shard_refuses_a_collision_even_when_it_owns_one_side_only(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    write(tmp_path / "a" / "movies.csv")
    write(tmp_path / "b" / "movies.csv")
    for index in range(2):
        result = run_cli(
            tmp_path, "--bucket", shared_bucket, "--key-template", prefix + "/{filename}",
            "--shard", f"{index}/2", env=cli_env(s3_server.endpoint_url),
        )  # fmt: skip
        assert "movies.csv" in one_line_refusal(result)
    assert list_keys(s3, shared_bucket, prefix) == []


# --- 2, 3. --report and --local-dir are checked before any upload, and written safely -----------


def report_run(endpoint: str, bucket: str, prefix: str, report: Path | str, *extra: str) -> CliResult:
    return run_cli(
        "data/series.csv", "--bucket", bucket, "--key-template", prefix + "/{filename}",
        "--report", report, *extra, env=cli_env(endpoint),
    )  # fmt: skip


def test_a_planted_tmp_symlink_is_never_written_through(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json.tmp").symlink_to(victim)
    result = report_run(s3_server.endpoint_url, shared_bucket, prefix, out / "report.json")
    assert result.returncode == 0, result.output
    assert victim.read_text() == "precious\n"
    assert (out / "report.json.tmp").is_symlink() and os.readlink(out / "report.json.tmp") == str(victim)
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.json.tmp"]  # no leftover
    assert json.loads((out / "report.json").read_text())["files"][0]["status"] == "uploaded"
    assert stat.S_IMODE((out / "report.json").stat().st_mode) == 0o644  # umask 022, as before


def test_a_report_path_that_is_a_symlink_is_refused_and_its_target_untouched(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "report.json"
    link.symlink_to(victim)
    line = one_line_refusal(report_run(s3_server.endpoint_url, shared_bucket, prefix, link))
    assert f"--report {link}: is a symbolic link" in line
    assert link.is_symlink() and victim.read_text() == "precious\n"
    assert list_keys(s3, shared_bucket, prefix) == []


def make_special(kind: str, path: Path) -> None:
    if kind == "device":  # the numbers of /dev/full, in a folder of the test's own
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()


@pytest.mark.parametrize(
    ("kind", "message"),
    [("device", "is not a regular file"), ("fifo", "is not a regular file"), ("folder", "is a folder")],
)
def test_a_report_path_that_is_a_device_fifo_or_folder_is_refused(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, kind: str, message: str
) -> None:
    target = tmp_path / "report.json"
    make_special(kind, target)
    before = target.lstat()
    line = one_line_refusal(report_run(s3_server.endpoint_url, shared_bucket, prefix, target))
    assert line == f"async-ingest: error: --report {target}: {message}" + (
        "; name a file in it" if kind == "folder" else " (device, FIFO or socket)"
    )
    after = target.lstat()
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    assert list_keys(s3, shared_bucket, prefix) == []


def test_dev_full_is_refused_and_stays_a_device(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str
) -> None:
    before = os.lstat("/dev/full")
    line = one_line_refusal(report_run(s3_server.endpoint_url, shared_bucket, prefix, "/dev/full"))
    assert "--report /dev/full: is not a regular file" in line
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode) and os.lstat("/dev/full").st_ino == before.st_ino
    assert list_keys(s3, shared_bucket, prefix) == []


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("under-a-file/report.json", "Not a directory"),
        ("/proc/async-ingest/report.json", "cannot create /proc/async-ingest"),
        ("/proc/report.json", "cannot write in /proc"),
    ],
)
def test_a_report_that_cannot_be_written_is_refused_before_any_upload(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, where: str, message: str
) -> None:
    (tmp_path / "under-a-file").write_text("x")
    report = tmp_path / where  # an absolute `where` replaces tmp_path
    line = one_line_refusal(report_run(s3_server.endpoint_url, shared_bucket, prefix, report))
    assert line.startswith(f"async-ingest: error: --report {report}: {message}")
    assert list_keys(s3, shared_bucket, prefix) == []


def test_a_missing_report_folder_is_created(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    report = tmp_path / "reports" / "2026" / "run.json"
    result = report_run(s3_server.endpoint_url, shared_bucket, prefix, report)
    assert result.returncode == 0, result.output
    assert json.loads(report.read_text())["summary"]["uploaded"] == 1
    assert os.listdir(report.parent) == ["run.json"]


def test_a_local_dir_that_cannot_be_written_is_refused_before_the_server_starts(tmp_path: Path) -> None:
    result = run_cli("data/", "--local", "--local-dir", "/proc/async-ingest-s3", env=cli_env())
    line = one_line_refusal(result)
    assert line.startswith("async-ingest: error: --local-dir /proc/async-ingest-s3: cannot write there: ")
    assert "local S3 server" not in result.stdout


# --- 4, 8. file names that are not UTF-8 or hold control characters -----------------------------


def test_a_name_that_is_not_utf8_lands_under_a_windows_1252_reading(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    folder = os.fsencode(tmp_path / "src")
    write(folder + b"/caf\xe9.csv", "id|nome\n1|Café\n")
    write(folder + b"/ok.csv")
    report = tmp_path / "report.json"
    args = ["--bucket", shared_bucket, "--key-template", prefix + "/{dataset}/{filename}", "--report", report]
    env = cli_env(s3_server.endpoint_url)
    planned = run_cli(tmp_path / "src", *args, "--dry-run", env=env)
    assert planned.returncode == 0, planned.output
    assert f"{tmp_path}/src/caf\\xe9.csv" in planned.stdout
    assert f"s3://{shared_bucket}/{prefix}/Café/café.csv" in planned.stdout
    assert json.loads(report.read_text())["summary"]["planned"] == 2

    result = run_cli(tmp_path / "src", *args, env=env)
    assert result.returncode == 0, result.output
    assert read_object(s3, shared_bucket, f"{prefix}/Café/café.csv") == "id|nome\n1|Café\n".encode()
    head = s3.head_object(Bucket=shared_bucket, Key=f"{prefix}/Café/café.csv")
    assert head["Metadata"]["source-name"] == "caf%E9.csv"  # the name's own bytes
    assert f"{tmp_path}/src/caf\\xe9.csv -> s3://{shared_bucket}/{prefix}/Café/café.csv" in result.stdout
    entries = {e["key"]: e for e in json.loads(report.read_text(encoding="utf-8"))["files"]}
    assert entries[f"{prefix}/Café/café.csv"]["source"] == f"{tmp_path}/src/caf\\xe9.csv"
    assert entries[f"{prefix}/Café/café.csv"]["status"] == "uploaded"

    logged = run_cli(tmp_path / "src", *args, "--log-format", "json", "--force", env=env)
    assert logged.returncode == 0, logged.output
    events = [json.loads(line) for line in logged.stdout.splitlines()]
    assert f"{tmp_path}/src/caf\\xe9.csv" in {e.get("source") for e in events}


def test_a_name_not_utf8_and_its_windows_1252_reading_collide(
    s3_server: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    write(os.fsencode(tmp_path) + b"/caf\xe9.csv")
    write(tmp_path / "café.csv")
    result = run_cli(
        tmp_path, "--bucket", shared_bucket, "--key-template", prefix + "/{reldir}/{filename}",
        env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    assert f"-> {prefix}/café.csv" in one_line_refusal(result)


FORGING = ["x\x1b[31mred.csv", "line\nFAKE uploaded.csv", "u\u2028v.csv", "n\x85el.csv"]


def assert_no_raw_controls(text: str) -> None:
    for raw in ["\x1b[31m", "\u2028", "\x85"]:
        assert raw not in text
    assert not any(line.startswith("FAKE") for line in text.splitlines())


def test_control_characters_in_names_are_escaped_in_every_text_output(
    s3_server: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    for name in FORGING:
        write(tmp_path / name)
    (tmp_path / "bad\nFAKE failed.csv").write_bytes(bytes(range(256)) * 64)  # fails: an error line
    base = ["--bucket", shared_bucket, "--key-template", prefix + "/{filename}"]
    env = cli_env(s3_server.endpoint_url)
    for extra in [["--dry-run"], []]:
        result = run_cli(tmp_path, *base, *extra, env=env)
        assert result.returncode == 1, result.output
        assert_no_raw_controls(result.stdout + result.stderr)
        for shown in ["x\\x1b[31mred.csv", "line\\nFAKE uploaded.csv", "u\\u2028v.csv", "n\\x85el.csv"]:
            assert f"{tmp_path}/{shown}" in result.stdout
        failure = [line for line in result.output.splitlines() if "bad\\nFAKE failed.csv" in line]
        assert failure, result.output
    logged = run_cli(tmp_path, *base, "--force", "--log-format", "json", env=env)
    assert_no_raw_controls(logged.stdout)
    events = [json.loads(line) for line in logged.stdout.splitlines()]
    assert {f"{tmp_path}/{name}" for name in FORGING} <= {e.get("source") for e in events}


def test_control_characters_are_escaped_at_a_terminal(
    s3_server: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    for name in FORGING:
        write(tmp_path / name)
    code, screen = run_in_terminal(
        [str(tmp_path), "--bucket", shared_bucket, "--key-template", prefix + "/{filename}"],
        cli_env(s3_server.endpoint_url),
    )
    assert code == 0, screen
    assert_no_raw_controls(screen)
    assert "x\\x1b[31mred.csv" in screen and "line\\nFAKE uploaded.csv" in screen


# --- 9. unreadable folders ---------------------------------------------------------------------


def run_without_dac(*args: str | Path, env: dict[str, str]) -> CliResult:
    """The CLI as root without the capabilities that let root read any folder."""
    assert SETPRIV is not None
    command = [SETPRIV, *NO_DAC, sys.executable, "-m", "async_ingest", *map(str, args)]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.skipif(SETPRIV is None or os.geteuid() != 0, reason="needs root and setpriv")
def test_an_unreadable_folder_is_a_failed_source_and_the_rest_lands(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    write(tmp_path / "src" / "ok.csv")
    write(tmp_path / "src" / "locked" / "hidden.csv")
    locked = tmp_path / "src" / "locked"
    locked.chmod(0)
    report = tmp_path / "report.json"
    env = cli_env(s3_server.endpoint_url)
    try:
        args = ["--bucket", shared_bucket, "--key-template", prefix + "/{reldir}/{filename}"]
        result = run_without_dac(tmp_path / "src", *args, "--report", report, env=env)
        named = run_without_dac(locked, *args, env=env)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 1, result.output
    assert f"FAILED {locked}: cannot read: Permission denied" in result.stderr.splitlines()
    assert "Traceback" not in result.output
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/ok.csv"]
    entries = json.loads(report.read_text())["files"]
    assert {(e["source"], e["status"]) for e in entries} == {
        (str(locked), "failed"),
        (str(tmp_path / "src" / "ok.csv"), "uploaded"),
    }
    # Named directly: the same failure, not "no CSV files found".
    assert named.returncode == 1, named.output
    assert f"FAILED {locked}: cannot read: Permission denied" in named.stderr.splitlines()
    assert "no CSV files found" not in named.output
