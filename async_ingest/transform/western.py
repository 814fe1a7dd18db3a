"""Shortcut: Western European text in Windows-1252.

Most legacy files are Western European text in cp1252. The full contest (charset-normalizer plus the
plausibility of ~20 candidate readings) costs ~25 ms on a 10 KiB file; this decides the common case from
a byte histogram and a few regex counts in well under 1 ms, and hands everything else to the contest.
It only says cp1252 when (a) the cp1252 reading uses nothing but letters of Western languages and
common typography, with the shape of Western text (accented letters sparse, never long runs), and
(b) its plausibility, computed as the scorer does, beats by a margin an optimistic score of every Latin
code page that reads those bytes differently. Bytes where cp1254 (Turkish), iso8859-15 or Icelandic
text would differ, and the š ž of Central European and Baltic text, are not accepted at all.
Cyrillic, Greek, Hebrew, Arabic, Thai and CJK read as cp1252 fail (a) (ð, long runs, density);
DOS and Mac code pages fail it too (C1-range symbols glued inside words, "cafŽ").
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

from async_ingest.transform.codecinfo import Detection
from async_ingest.transform.languages import LANGUAGE_ALPHABETS, _covered
from async_ingest.transform.plausibility import _BAD, _ORDINALS, _verdict
from async_ingest.transform.regions import _ASCII_BYTES

WESTERN_LANGUAGES = (
    "portuguese", "spanish", "french", "german", "italian", "catalan", "dutch", "danish_norwegian",
    "swedish_finnish", "albanian",
)  # fmt: skip
WESTERN_SHORTCUT_MIN = 0.9  # plausibility of the cp1252 reading needed to skip the contest
WESTERN_RIVAL_MARGIN = 0.02  # ... and its lead over the best optimistic score of a rival reading
WESTERN_MAX_DENSITY = 0.3  # non-ASCII bytes per ASCII letter: ~0.1 in Western text, ~1+ in other scripts
WESTERN_MAX_RUN = 3  # consecutive non-ASCII bytes ("ção" has 2); Cyrillic read as cp1252 has whole words
# Latin code pages whose reading of the same bytes can also be letters of some language.
WESTERN_RIVALS = ("cp1250", "iso8859-2", "cp1257", "iso8859-13")


def _cp1252_char(byte: int) -> str:
    return bytes((byte,)).decode("cp1252", errors="replace")


def _western_classes() -> bytes:
    """A translate() table giving each byte its class for the shortcut: a/A ASCII lower/upper letter,
    h/H accepted non-ASCII lower/upper letter, S accepted symbol, o ordinal (º ª), p in-word punctuation
    (’ ‘ ·), c control, x a byte the shortcut does not accept, '.' any other ASCII byte."""
    letters = set().union(*(LANGUAGE_ALPHABETS[name] for name in WESTERN_LANGUAGES)) - set("šžÿ")
    letters |= {letter.upper() for letter in letters if len(letter.upper()) == 1}
    table = bytearray(b"." * 256)
    for byte in range(0x100):
        char = _cp1252_char(byte)
        if byte < 0x80:
            kind = "a" if char.islower() else "A" if char.isupper() else "."
            kind = "c" if unicodedata.category(char) == "Cc" and char not in "\t\n\r" else kind
        elif char in _ORDINALS:
            kind = "o"
        elif char in letters:
            kind = "H" if char.isupper() else "h"
        else:
            kind = "p" if char in "’‘·" else "S" if char in WESTERN_SYMBOLS else "x"
        table[byte] = ord(kind)
    return bytes(table)


WESTERN_SYMBOLS = frozenset("\xa0€„…‘’“”•–—™¡¢£§©«®°±·»¿×÷")  # common typography of Western text
_WESTERN_CLASS = _western_classes()
_WESTERN_REJECT = bytes(byte for byte in range(0x80, 0x100) if _WESTERN_CLASS[byte] == ord("x"))
_GLUED_SYMBOL = re.compile(rb"S(?<=[aAhH]S)(?=[aAhH])")  # the scorer's "symbol inside a word"
_GLUED_ORDINAL = re.compile(rb"o(?=[aAhHo])")  # the scorer's "ordinal opening a word"
_NON_ASCII_FLAG = bytes(0x80 if byte >= 0x80 else 0 for byte in range(0x100))
_LONG_RUN = b"\x80" * (WESTERN_MAX_RUN + 1)


def _western_shortcut(sample: bytes, high_bytes: bytes) -> Detection | None:
    """cp1252 if the sample is plainly Western European text in it, else None (the contest decides)."""
    if not high_bytes or high_bytes.translate(None, _WESTERN_REJECT) != high_bytes:
        return None  # a byte outside the accepted set anywhere in the samples
    classes = sample.translate(_WESTERN_CLASS)
    ascii_letters = classes.count(b"a") + classes.count(b"A")
    evidence = len(sample) - classes.count(b".") - ascii_letters
    if b"c" in classes or evidence > max(2.0, WESTERN_MAX_DENSITY * ascii_letters):
        return None
    if _LONG_RUN in sample.translate(_NON_ASCII_FLAG):
        return None
    counts = Counter(sample.translate(None, _ASCII_BYTES))
    bad = len(_GLUED_SYMBOL.findall(classes)) + classes.count(b"aH") + classes.count(b"hH")
    bad += len(_GLUED_ORDINAL.findall(classes))
    score = _reading_score("cp1252", counts, evidence, bad)
    if score is None or score < WESTERN_SHORTCUT_MIN:
        return None
    readings = {_reading_key(rival, counts): rival for rival in WESTERN_RIVALS}  # iso8859-2 often = cp1250
    for rival in readings.values():
        rival_score = _reading_score(rival, counts, evidence, 0)
        if rival_score is not None and rival_score > score - WESTERN_RIVAL_MARGIN:
            return None
    return Detection("cp1252", "detected", round(score, 3), b"")


@lru_cache(maxsize=16)
def _reading_table(codec: str) -> tuple[tuple[str, bool, bool] | None, ...]:
    """Per byte 0x80-0xFF: (lower-cased letter or "", judged bad alone, same as cp1252), None if the byte
    does not decode."""
    table: list[tuple[str, bool, bool] | None] = []
    for byte in range(0x80, 0x100):
        try:
            char = bytes((byte,)).decode(codec)
        except UnicodeDecodeError:
            table.append(None)
            continue
        letter = char.lower() if unicodedata.category(char)[0] == "L" else ""
        bad = not letter and _verdict(char, " ", " ") == _BAD
        table.append((letter, bad, char == _cp1252_char(byte)))
    return tuple(table)


def _reading_key(codec: str, counts: dict[int, int]) -> tuple[tuple[str, bool, bool] | None, ...]:
    table = _reading_table(codec)
    return tuple(table[byte - 0x80] for byte in sorted(counts))


def _reading_score(codec: str, counts: dict[int, int], evidence: int, bad: int) -> float | None:
    """The scorer's plausibility of a single-byte reading from byte counts alone; `bad` adds the context
    faults counted by the caller (none for a rival: its score is then optimistic). None if the reading
    fails to decode, or reads exactly as cp1252 (same text, same group)."""
    table = _reading_table(codec)
    letters: Counter[str] = Counter()
    same = codec != "cp1252"
    for byte, n in counts.items():
        entry = table[byte - 0x80]
        if entry is None:
            return None
        letter, alone_bad, as_cp1252 = entry
        same = same and as_cp1252
        if letter:
            letters[letter] += n
        elif alone_bad:
            bad += n
    if same:
        return None
    uncovered = letters.total() - _covered(letters) if letters else 0.0
    return max(0.0, 1.0 - (bad + uncovered) / evidence)
