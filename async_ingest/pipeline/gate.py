"""The CSV gate on a re-run: a file whose object already landed is skipped only if it passes the gate
of this run (--csv-check strict, --expect-columns, --expect-header), not just the one it landed under.

An upload under a gate records which checks it passed (metadata `csv-gate`: an object completes only
after the whole file passed them, see pipeline.fill_next); the values they compared are the object's
own CSV facts (`csv-columns`, `csv-header-sha`, `csv-delimiter`). A HEAD that shows a gate at least as
strict as this run's skips the file unread. Otherwise (an object landed under a looser gate, or one
known from the listing alone, without its metadata) the source is read and checked here, as an upload
would check it, nothing sent: the same CsvRejected message, and the landed object stays as it was.
"""

from __future__ import annotations

from collections.abc import Mapping

from async_ingest.settings import IngestSettings
from async_ingest.sources.files import SourceFile
from async_ingest.transform.csvcheck import DELIMITER_NAMES, CsvChecker, CsvPolicy, header_hash
from async_ingest.transform.transcode import Transcoder
from async_ingest.units import MiB

GATE_KEY = "csv-gate"  # object metadata: the checks the object passed, space-separated
GATE_READ = 1 * MiB  # source bytes read at a time by check_source


def gate_flags(settings: IngestSettings) -> str:
    """The checks of this run that can fail a file ("" when none can: report mode, no --expect-*).
    A forced --delimiter is part of them: the columns and header were found with it."""
    if settings.csv_check == "off":
        return ""
    flags = []
    if settings.csv_check == "strict":
        flags.append("strict")
    if settings.expect_columns is not None:
        flags.append("columns")
    if settings.expect_header is not None:
        flags.append("header")
    if flags and settings.csv_delimiter is not None:
        flags.append("delimiter")
    return " ".join(flags)


def gate_covered(metadata: Mapping[str, str], settings: IngestSettings) -> bool:
    """Whether a landed object's metadata shows it passed every check of this run's gate."""
    passed = set(metadata.get(GATE_KEY, "").split())
    needed = set(gate_flags(settings).split())
    if not needed <= passed or ("delimiter" in passed) != ("delimiter" in needed):
        return False  # a sniffed and a forced delimiter may split the same rows differently
    if settings.expect_columns is not None and metadata.get("csv-columns") != str(settings.expect_columns):
        return False
    if settings.expect_header is not None and metadata.get("csv-header-sha") != header_hash(
        settings.expect_header
    ):
        return False
    delimiter = settings.csv_delimiter
    return delimiter is None or metadata.get("csv-delimiter") == DELIMITER_NAMES.get(delimiter, "none")


def check_source(
    source: SourceFile, settings: IngestSettings, encoding: str, errors: str, bom: bytes, chunk: int
) -> None:
    """Read, transcode and CSV-check a source under this run's gate, nothing sent: raises CsvRejected
    with the message an upload would give (DecodeFailure and ValueError: the upload finds out)."""
    policy = CsvPolicy(settings.csv_check, settings.expect_columns, settings.expect_header)
    checker = CsvChecker(settings.csv_delimiter)
    reader = source.open_reader(settings.max_expanded_size)
    transcoder = Transcoder(encoding, errors=errors, bom=bom)
    buffer = memoryview(bytearray(chunk))
    try:
        while read := reader.readinto(buffer):
            checker.feed(transcoder.feed(buffer[:read]))
            policy.check(checker, None)
        checker.feed(transcoder.finish())
        policy.check(checker, checker.finish())
    finally:
        reader.close()
