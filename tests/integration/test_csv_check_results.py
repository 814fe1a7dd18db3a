"""The CSV check end to end: what the output line, the JSON report and the object's metadata say,
and that strict mode and schema expectations leave nothing in the bucket."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from async_ingest.transform.csvcheck import header_hash
from async_ingest.units import MiB
from tests.conftest import REPO, cli_env, list_keys, open_uploads, read_object, upload_with_report

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

RAGGED = "id;nome;preço\r\n1;Ana;12,50\r\n2;Bia\r\n3;Caio;7,00\r\n4;Davi;1,00;extra\r\n".encode("cp1252")


def big_csv(path: Path, rows: int = 250_000, ragged_at: int | None = None) -> None:
    """A '|' file of ~8 MiB (two 5 MiB parts), optionally with one short row far from the start."""
    lines = ["id|title|genre|year"]
    for i in range(rows):
        lines.append(f"{i}|Coração {i}|Drama" if i == ragged_at else f"{i}|Coração {i}|Drama|2001")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def upload(tmp_path: Path, s3_server: Any, bucket: str, prefix: str, *options: str) -> Any:
    return upload_with_report(tmp_path / "in", s3_server, bucket, prefix, tmp_path / "report.json", *options)


@pytest.fixture
def indir(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    return tmp_path / "in"


def test_report_mode_tells_rows_columns_and_ragged_lines_everywhere(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, indir: Path
) -> None:
    (indir / "vendas.csv").write_bytes(RAGGED)
    result = upload(tmp_path, s3_server, shared_bucket, prefix)
    assert result.returncode == 0, result.output
    assert "rows=4 cols=3 delim=semicolon  ragged=2 (lines 3, 5)" in result.stdout
    entry = json.loads((tmp_path / "report.json").read_text())["files"][0]
    assert {k: entry[k] for k in ("rows", "columns", "delimiter", "header", "ragged_rows")} == {
        "rows": 4,
        "columns": 3,
        "delimiter": "semicolon",  # as the csv-delimiter metadata writes it
        "header": ["id", "nome", "preço"],
        "ragged_rows": 2,
    }
    assert entry["first_ragged_lines"] == [3, 5]
    metadata = s3.head_object(Bucket=shared_bucket, Key=f"{prefix}/vendas.csv")["Metadata"]
    assert metadata["csv-rows"] == "4" and metadata["csv-columns"] == "3"
    assert metadata["csv-delimiter"] == "semicolon"
    assert metadata["csv-header-sha"] == header_hash(("id", "nome", "preço"))
    assert read_object(s3, shared_bucket, f"{prefix}/vendas.csv") == RAGGED.decode("cp1252").encode()


def test_multipart_metadata_has_the_header_and_the_report_has_the_rows(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, indir: Path
) -> None:
    big_csv(indir / "big.csv")
    result = upload(tmp_path, s3_server, shared_bucket, prefix)
    assert result.returncode == 0, result.output
    entry = json.loads((tmp_path / "report.json").read_text())["files"][0]
    assert entry["parts"] == 2 and entry["rows"] == 250_000 and entry["ragged_rows"] == 0
    metadata = s3.head_object(Bucket=shared_bucket, Key=f"{prefix}/big.csv")["Metadata"]
    assert metadata["csv-columns"] == "4" and metadata["csv-delimiter"] == "pipe"
    assert metadata["csv-header-sha"] == header_hash(("id", "title", "genre", "year"))
    assert "csv-rows" not in metadata  # known only after the upload was created


@pytest.mark.parametrize("ragged_at", [3, 240_000])  # in the first part; in the second
def test_strict_fails_a_ragged_file_and_leaves_nothing(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, indir: Path, ragged_at: int
) -> None:
    big_csv(indir / "big.csv", ragged_at=ragged_at)
    (indir / "good.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    result = upload(tmp_path, s3_server, shared_bucket, prefix, "--csv-check", "strict")
    assert result.returncode == 1, result.output
    failures = [line for line in result.stderr.splitlines() if "big.csv" in line]
    assert failures == [
        f"FAILED {indir / 'big.csv'}: CSV check (strict): line {ragged_at + 2}: the number of fields "
        "differs from the header's 4"
    ]
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/good.csv"]
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_strict_fails_an_unterminated_quote(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, indir: Path
) -> None:
    (indir / "q.csv").write_text('a,b\n1,2\n3,"open\n4,5\n', encoding="utf-8")
    result = upload(tmp_path, s3_server, shared_bucket, prefix, "--csv-check", "strict")
    assert result.returncode == 1
    assert "q.csv: CSV check (strict): line 3: a quote opened there never closes" in result.stderr
    assert list_keys(s3, shared_bucket, prefix) == []


def test_schema_drift_fails_before_any_part_is_sent(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, indir: Path
) -> None:
    big_csv(indir / "big.csv")
    result = upload(
        tmp_path, s3_server, shared_bucket, prefix, "--expect-header", "id,title,year", "--log-format", "json"
    )
    assert result.returncode == 1
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert not [e for e in events if e["event"] == "part_uploaded"]
    failed = next(e for e in events if e["event"] == "file_failed")
    assert "schema drift: expected header id,title,year, found id,title,genre,year" in failed["error"]
    assert list_keys(s3, shared_bucket, prefix) == [] and open_uploads(s3, shared_bucket, prefix) == []
    columns = upload(tmp_path, s3_server, shared_bucket, prefix, "--expect-columns", "4")
    assert columns.returncode == 0, columns.output


def test_off_does_no_check(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, indir: Path
) -> None:
    (indir / "vendas.csv").write_bytes(RAGGED)
    result = upload(tmp_path, s3_server, shared_bucket, prefix, "--csv-check", "off")
    assert result.returncode == 0, result.output
    assert "rows=" not in result.stdout
    assert "rows" not in json.loads((tmp_path / "report.json").read_text())["files"][0]
    metadata = s3.head_object(Bucket=shared_bucket, Key=f"{prefix}/vendas.csv")["Metadata"]
    assert not [k for k in metadata if k.startswith("csv-")]


def test_manifest_lists_every_object_after_they_landed_and_marks_failures(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, indir: Path
) -> None:
    big_csv(indir / "big.csv")
    (indir / "vendas.csv").write_bytes(RAGGED)
    (indir / "bad.csv").write_text("a,b\n1,2,3\n", encoding="utf-8")
    args = [sys.executable, "-m", "async_ingest", str(indir), "--bucket", shared_bucket]
    args += ["--key-template", prefix + "/{filename}", "--part-size", "5MiB", "--csv-check", "strict"]
    args += ["--manifest-key", prefix + "/_manifests/{yyyy}/{run_id}.json", "--date", "2026-11-25"]
    data_keys = {f"{prefix}/big.csv"}  # vendas.csv and bad.csv are ragged: they fail under strict
    proc = subprocess.Popen(
        args, env=cli_env(s3_server.endpoint_url), cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    seen_manifest = False
    while proc.poll() is None or not seen_manifest:
        keys = set(list_keys(s3, shared_bucket, prefix))
        manifests = [k for k in keys if "/_manifests/" in k]
        if manifests:
            seen_manifest = True
            assert data_keys <= keys  # never a manifest before the objects it lists
        if proc.poll() is not None and not seen_manifest:
            break
        time.sleep(0.05)
    stdout = proc.communicate()[0]
    assert proc.returncode == 1, stdout
    assert seen_manifest
    (key,) = [k for k in list_keys(s3, shared_bucket, prefix) if "/_manifests/" in k]
    assert key.startswith(f"{prefix}/_manifests/2026/") and f"manifest s3://{shared_bucket}/{key}" in stdout
    head = s3.head_object(Bucket=shared_bucket, Key=key)
    assert head["ContentType"] == "application/json"
    manifest = json.loads(read_object(s3, shared_bucket, key))
    assert (manifest["files"], manifest["failed"], manifest["complete"]) == (3, 2, False)
    objects = {Path(o["source"]).name: o for o in manifest["objects"]}
    big = objects["big.csv"]
    landed = s3.head_object(Bucket=shared_bucket, Key=big["key"])
    assert (
        big["status"] == "uploaded"
        and big["size"] == landed["ContentLength"] == (indir / "big.csv").stat().st_size
    )
    assert big["etag"] == landed["ETag"] and big["source_encoding"] == "utf-8"
    assert (big["rows"], big["columns"], big["header"]) == (250_000, 4, ["id", "title", "genre", "year"])
    for name in ("vendas.csv", "bad.csv"):
        assert objects[name]["status"] == "failed" and "CSV check (strict)" in objects[name]["error"]
        assert objects[name]["key"] not in list_keys(s3, shared_bucket, prefix)


def test_no_manifest(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, indir: Path
) -> None:
    (indir / "vendas.csv").write_bytes(RAGGED)
    template = prefix + "/_manifests/{run_id}.json"
    result = upload(tmp_path, s3_server, shared_bucket, prefix, "--manifest-key", template, "--no-manifest")
    assert result.returncode == 0, result.output
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/vendas.csv"]


def ingest_with_manifest_parts(
    monkeypatch: pytest.MonkeyPatch, part_size: int, server: Any, bucket: str, prefix: str, src: Path
) -> Any:
    """A run through the Python API (in this process, so the manifest's part size can be set)."""
    from async_ingest import ingest
    from async_ingest import run as cli

    for name, value in cli_env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(cli, "MANIFEST_PART", part_size)
    return ingest(
        [src],
        bucket=bucket,
        endpoint_url=server.endpoint_url,
        key_template=prefix + "/{filename}",
        manifest_key=prefix + "/_manifests/{run_id}.json",
    )


def test_a_manifest_larger_than_a_part_goes_up_in_parts_never_held_whole(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100,000 files make a ~45 MB manifest: it is sent part by part, as one multipart object that is
    # the same JSON document, nothing left open. Wide headers (listed in the manifest) make 90
    # files enough for two parts of 5 MiB, S3's smallest.
    from async_ingest import run as cli
    from async_ingest.output import manifest

    made: list[int] = []
    real_in_parts = manifest.in_parts

    def recorded(chunks: Any, size: int) -> Any:
        for part in real_in_parts(chunks, size):
            made.append(len(part))
            yield part

    monkeypatch.setattr(cli, "in_parts", recorded)
    src = tmp_path / "wide"
    src.mkdir()
    header = ",".join(f"measurement_column_{c:05d}" for c in range(2500))
    for index in range(90):
        (src / f"f{index:02d}.csv").write_text(f"{header}\n{index}\n", encoding="utf-8")
    result = ingest_with_manifest_parts(monkeypatch, 5 * MiB, s3_server, shared_bucket, prefix, src)
    assert result.manifest_key is not None, result.errors
    assert len(made) == 2 and made[0] >= 5 * MiB
    body = read_object(s3, shared_bucket, result.manifest_key)
    assert len(body) == sum(made)
    head = s3.head_object(Bucket=shared_bucket, Key=result.manifest_key)
    assert head["ETag"].strip('"').endswith("-2")  # a multipart object of those parts
    document = json.loads(body)
    assert document["files"] == 90 and len(document["objects"]) == 90
    assert sorted(o["key"] for o in document["objects"]) == [f"{prefix}/f{i:02d}.csv" for i in range(90)]
    assert document["objects"][0]["header"][-1] == "measurement_column_02499"
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_a_manifest_whose_parts_are_refused_leaves_no_upload_open(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parts of 1 KiB: S3 (and SeaweedFS) refuse to complete such an upload (EntityTooSmall). The
    # upload is aborted, no manifest exists, and the run says the manifest could not be written.
    src = tmp_path / "few"
    src.mkdir()
    for index in range(10):
        (src / f"f{index}.csv").write_text(f"id,name\n{index},n\n", encoding="utf-8")
    result = ingest_with_manifest_parts(monkeypatch, 1024, s3_server, shared_bucket, prefix, src)
    assert result.exit_code == 1 and result.errors == ["the run manifest could not be written"]
    assert result.summary["uploaded"] == 10 and result.manifest_key is None
    assert [k for k in list_keys(s3, shared_bucket, prefix) if "_manifests" in k] == []
    assert open_uploads(s3, shared_bucket, prefix) == []
