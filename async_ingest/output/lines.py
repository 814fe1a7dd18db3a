"""The words of a run's output, shared by every printer (progress.py, bars.py): a finished file's
line (full for logs and pipes, fitted to the terminal's width at a terminal), the dry run's plan
table, the summary, and a configuration error as one JSON line."""

from __future__ import annotations

import textwrap
import unicodedata

from async_ingest.events import FileResult
from async_ingest.output.display import json_safe, json_text, printable
from async_ingest.output.report import Summary, csv_findings, delimiter_name
from async_ingest.units import format_size

MIN_KEY_COLUMNS = 16  # a shortened key keeps at least the end of its name
MIN_NAME_COLUMNS = 12
SUMMARY_NAME_COLUMNS = 11  # "throughput" and a space: the summary's values start in one column
SHORT_FINDING_WORDS = {  # at a terminal, where the line must fit
    "ragged_rows": "ragged",
    "unterminated_quote": "open quote",
    "no_header": "no header",
    "not_csv": "not CSV",
}
FINDING_WORDS = {
    "ragged_rows": "ragged rows",
    "unterminated_quote": "unterminated quote",
    "no_header": "no header",
    "not_csv": "not CSV",
}


def json_error_line(message: str) -> str:
    """A configuration error under --log-format json: one JSON object (for stderr), as parseable
    by the log pipeline as every other line of the run."""
    return json_text({"event": "error", "error": json_safe(message)})


def describe_encoding(result: FileResult) -> str:
    info = result.encoding
    if info is None:
        return "?"
    text = f"{info.encoding} ({info.method}"
    if info.method == "detected":
        text += f", confidence {info.confidence:.2f}"
    if info.bom_removed:
        text += ", BOM removed"
    text += ")"
    if result.replacements:
        text += f", {result.replacements} replacement(s)"
    return text


def describe_checksum(result: FileResult) -> str:
    """The checksum S3 stores, as a downstream check would compare it: crc64nvme=BASE64."""
    stored = result.checksum
    return f"  {stored.algorithm.lower()}={stored.value}" if stored else ""


def describe_csv(result: FileResult) -> str:
    """The CSV check in a few words, e.g. `rows=1,234 cols=5 delim=pipe  ragged=3 (lines 17, 40, 52)`."""
    stats = result.csv
    if stats is None:
        return ""
    text = f"  rows={stats.rows:,} cols={stats.columns} delim={delimiter_name(stats.delimiter)}"
    if not stats.header:
        text += "  no header"
    if stats.not_csv:
        text += f"  not CSV? {stats.not_csv}"
    if stats.ragged_rows:
        more = ", ..." if stats.ragged_rows > len(stats.first_ragged_lines) else ""
        lines = ", ".join(map(str, stats.first_ragged_lines))
        text += f"  ragged={stats.ragged_rows:,} (lines {lines}{more})"
    if stats.unterminated_quote_line is not None:
        text += f"  unterminated quote (line {stats.unterminated_quote_line})"
    return text


def file_line(result: FileResult) -> str:
    target = f"s3://{result.bucket}/{result.key}"
    if result.status == "failed":
        return f"FAILED {result.error_line}"
    if result.status == "skipped":
        return (
            f"{result.source.location} -> {target}  skipped (already uploaded from this same source)"
            f"{describe_checksum(result)}"
        )
    if result.status == "planned":
        size = format_size(result.source.size)
        return f"{result.source.location} -> {target}  {describe_encoding(result)}  {size}"
    return (
        f"{result.source.location} -> {target}  {describe_encoding(result)}  "
        f"{format_size(result.bytes_read)} -> {format_size(result.bytes_written)}  {result.seconds:.2f} s"
        f"{describe_checksum(result)}"
        f"{describe_csv(result)}"
        f"{''.join(f'  ({note})' for note in result.notes)}"  # e.g. (resumed: 2 of 3 parts ...)
    )


def columns_of(text: str) -> int:
    """Terminal columns text takes: East Asian wide characters two, combining marks none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text
    )


def keep_end(text: str, width: int) -> str:
    """text in at most width columns, its start replaced by '...' if it must be shortened: the end
    of a path (folder and name) is what tells files apart."""
    if columns_of(text) <= width:
        return text
    kept = ""
    for char in reversed(text):
        if columns_of(kept) + columns_of(char) + 3 > width:
            break
        kept = char + kept
    return ("..." + kept)[-width:] if width < 3 else "..." + kept


def short_line(result: FileResult, width: int) -> str:
    """At a terminal, one line of at most width columns (it never wraps): name, encoding, size,
    rows, CSV findings, then the key; the name and the key shortened from the left (their ends tell
    files apart). printable() already applied."""
    name = printable(result.source.location)
    key = printable(f"s3://{result.bucket}/{result.key}")  # shortened from the left: the bucket goes first
    if result.status == "skipped":
        facts = ["skipped (already uploaded)"]
    else:
        info = result.encoding
        facts = [info.encoding if info else "?", format_size(result.bytes_read)]
        if result.replacements:
            facts.append(f"{result.replacements} replaced")
        if result.csv is not None:
            facts.append(f"{result.csv.rows:,} rows")
            facts += [SHORT_FINDING_WORDS[found] for found in csv_findings(result.csv)]
    middle = "  " + "  ".join(facts) + "  -> "
    line = name + middle + key
    if columns_of(line) <= width:
        return line
    room = width - columns_of(middle)  # for the name and the key
    if room < MIN_NAME_COLUMNS + MIN_KEY_COLUMNS:  # narrow: no key, the name and the facts
        facts_only = middle.removesuffix("  -> ")
        return keep_start(
            keep_end(name, max(MIN_NAME_COLUMNS, width - columns_of(facts_only))) + facts_only, width
        )
    # The name gets three fifths (all it needs if the key is short), the key the rest: the key's
    # end mostly repeats the name, its start holds the template's folders.
    name = keep_end(name, max(room - columns_of(key), room * 3 // 5))
    return name + middle + keep_end(key, room - columns_of(name))


def keep_start(text: str, width: int) -> str:
    """text in at most width columns, cut at the right."""
    kept = ""
    for char in text:
        if columns_of(kept) + columns_of(char) > width:
            break
        kept += char
    return kept


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return [line, rule, *body]


def plan_table(results: list[FileResult]) -> list[str]:
    """--dry-run: the whole plan at once."""
    rows = []
    for r in results:
        info = r.encoding
        rows.append(
            [
                printable(r.source.location),
                format_size(r.source.size),
                info.encoding if info else "-",
                info.method if info else "-",
                f"{info.confidence:.2f}" if info else "-",
                printable(f"s3://{r.bucket}/{r.key}" if r.status == "planned" else f"FAILED: {r.error}"),
            ]
        )
    lines = table(["source", "size", "encoding", "how", "confidence", "target"], rows)
    # What the run would do besides, e.g. resume or abort an unfinished upload to the key.
    return lines + [printable(f"{r.source.location}: {note}") for r in results for note in r.notes]


def csv_summary(summary: Summary) -> str:
    """e.g. `40 file(s) with findings: 40 unterminated quote, 2 ragged rows` (a file may have several)."""
    found = ", ".join(f"{count} {FINDING_WORDS[name]}" for name, count in summary.csv_findings.items())
    return f"{summary.csv_flagged} file(s) with findings: {found}"


def manifest_line(url: str, width: int | None = None) -> str:
    """`manifest s3://...`; at a terminal the URL's end (the run's file) is kept within width."""
    return f"manifest {printable(url) if width is None else keep_end(printable(url), max(width - 9, 16))}"


def headed_line(head: str, label: str, path: str, width: int | None = None) -> list[str]:
    """`head label path` on one line; at a terminal too narrow for it, `label path` on a line of its
    own, the path's end kept (the end of a path tells it apart)."""
    line = f"{head} {label} {path}"
    if width is None or columns_of(line) <= width:
        return [line]
    return [head, f"  {label} " + keep_end(path, max(width - columns_of(label) - 3, 16))]


def summary_lines(summary: Summary, width: int | None = None) -> list[str]:
    """The summary's rows; at a terminal (width given), a long value goes on under its own
    column instead of wrapping under the names."""
    if summary.planned or summary.dry_run:
        return [f"{summary.planned} file(s) planned (dry run, nothing written); {summary.failed} failed"]
    encodings = ", ".join(f"{k} x{v}" for k, v in summary.encodings.items()) or "-"
    counts = f"{summary.uploaded} uploaded, {summary.skipped} skipped, {summary.failed} failed"
    rows = [
        ["files", f"{summary.files} ({counts})"],
        ["read", format_size(summary.bytes_read)],
        ["written", format_size(summary.bytes_written)],
        ["encodings", encodings],
        ["seconds", f"{summary.seconds:.2f}"],
        ["throughput", f"{format_size(summary.throughput)}/s"],
    ]
    if summary.replacements:
        rows.append(["replaced", f"{summary.replacements} undecodable sequence(s) -> U+FFFD"])
    if summary.csv_flagged:
        rows.append(["csv check", csv_summary(summary)])
    rows += [["failed", reason] for reason in summary.failures]
    return ["summary", *(line for name, value in rows for line in _row(name, value, width))]


def _row(name: str, value: str, width: int | None) -> list[str]:
    indent = " " * (SUMMARY_NAME_COLUMNS + 1)
    if width is None or columns_of(value) <= width - len(indent):
        return [f"{name:<{SUMMARY_NAME_COLUMNS}} {value}"]
    room = max(width - len(indent), MIN_KEY_COLUMNS)
    first, *rest = textwrap.wrap(value, room, break_on_hyphens=False) or [""]
    return [f"{name:<{SUMMARY_NAME_COLUMNS}} {first}", *(indent + line for line in rest)]
