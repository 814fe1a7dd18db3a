"""The command as a user runs it (a separate process) against the session's SeaweedFS."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, cli_env, list_keys, open_uploads, read_object, run_cli

DATE = "2026-11-25"
MOVIES_UTF8 = (REPO / "data" / "movies.csv").read_bytes().decode("cp1252").encode("utf-8")
SERIES_UTF8 = (REPO / "data" / "series.csv").read_bytes()


def template(prefix: str) -> str:
    return prefix + "/Raw/Local/CSV/{dataset}/{yyyy}/{mm}/{dd}/{filename}"


def test_sample_data_lands_as_utf8_under_the_default_layout(s3_server: Any, s3: Any) -> None:
    bucket = "sample-default-layout"  # a bucket of its own: the exact default keys are asserted
    result = run_cli("data/", "--bucket", bucket, "--date", DATE, env=cli_env(s3_server.endpoint_url))
    assert result.returncode == 0, result.output
    keys = list_keys(s3, bucket)
    assert [k for k in keys if "/_manifests/" not in k] == [
        "Raw/Local/CSV/Movies/2026/11/25/movies.csv",
        "Raw/Local/CSV/Series/2026/11/25/series.csv",
    ]
    assert len([k for k in keys if k.startswith("Raw/Local/CSV/_manifests/2026/11/25/")]) == 1
    assert read_object(s3, bucket, "Raw/Local/CSV/Movies/2026/11/25/movies.csv") == MOVIES_UTF8
    assert read_object(s3, bucket, "Raw/Local/CSV/Series/2026/11/25/series.csv") == SERIES_UTF8
    head = s3.head_object(Bucket=bucket, Key="Raw/Local/CSV/Movies/2026/11/25/movies.csv")
    assert head["ContentType"] == "text/csv; charset=utf-8"
    assert head["Metadata"]["source-encoding"] == "cp1252"
    assert head["Metadata"]["source-size"] == str((REPO / "data" / "movies.csv").stat().st_size)
    assert (
        "cp1252" in result.stdout
        and "s3://sample-default-layout/Raw/Local/CSV/Movies/2026/11/25/movies.csv" in result.stdout
    )
    assert "files       2 (2 uploaded, 0 skipped, 0 failed)" in result.stdout
    assert open_uploads(s3, bucket) == []


@pytest.mark.slow
def test_a_rerun_skips_unchanged_files_and_force_uploads_again(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str
) -> None:
    args = ("data/", "--bucket", shared_bucket, "--key-template", template(prefix), "--date", DATE)
    env = cli_env(s3_server.endpoint_url)
    assert run_cli(*args, env=env).returncode == 0
    again = run_cli(*args, env=env)
    assert again.returncode == 0, again.output
    assert again.stdout.count("skipped (already uploaded") == 2
    forced = run_cli(*args, "--force", env=env)
    assert forced.returncode == 0
    assert "(2 uploaded, 0 skipped" in forced.stdout


@pytest.mark.slow
def test_multipart_path_for_a_file_larger_than_a_part(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    row = "tt{:07d}|movie|Ação e Reação nº {:d}|Coração – “edição” especial €|2001|Drama\r\n"
    text = "".join(row.format(i, i) for i in range(140_000))  # ~12 MiB in cp1252, more in UTF-8
    (tmp_path / "big.csv").write_bytes(text.encode("cp1252"))
    result = run_cli(
        tmp_path,
        "--bucket",
        shared_bucket,
        "--key-template",
        prefix + "/{filename}",
        "--part-size",
        "5MiB",
        "--report",
        tmp_path / "report.json",
        env=cli_env(s3_server.endpoint_url),
    )
    assert result.returncode == 0, result.output
    body = read_object(s3, shared_bucket, f"{prefix}/big.csv")
    assert body == text.encode("utf-8")
    head = s3.head_object(Bucket=shared_bucket, Key=f"{prefix}/big.csv")
    parts = -(-len(body) // (5 * 1024 * 1024))
    assert head["ETag"].strip('"').endswith(f"-{parts}")
    report = json.loads((tmp_path / "report.json").read_text())
    entry = report["files"][0]
    assert entry["status"] == "uploaded" and entry["parts"] == parts and entry["source_encoding"] == "cp1252"
    from awscrt.checksums import crc64nvme

    stored = base64.b64encode(crc64nvme(body).to_bytes(8, "big")).decode()
    assert (entry["checksum_algorithm"], entry["checksum"], entry["sha256"]) == ("CRC64NVME", stored, None)
    assert entry["bytes_written"] == len(body) and entry["bytes_read"] == len(text.encode("cp1252"))
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_a_bad_file_fails_alone_and_leaves_nothing(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "good.csv").write_text("id|nome\n1|José\n", encoding="utf-8")
    garbage = bytes((i * 7919 + 13) % 256 for i in range(20_000))
    (tmp_path / "garbage.csv").write_bytes(garbage)
    result = run_cli(
        tmp_path,
        "--bucket",
        shared_bucket,
        "--key-template",
        prefix + "/{filename}",
        env=cli_env(s3_server.endpoint_url),
    )
    assert result.returncode == 1, result.output
    assert "Traceback" not in result.output
    failure_lines = [line for line in result.stderr.splitlines() if "garbage.csv" in line]
    assert len(failure_lines) == 1 and failure_lines[0].startswith("FAILED")
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/good.csv"]
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_non_ascii_file_names_upload(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "filmes ação.csv").write_bytes("título|ano\nAção|2020\n".encode("latin-1"))
    result = run_cli(
        tmp_path,
        "--bucket",
        shared_bucket,
        "--key-template",
        prefix + "/{dataset}/{filename}",
        env=cli_env(s3_server.endpoint_url),
    )
    assert result.returncode == 0, result.output
    key = f"{prefix}/Filmes ação/filmes ação.csv"
    assert read_object(s3, shared_bucket, key) == "título|ano\nAção|2020\n".encode()
    assert (
        s3.head_object(Bucket=shared_bucket, Key=key)["Metadata"]["source-name"]
        == "filmes%20a%C3%A7%C3%A3o.csv"
    )


def test_configuration_from_environment_and_command_line_wins(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str
) -> None:
    env = cli_env(
        s3_server.endpoint_url,
        ASYNC_INGEST_BUCKET=shared_bucket,
        ASYNC_INGEST_KEY_TEMPLATE=prefix + "/env/{filename}",
        ASYNC_INGEST_DRY_RUN="false",
    )
    assert run_cli("data/series.csv", env=env).returncode == 0
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/env/series.csv"]
    assert run_cli("data/series.csv", "--key-template", prefix + "/cli/{filename}", env=env).returncode == 0
    assert f"{prefix}/cli/series.csv" in list_keys(s3, shared_bucket, prefix)


def test_dry_run_shows_the_plan_and_writes_nothing(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str
) -> None:
    result = run_cli(
        "data/",
        "--bucket",
        shared_bucket,
        "--key-template",
        prefix + "/{filename}",
        "--dry-run",
        env=cli_env(s3_server.endpoint_url),
    )
    assert result.returncode == 0, result.output
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("source "))
    assert lines[header].split() == ["source", "size", "encoding", "how", "confidence", "target"]
    rows = {line.split()[0]: line.split() for line in lines[header + 2 : header + 4]}
    assert rows["data/movies.csv"][3:5] == ["cp1252", "detected"]
    assert rows["data/movies.csv"][-1] == f"s3://{shared_bucket}/{prefix}/movies.csv"
    assert rows["data/series.csv"][3] == "utf-8" and rows["data/series.csv"][4] == "detected"
    assert "2 file(s) planned (dry run, nothing written)" in result.stdout
    assert list_keys(s3, shared_bucket, prefix) == []


@pytest.mark.slow
def test_missing_bucket_is_created_and_no_create_bucket_refuses(s3_server: Any, s3: Any) -> None:
    env = cli_env(s3_server.endpoint_url)
    refused = run_cli("data/series.csv", "--bucket", "not-created-here", "--no-create-bucket", env=env)
    assert refused.returncode == 2
    assert "not-created-here does not exist" in refused.stderr
    created = run_cli("data/series.csv", "--bucket", "created-by-the-tool", env=env)
    assert created.returncode == 0, created.output
    assert s3.head_bucket(Bucket="created-by-the-tool")["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("data/",), "--bucket"),
        (("nope/", "--bucket", "b-ok"), "nope: no such file or directory"),
        (("data/", "--bucket", "Bad_Bucket"), "invalid bucket name 'Bad_Bucket'"),
        (("data/", "--bucket", "b-ok", "--encoding", "klingon"), "klingon"),
        (("data/", "--bucket", "b-ok", "--part-size", "1MiB"), "--part-size"),
        (("data/", "--bucket", "b-ok", "--key-template", "x/{nope}"), "unknown field"),
        (("data/", "--bucket", "b-ok", "--frobnicate"), "unrecognized arguments"),
        (("tests/", "--bucket", "b-ok"), "no CSV files found"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    result = run_cli(*args, env=cli_env("http://127.0.0.1:9"))
    assert result.returncode == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    if message == "--bucket":
        assert "--local" in result.stderr


def test_no_credentials_is_a_usage_error(s3_server: Any) -> None:
    env = cli_env(s3_server.endpoint_url)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    result = run_cli("data/", "--bucket", "b-ok", env=env)
    assert result.returncode == 2
    assert "no AWS credentials found" in result.stderr
    assert "Traceback" not in result.output


def test_credentials_file_is_used_and_never_printed(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    secret = "file-secret-Zq9vK2mNOTINLOGS"
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"aws_access_key_id": "AKIDFILE", "aws_secret_access_key": secret}))
    creds.chmod(0o644)
    env = cli_env(s3_server.endpoint_url)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    result = run_cli(
        "data/series.csv",
        "--bucket",
        shared_bucket,
        "--key-template",
        prefix + "/{filename}",
        "--credentials-file",
        creds,
        "--report",
        tmp_path / "r.json",
        env=env,
    )
    assert result.returncode == 0, result.output
    assert "readable by group or others" in result.stderr
    assert secret not in result.output and secret not in (tmp_path / "r.json").read_text()
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/series.csv"]


@pytest.mark.slow
def test_local_mode_runs_an_embedded_server_and_keeps_its_data(tmp_path: Path) -> None:
    local_dir = tmp_path / "local-s3"
    env = cli_env()
    first = run_cli("data/", "--local", "--local-dir", local_dir, "--date", DATE, env=env, timeout=180)
    assert first.returncode == 0, first.output
    assert "s3://local-datalake now holds 3 object(s)" in first.stdout  # and the run manifest
    assert "s3://local-datalake/Raw/Local/CSV/Movies/2026/11/25/movies.csv" in first.stdout
    second = run_cli(
        "data/series.csv", "--local", "--local-dir", local_dir, "--date", "2026-11-26", env=env, timeout=180
    )
    assert second.returncode == 0, second.output
    assert "s3://local-datalake now holds 5 object(s)" in second.stdout
