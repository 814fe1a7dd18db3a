"""A re-run under a stricter CSV gate (--expect-header, --expect-columns, --csv-check strict) checks
the files it would skip: one that fails the gate fails (exit 1) with the message a first run gives,
and the object an earlier run landed stays exactly as it was. The same or a looser gate still skips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from async_ingest.pipeline.gate import GATE_KEY, gate_covered
from async_ingest.settings import IngestSettings
from tests.conftest import cli_env, list_keys, open_uploads, read_object, upload_with_report

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

GOOD = b"a,b,c\n1,2,3\n4,5,6\n"
RAGGED = b"a,b,c\n1,2,3\n4,5\n6,7,8\n"
UNTERMINATED = b'a,b\n1,2\n3,"open\n4,5\n'


def run(src: Path, server: Any, bucket: str, prefix: str, tmp_path: Path, *options: str) -> Any:
    return upload_with_report(src, server, bucket, prefix, tmp_path / "report.json", *options)


def statuses(tmp_path: Path) -> dict[str, str]:
    files = json.loads((tmp_path / "report.json").read_text())["files"]
    return {Path(entry["source"]).name: entry["status"] for entry in files}


def landed(s3: Any, bucket: str, key: str) -> tuple[bytes, str, Any]:
    """The object's bytes, ETag and modification time: all three unchanged if nothing was written."""
    head = s3.head_object(Bucket=bucket, Key=key)
    return read_object(s3, bucket, key), head["ETag"], head["LastModified"]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    return tmp_path / "in"


@pytest.mark.parametrize(
    ("body", "gate", "ok", "message"),
    [
        (
            GOOD,
            ("--expect-header", "x,y,z"),
            b"x,y,z\n1,2,3\n",
            "schema drift: expected header x,y,z, found a,b,c",
        ),
        (GOOD, ("--expect-columns", "4"), b"a,b,c,d\n1,2,3,4\n", "schema drift: expected 4 columns, found 3"),
        (
            RAGGED,
            ("--csv-check", "strict"),
            GOOD,
            "CSV check (strict): line 3: the number of fields differs from the header's 3",
        ),
        (
            UNTERMINATED,
            ("--csv-check", "strict"),
            GOOD,
            "CSV check (strict): line 3: a quote opened there never closes",
        ),
    ],
    ids=["expect-header", "expect-columns", "strict-ragged", "strict-unterminated-quote"],
)
def test_a_stricter_rerun_fails_a_landed_file_that_fails_its_gate_and_leaves_the_object(
    s3_server: Any,
    s3: Any,
    shared_bucket: str,
    prefix: str,
    tmp_path: Path,
    src: Path,
    body: bytes,
    gate: tuple[str, ...],
    ok: bytes,
    message: str,
) -> None:
    (src / "t.csv").write_bytes(body)
    (src / "ok.csv").write_bytes(ok)  # passes the gate: still skipped
    first = run(src, s3_server, shared_bucket, prefix, tmp_path)
    assert first.returncode == 0, first.output
    key = f"{prefix}/t.csv"
    before = landed(s3, shared_bucket, key)
    again = run(src, s3_server, shared_bucket, prefix, tmp_path, *gate)
    assert again.returncode == 1, again.output
    failures = [line for line in again.stderr.splitlines() if "t.csv" in line]
    assert failures == [
        f"FAILED {src / 't.csv'}: {message} (s3://{shared_bucket}/{key}, landed by an earlier run, "
        "is left as it was)"
    ]
    assert statuses(tmp_path) == {"t.csv": "failed", "ok.csv": "skipped"}  # the other passes: skipped
    assert landed(s3, shared_bucket, key) == before and before[0] == body
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_a_conforming_file_is_skipped_under_the_new_gate_and_a_looser_one(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, src: Path
) -> None:
    (src / "t.csv").write_bytes(GOOD)
    assert run(src, s3_server, shared_bucket, prefix, tmp_path).returncode == 0
    key = f"{prefix}/t.csv"
    before = landed(s3, shared_bucket, key)
    strict = ("--csv-check", "strict", "--expect-header", "a,b,c", "--expect-columns", "3")
    for options in [strict, ("--expect-header", "a,b,c"), ("--csv-check", "strict"), ()]:
        again = run(src, s3_server, shared_bucket, prefix, tmp_path, *options)
        assert again.returncode == 0, (options, again.output)
        assert statuses(tmp_path) == {"t.csv": "skipped"}, options
    assert landed(s3, shared_bucket, key) == before


def test_an_upload_under_a_gate_records_it_and_a_rerun_under_it_needs_no_read(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, src: Path
) -> None:
    (src / "t.csv").write_bytes(GOOD)
    gate = ("--csv-check", "strict", "--expect-header", "a,b,c", "--delimiter", ",")
    assert run(src, s3_server, shared_bucket, prefix, tmp_path, *gate).returncode == 0
    metadata = s3.head_object(Bucket=shared_bucket, Key=f"{prefix}/t.csv")["Metadata"]
    assert metadata[GATE_KEY] == "strict header delimiter"
    settings = IngestSettings(
        shared_bucket, csv_check="strict", expect_header=("a", "b", "c"), csv_delimiter=","
    )
    assert gate_covered(metadata, settings)  # the HEAD alone tells: the source is not read again
    again = run(src, s3_server, shared_bucket, prefix, tmp_path, *gate)
    assert again.returncode == 0 and statuses(tmp_path) == {"t.csv": "skipped"}, again.output


def test_a_rerun_reads_a_source_only_when_its_object_passed_a_looser_gate(
    s3_server: Any, shared_bucket: str, prefix: str, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from async_ingest import ingest
    from async_ingest.pipeline import skip as pipeline

    for name, value in cli_env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    checked: list[str] = []
    real_check = pipeline.check_source

    def counted(source: Any, *args: Any) -> None:
        checked.append(Path(source.location).name)
        real_check(source, *args)

    monkeypatch.setattr(pipeline, "check_source", counted)
    (src / "t.csv").write_bytes(GOOD)

    def rerun(**gate: Any) -> list[str]:
        checked.clear()
        result = ingest(
            [src],
            bucket=shared_bucket,
            endpoint_url=s3_server.endpoint_url,
            key_template=prefix + "/{filename}",
            **gate,
        )
        assert result.ok, result.failures
        return checked[:]

    assert rerun(csv_check="strict", expect_columns=3) == []  # the first upload checks as it sends
    assert rerun(csv_check="strict", expect_columns=3) == []  # recorded: skipped unread
    assert rerun(expect_columns=3) == rerun(csv_check="strict") == rerun() == []  # looser: unread
    assert rerun(expect_header="a,b,c") == ["t.csv"]  # a check it never passed: read, then skipped


def test_a_large_file_landed_plainly_fails_a_strict_rerun_on_a_row_far_from_the_start(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, src: Path
) -> None:
    # ~7 MiB: a multipart object, checked with a HEAD (not the listing), its source read in chunks.
    lines = ["id|title|year"] + [f"{i}|Coração {i}|2001" for i in range(300_000)]
    lines[290_001] = "290000|Coração"
    (src / "big.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run(src, s3_server, shared_bucket, prefix, tmp_path).returncode == 0
    key = f"{prefix}/big.csv"
    before = landed(s3, shared_bucket, key)
    assert "-" in before[1]  # multipart
    again = run(src, s3_server, shared_bucket, prefix, tmp_path, "--csv-check", "strict")
    assert again.returncode == 1, again.output
    assert "big.csv: CSV check (strict): line 290002: the number of fields differs" in again.stderr
    assert landed(s3, shared_bucket, key) == before and open_uploads(s3, shared_bucket, prefix) == []


def test_files_skipped_on_the_listing_alone_are_checked_too(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, src: Path
) -> None:
    # Beyond the first 8 (the HEAD canaries), unchanged small files are skipped on the listing alone,
    # without their metadata: the gate reads their sources instead.
    for index in range(20):
        header = "a,b,d" if index % 2 else "a,b,c"
        (src / f"f{index:02d}.csv").write_text(f"{header}\n{index},2,3\n", encoding="utf-8")
    assert run(src, s3_server, shared_bucket, prefix, tmp_path, "--concurrency", "1").returncode == 0
    before = {key: landed(s3, shared_bucket, key) for key in list_keys(s3, shared_bucket, prefix)}
    again = run(
        src, s3_server, shared_bucket, prefix, tmp_path, "--concurrency", "1", "--expect-header", "a,b,c"
    )
    assert again.returncode == 1, again.output
    assert "20 (0 uploaded, 10 skipped, 10 failed)" in again.stdout
    assert again.stderr.count("schema drift: expected header a,b,c, found a,b,d") == 10
    assert {key: landed(s3, shared_bucket, key) for key in before} == before
