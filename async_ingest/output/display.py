"""How file names, keys and messages are shown in text output, the JSON log and the report.

A file name may hold anything but '/' and NUL: a newline, U+2028 or NEL would split a log line (a
name could forge one), an ESC sequence would drive the terminal, a bidi override would reorder what
is shown, and bytes that are not UTF-8 (which Python holds as surrogate escapes) cannot be written
to a UTF-8 stream at all. Everything printed goes through printable().
"""

from __future__ import annotations

import json
import re
from typing import Any

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0, DEL, C1, line and paragraph separators, bidi embeddings/overrides/isolates and marks, and
# surrogates (U+DC80..U+DCFF are the undecodable bytes of a file name).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_SURROGATES = re.compile("[\ud800-\udfff]")
# What JSON leaves raw but a line reader or a terminal would act on (JSON escapes C0 itself).
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # the undecodable byte itself
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """text with control characters, line separators, bidi controls and undecodable bytes written
    as backslash escapes (\\n, \\x1b, \\u2028, \\xe9): one line, safe at a terminal, encodable
    as UTF-8. Idempotent: its result has nothing left to escape."""
    return _UNPRINTABLE.sub(_escape, text)


def json_safe(text: str) -> str:
    """For JSON (which escapes control characters itself): only the undecodable bytes of a file
    name, as \\xNN, so the document is valid UTF-8."""
    return _SURROGATES.sub(_escape, text)


def json_text(document: Any, indent: int | None = None) -> str:
    """JSON as written to the log and the report: non-ASCII text kept readable, but NEL, U+2028,
    C1 and bidi controls written as \\uXXXX escapes (the value is unchanged), so one record stays
    one line for every line reader."""
    text = json.dumps(document, indent=indent, ensure_ascii=False)
    return _JSON_RAW.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
