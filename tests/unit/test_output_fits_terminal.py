"""At a terminal the summary's rows and the --local listing fit its width (long values go on under
their own column, keys keep their end); piped, every line stays whole for logs and scripts."""

from __future__ import annotations

from async_ingest.output.lines import columns_of, summary_lines
from async_ingest.output.report import Summary


def busy_summary() -> Summary:
    return Summary(
        files=40,
        uploaded=38,
        skipped=1,
        failed=1,
        bytes_read=300 << 20,
        bytes_written=310 << 20,
        seconds=12.5,
        encodings={"utf-8": 20, "cp1252": 12, "iso8859_2": 5, "utf-16": 3},
        failures=["/data/exports/2026/a-rather-long-folder-name/movies-final.csv: the CSV is not UTF-8"],
        csv_flagged=40,
        csv_findings={"unterminated_quote": 40, "ragged_rows": 2, "no_header": 1},
    )


def test_at_60_columns_every_summary_line_fits_and_nothing_is_lost() -> None:
    whole = summary_lines(busy_summary())
    fitted = summary_lines(busy_summary(), 60)
    assert any(columns_of(line) > 60 for line in whole)  # the case: these rows wrapped before
    assert all(columns_of(line) <= 60 for line in fitted)
    assert "".join("".join(fitted).split()) == "".join("".join(whole).split())  # the same text, in order
    continued = [line for line in fitted if line.startswith(" " * 12)]
    assert continued and all(not line[12].isspace() for line in continued)  # under the values' column


def test_piped_summary_lines_stay_whole() -> None:
    lines = summary_lines(busy_summary())
    row = "csv check   40 file(s) with findings: 40 unterminated quote"
    assert any(line.startswith(row) for line in lines)
    assert not any(line.startswith(" " * 12) for line in lines)
