"""Detection against the generated corpus of tests/corpus_text.py (issue: Western European text read as
Windows-1250, Central European text read as ISO-8859-15), with the targets per group and size, and the
two reported files as regressions through `choose_encoding` (the pipeline's entry point) and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import cli_env, read_object, run_cli
from tests.unit.test_detection_corpus import CENTRAL_ROWS, WESTERN_ROWS

# The issue's files, as bytes that reproduce the reports on the code before the fix (found by a seeded
# search over such CSVs): Western names in Windows-1252, 300 B, where only `Ærø`, `São Paulo`, `Øresund`,
# `naïve` and `Málaga` are non-ASCII (read as Windows-1250: `Ćrř`, `Săo`, `Řesund`, `naďve`); and
# Polish, Czech, Hungarian and Romanian place names and phrases in Windows-1250, 186 B (read as
# ISO-8859-15, with C1 controls for ť ś ź). CENTRAL_ROWS_ORDINAL was still ISO-8859-15 after the first
# fix: its `Piteşti` reads `Piteºti`, an ordinal inside a word, which the scorer took for a letter.


def test_issue_files_land_in_s3_as_their_utf8_text(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    sources = tmp_path / "in"
    sources.mkdir()
    (sources / "western.csv").write_bytes(WESTERN_ROWS.encode("cp1252"))
    (sources / "central.csv").write_bytes(CENTRAL_ROWS.encode("cp1250"))
    result = run_cli(
        sources, "--bucket", shared_bucket, "--key-template", prefix + "/{filename}",
        env=cli_env(s3_server.endpoint_url),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert read_object(s3, shared_bucket, f"{prefix}/western.csv") == WESTERN_ROWS.encode()
    assert read_object(s3, shared_bucket, f"{prefix}/central.csv") == CENTRAL_ROWS.encode()
