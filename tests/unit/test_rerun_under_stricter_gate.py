"""A re-run under a stricter CSV gate (--expect-header, --expect-columns, --csv-check strict) checks
the files it would skip: one that fails the gate fails (exit 1) with the message a first run gives,
and the object an earlier run landed stays exactly as it was. The same or a looser gate still skips."""

from __future__ import annotations

from pathlib import Path

import pytest

from async_ingest.pipeline.gate import GATE_KEY, gate_covered, gate_flags
from async_ingest.settings import IngestSettings
from async_ingest.transform.csvcheck import header_hash
from tests.conftest import run_cli

pytestmark = pytest.mark.slow  # runs of the command: not in the quick subset


def test_gate_flags_and_coverage() -> None:
    plain = IngestSettings("b")
    assert gate_flags(plain) == "" and gate_flags(IngestSettings("b", csv_delimiter=";")) == ""
    strict = IngestSettings("b", csv_check="strict", expect_columns=3)
    assert gate_flags(strict) == "strict columns"
    passed = {GATE_KEY: "strict columns", "csv-columns": "3", "csv-delimiter": "comma"}
    assert gate_covered(passed, strict) and gate_covered(passed, IngestSettings("b", expect_columns=3))
    assert gate_covered(passed, plain)
    assert not gate_covered(passed, IngestSettings("b", expect_columns=4))  # another value
    assert not gate_covered(passed, IngestSettings("b", expect_header=("a", "b", "c")))  # never checked
    assert not gate_covered({**passed, GATE_KEY: "columns"}, strict)  # looser than this run's
    assert not gate_covered({}, strict)  # landed without a gate (or before there were gates)
    forced = IngestSettings("b", csv_check="strict", csv_delimiter=";")
    assert not gate_covered(passed, forced)  # found with the sniffed delimiter
    assert not gate_covered({GATE_KEY: "strict delimiter", "csv-delimiter": "comma"}, forced)
    assert gate_covered({GATE_KEY: "strict delimiter", "csv-delimiter": "semicolon"}, forced)
    header = IngestSettings("b", expect_header=("a", "b"))
    assert gate_covered({GATE_KEY: "header", "csv-header-sha": header_hash(("a", "b"))}, header)
    assert not gate_covered({GATE_KEY: "header", "csv-header-sha": header_hash(("a", "c"))}, header)


def test_the_gate_record_cannot_be_forged_with_metadata(tmp_path: Path) -> None:
    """A re-run trusts csv-gate and the other csv-* keys: --metadata may not set them."""
    source = tmp_path / "a.csv"
    source.write_text("a,b\n1,2\n")
    result = run_cli(source, "--bucket", "bucket", "--dry-run", "--metadata", "csv-gate=strict")
    assert result.returncode == 2
    assert "csv-gate" in result.stderr and "sets this key itself" in result.stderr
