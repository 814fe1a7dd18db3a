"""Many files: a bounded set of workers (memory does not grow with the file count or --concurrency),
results in source order, cancellation reaching every file in flight; and a re-run that decides
from one listing. The 20,000 / 100,000 file measurements are in bench/many_files.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli_env, list_keys, read_object, run_cli

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset


def test_many_tiny_files_with_a_huge_concurrency_land_and_a_rerun_skips_them_all(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    for index in range(300):
        folder = tmp_path / f"d{index % 3}"
        folder.mkdir(exist_ok=True)
        (folder / f"f{index:03d}.csv").write_text(f"id|name\n{index}|Zoë\n", encoding="utf-8")
    args = [tmp_path, "--bucket", shared_bucket, "--key-template", prefix + "/{reldir}/{filename}"]
    args += ["--concurrency", "100000", "--quiet"]
    env = cli_env(s3_server.endpoint_url)
    first = run_cli(*args, env=env)
    assert first.returncode == 0, first.output
    assert "300 (300 uploaded, 0 skipped, 0 failed)" in first.stdout
    assert len(list_keys(s3, shared_bucket, prefix + "/")) == 300
    again = run_cli(*args, env=env)
    assert again.returncode == 0, again.output
    assert "300 (0 uploaded, 300 skipped, 0 failed)" in again.stdout


def test_a_rerun_regenerates_small_transcoded_files_to_skip_them_and_catches_a_changed_one(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    # Small files are re-made in memory and their MD5 compared with the listed ETag: Windows-1252
    # (transcoded) and UTF-8 with a BOM (stripped) must give the very bytes that were uploaded.
    for index in range(20):
        (tmp_path / f"w{index:02d}.csv").write_bytes(f"id;nome\n{index};Ação €\n".encode("cp1252"))
        (tmp_path / f"b{index:02d}.csv").write_bytes(f"id,name\n{index},Zoë\n".encode("utf-8-sig"))
    args = [tmp_path, "--bucket", shared_bucket, "--key-template", prefix + "/{filename}", "--quiet"]
    env = cli_env(s3_server.endpoint_url)
    first = run_cli(*args, env=env)
    assert first.returncode == 0 and "40 (40 uploaded, 0 skipped, 0 failed)" in first.stdout, first.output
    again = run_cli(*args, env=env)
    assert again.returncode == 0 and "40 (0 uploaded, 40 skipped, 0 failed)" in again.stdout, again.output
    changed = tmp_path / "w07.csv"
    changed.write_bytes("id;nome\n7;Açõo €\n".encode("cp1252"))  # same size, other bytes
    third = run_cli(*args, env=env)
    assert "40 (1 uploaded, 39 skipped, 0 failed)" in third.stdout, third.output
    assert read_object(s3, shared_bucket, f"{prefix}/w07.csv") == "id;nome\n7;Açõo €\n".encode()
    assert read_object(s3, shared_bucket, f"{prefix}/b03.csv") == b"id,name\n3,Zo\xc3\xab\n"
