"""Issue 14 (everyday use): --include/--exclude, object options, --bwlimit, bars closed before the
--local listing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from async_ingest.output.lines import columns_of
from async_ingest.units import MiB
from tests.conftest import cli_env, list_keys, read_object, run_cli
from tests.terminal import make_file, run_in_terminal
from tests.unit.test_selection_and_object_options import make_tree

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset


def test_filters_end_to_end(s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path) -> None:
    make_tree(tmp_path)
    result = run_cli(
        tmp_path, "--bucket", shared_bucket, "--key-template", prefix + "/{reldir}/{filename}",
        "--include", "*.tsv", "--include", "exports/*.txt", "--exclude", "exports/old/*",
        env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert list_keys(s3, shared_bucket, prefix) == [
        f"{prefix}/c.tsv", f"{prefix}/exports/d.tsv", f"{prefix}/exports/f.txt",
    ]  # fmt: skip
    assert read_object(s3, shared_bucket, f"{prefix}/exports/d.tsv") == b"id|name\n1|exports/d.tsv\n"


def test_filters_from_the_environment(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    make_tree(tmp_path)
    env = cli_env(s3_server.endpoint_url, ASYNC_INGEST_INCLUDE="*.txt,*.TXT", ASYNC_INGEST_EXCLUDE="notes.*")
    result = run_cli(
        tmp_path, "--bucket", shared_bucket, "--key-template", prefix + "/{reldir}/{filename}", env=env
    )
    assert result.returncode == 0, result.output
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/exports/e.TXT", f"{prefix}/exports/f.txt"]


def test_object_options_end_to_end(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "small.csv").write_text("id|name\n1|x\n")
    big = make_file(tmp_path / "big.csv", 7)  # above the 5 MiB part: a multipart upload
    result = run_cli(
        tmp_path, "--bucket", shared_bucket, "--key-template", prefix + "/{filename}", "--part-size", "5MiB",
        "--tag", "team=data eng", "--tag", "source=a/b:c", "--metadata", "Owner=ops", "--metadata", "batch=7",
        "--storage-class", "standard_ia", "--content-type", "text/plain; charset=utf-8",
        env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    for name in ("small.csv", "big.csv"):
        key = f"{prefix}/{name}"
        tags = s3.get_object_tagging(Bucket=shared_bucket, Key=key)["TagSet"]
        assert {t["Key"]: t["Value"] for t in tags} == {"team": "data eng", "source": "a/b:c"}
        head = s3.head_object(Bucket=shared_bucket, Key=key)
        assert head["Metadata"]["owner"] == "ops" and head["Metadata"]["batch"] == "7"
        assert head["Metadata"]["source-name"] == name  # ours still there
        assert head["ContentType"] == "text/plain; charset=utf-8"
        assert head["StorageClass"] == "STANDARD_IA"
    assert read_object(s3, shared_bucket, f"{prefix}/big.csv") == big.decode("cp1252").encode()


def test_changed_object_options_upload_again(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n")
    args = [tmp_path, "--bucket", shared_bucket, "--key-template", prefix + "/{filename}"]
    env = cli_env(s3_server.endpoint_url)
    assert run_cli(*args, env=env).returncode == 0
    again = run_cli(*args, "--tag", "team=data", env=env)
    assert again.returncode == 0 and "1 uploaded" in again.stdout, again.output
    tags = s3.get_object_tagging(Bucket=shared_bucket, Key=f"{prefix}/a.csv")["TagSet"]
    assert tags == [{"Key": "team", "Value": "data"}]
    assert "1 skipped" in run_cli(*args, "--tag", "team=data", env=env).stdout


def test_bwlimit_upload_lands_intact(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    data = b"".join(b"%08d|row of plain ascii text\n" % i for i in range(6 * MiB // 32))
    (tmp_path / "big.csv").write_bytes(data)
    report = tmp_path / "report.json"
    result = run_cli(
        tmp_path / "big.csv", "--bucket", shared_bucket, "--key-template", prefix + "/{filename}",
        "--part-size", "5MiB", "--bwlimit", "4MiB", "--report", report, env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert read_object(s3, shared_bucket, f"{prefix}/big.csv") == data
    seconds = json.loads(report.read_text())["files"][0]["seconds"]
    assert seconds >= 1.0  # 6 MiB at 4 MiB/s, less one slice of burst: ~1.4 s (unthrottled: ~0.3 s)


def test_local_listing_starts_below_the_closed_bars(tmp_path: Path) -> None:
    """Seen with two 286 MiB files in a 160-column terminal: the total bar was drawn again below the
    'now holds' listing, whose first line started on the bar's line."""
    (tmp_path / "src").mkdir()
    make_file(tmp_path / "src" / "a.csv", 12)
    make_file(tmp_path / "src" / "b.csv", 12)
    code, screen = run_in_terminal(
        [str(tmp_path / "src"), "--local", "--local-dir", str(tmp_path / "s3"), "--part-size", "5MiB"],
        cli_env(),
        timeout=180,
        columns=160,
    )
    assert code == 0, screen
    listing = screen.index("s3://local-datalake now holds 3 object(s):")  # and the run manifest
    assert screen[:listing].endswith("\n")  # on a line of its own, not after the bar
    assert screen.rindex("total (2 files)") < listing  # no bar drawn below the listing
    assert screen.index("summary") > listing


def test_at_60_columns_the_local_listing_and_the_summary_do_not_wrap(tmp_path: Path) -> None:
    """The local server's line, the manifest's key, the keys of the --local listing
    (Raw/Local/CSV/.../2026/12/06/name.csv) and the bars wrapped at 60 columns: each is now fitted to
    the terminal."""
    (tmp_path / "src").mkdir()
    make_file(tmp_path / "src" / "a-file-with-a-rather-long-name-for-sixty-columns.csv", 1)
    code, screen = run_in_terminal(
        [str(tmp_path / "src"), "--local", "--local-dir", str(tmp_path / "s3")], cli_env(), columns=60
    )
    assert code == 0, screen
    shown = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line).rsplit("\r", 1)[-1] for line in screen.split("\r\n")]
    listing = shown.index("s3://local-datalake now holds 2 object(s):")
    rows = [line for line in shown[listing + 1 :] if line.startswith("  ")][:2]
    assert len(rows) == 2 and any("  ..." in r and r.endswith("-for-sixty-columns.csv") for r in rows), rows
    assert all(columns_of(line) <= 60 for line in shown), shown  # the server, manifest, bar lines too
    assert any(line.startswith("manifest ...") for line in shown), shown
