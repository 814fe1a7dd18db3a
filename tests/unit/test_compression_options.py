"""Compressed out (--compress gzip|zstd) and compressed in (.csv.gz, .csv.zst, .csv.bz2), end to end
against the real SeaweedFS, read back with the real gzip and zstd tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow  # runs of the command: not in the quick subset


def test_compress_level_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    result = run_cli(tmp_path / "a.csv", "--dry-run", "--compress", "gzip", "--compress-level", "12")
    assert result.returncode == 2
    assert "--compress-level 12: gzip takes 1 to 9" in result.output
