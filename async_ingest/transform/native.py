"""The per-byte functions in use: the C extension, or its pure-Python twin when the extension is not
built (a failed compile at install time) or ASYNC_INGEST_NO_EXTENSIONS=1 is set.

Both give identical results (tests/unit/test_native_equivalence.py); IMPLEMENTATION says which one runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Literal

from async_ingest.transform import pytwin
from async_ingest.transform.pytwin import Buffer, CsvPrescan, CsvState, csv_finish, csv_state, sbcs_table

__all__ = [
    "BUILD_ERROR",
    "IMPLEMENTATION",
    "Buffer",
    "CsvPrescan",
    "CsvState",
    "csv_finish",
    "csv_join",
    "csv_prescan",
    "csv_scan",
    "csv_state",
    "csv_sync",
    "sbcs_table",
    "sbcs_to_utf8",
    "utf8_check",
    "utf16_to_utf8",
]

DISABLE_VARIABLE = "ASYNC_INGEST_NO_EXTENSIONS"

IMPLEMENTATION: Literal["native", "python"] = "python"
BUILD_ERROR: str | None = None  # why the extension is not in use (None when it is)

# Positional calls only: the C functions take no keywords.
utf8_check: Callable[[Buffer], tuple[int, int, int]] = pytwin.utf8_check
sbcs_to_utf8: Callable[[Buffer, Buffer, Buffer, int, str], tuple[int, int, int]] = pytwin.sbcs_to_utf8
utf16_to_utf8: Callable[[bool, Buffer, Buffer, int, str], tuple[int, int, int, int]] = pytwin.utf16_to_utf8
csv_scan: Callable[[CsvState, Buffer], CsvState] = pytwin.csv_scan
csv_sync: Callable[[int, int, Buffer], int] = pytwin.csv_sync

if os.environ.get(DISABLE_VARIABLE) == "1":
    BUILD_ERROR = f"{DISABLE_VARIABLE}=1"
else:
    try:
        from async_ingest.transform import _native
    except ImportError as exc:  # not compiled (no compiler at install time): the twin runs
        BUILD_ERROR = str(exc)
    else:
        IMPLEMENTATION = "native"
        utf8_check = _native.utf8_check
        sbcs_to_utf8 = _native.sbcs_to_utf8
        utf16_to_utf8 = _native.utf16_to_utf8

        def _csv_scan(state: CsvState, data: Buffer) -> CsvState:
            return CsvState._make(_native.csv_scan(state, data))

        csv_scan = _csv_scan
        csv_sync = _native.csv_sync


def csv_prescan(state: CsvState, data: Buffer) -> CsvPrescan | None:
    """pytwin.csv_prescan with the implementation in use (made for a worker thread: the C scan
    releases the GIL)."""
    return pytwin.csv_prescan(state, data, sync=csv_sync, scan=csv_scan)


def csv_join(state: CsvState, data: Buffer, prescan: CsvPrescan | None) -> CsvState:
    """pytwin.csv_join with the implementation in use."""
    return pytwin.csv_join(state, data, prescan, scan=csv_scan)
