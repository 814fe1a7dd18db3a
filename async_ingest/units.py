"""Byte sizes: constants and human-readable parsing/formatting."""

from __future__ import annotations

import re
from decimal import Decimal

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB
# ASCII digits only (\d would take any script's digits); exact decimal arithmetic, so a 400-digit
# number is "too large", not an OverflowError from float.
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE | re.ASCII)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}
MAX_SIZE = 1024 * TiB  # far beyond any part or memory budget


def parse_size(text: str) -> int:
    """'8MiB', '8M', '8mb', '5242880' -> bytes. Binary multiples for both 'MB' and 'MiB' (as the AWS CLI)."""
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (examples: 8MiB, 64M, 5242880)")
    number, prefix, _, _ = match.groups()
    size = int(Decimal(number) * KiB ** _POWERS[prefix.lower()])
    if size > MAX_SIZE:  # the value is not echoed: it may be hundreds of digits long
        raise ValueError("size too large (at most 1024TiB)")
    return size


def format_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < KiB:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= KiB
    return f"{size:.1f} TiB"
