"""First contact: what a new user meets on the sample data: a URL given as SOURCE, a folder without
CSV files, and reading back what --local landed (--serve) while its server keeps answering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli_env, read_object, run_cli
from tests.integration.test_resume import PART, big_source, interrupted_upload  # noqa: F401 (big_source: a fixture)


@pytest.mark.slow
def test_resume_says_in_the_line_that_it_resumed(
    s3_server: Any,
    s3: Any,
    shared_bucket: str,
    prefix: str,
    tmp_path: Path,
    big_source: tuple[Path, bytes],  # noqa: F811
) -> None:
    source, expected = big_source
    key = f"{prefix}/big.csv"
    interrupted_upload(s3, shared_bucket, key, [expected[:PART], expected[PART : 2 * PART]])
    small = tmp_path / "small.csv"
    small.write_text("a,b\n1,2\n")
    result = run_cli(
        source, small, "--bucket", shared_bucket, "--key-template", prefix + "/{filename}",
        "--part-size", "5MiB", "--resume", env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith(f"{source} -> "))
    assert line.endswith("  (resumed: 2 of 4 parts were already uploaded)"), line
    small_line = next(x for x in result.stdout.splitlines() if x.startswith(f"{small} -> "))
    assert "resumed" not in small_line  # nothing of it was left to resume
    assert read_object(s3, shared_bucket, key) == expected
