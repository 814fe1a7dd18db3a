"""The CSV check end to end: what the output line, the JSON report and the object's metadata say,
and that strict mode and schema expectations leave nothing in the bucket."""

from __future__ import annotations

import pytest

from tests.conftest import cli_env, run_cli

pytestmark = pytest.mark.slow  # runs of the command: not in the quick subset


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--delimiter", ":"), "--delimiter ':'"),
        (("--expect-columns", "0"), "--expect-columns"),
        (("--csv-check", "off", "--expect-header", "a,b"), "need the CSV check"),
        (("--csv-check", "loud"), "--csv-check"),
        (("--manifest-key", "m/{date}/{run_id}.json"), "unknown field(s) date"),
        (("--manifest-key", "m/latest.json"), "must contain {run_id}"),
    ],
)
def test_csv_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = run_cli("data/", "--bucket", "b-ok", *args, env=cli_env("http://127.0.0.1:9"))
    assert result.returncode == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_manifest_parts_are_cut_at_the_size_asked() -> None:
    from async_ingest.output.manifest import in_parts

    chunks = [b"a" * 300, b"b" * 300, b"c" * 500, b"d" * 10]
    assert [len(p) for p in in_parts(iter(chunks), 512)] == [600, 510]
    assert b"".join(in_parts(iter(chunks), 512)) == b"".join(chunks)
    assert list(in_parts(iter([]), 512)) == []
