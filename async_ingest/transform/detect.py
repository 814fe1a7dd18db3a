"""Decide the text encoding of a CSV file from a few sampled windows (no I/O here).

Order of decisions in :func:`detect`:

1. A byte order mark at offset 0 decides at once (UTF-32 checked before UTF-16).
2. UTF-16/32 without a BOM is recognised by its NUL-byte lanes (ASCII-range text leaves the high byte
   of every code unit zero), then confirmed by decoding.
3. Any other NUL byte means binary data (the convention of ``file`` and git): :class:`UndetectableEncoding`.
4. Pure ASCII -> ``utf-8`` (method ``ascii``); strictly valid UTF-8 -> ``utf-8``. Mostly valid UTF-8
   (a few bad bytes, or legacy rows appended to a UTF-8 export) is also ``utf-8``, with a lower
   confidence: the strict transcoder then stops at the exact offset of the damage instead of a code
   page silently garbling every valid sequence.
5. Plainly Western European text in cp1252 is decided from a byte histogram (:mod:`.western`);
   everything else goes on to step 6.
6. Legacy code pages. charset-normalizer proposes candidates from a bounded excerpt (the lines that hold
   non-ASCII bytes), but its first answer is not trusted: on Western European text with few accented
   letters it ranks neighbour code pages such as mac_iceland or cp1250 first (charset_normalizer #624).
   Its pick competes with every code page of :data:`PREFERENCE_ORDER` that decodes all samples strictly.

The parts: :mod:`.codecinfo` (codec facts, names, BOMs, the result types), :mod:`.regions` (sampled
windows, strict decoding, the UTF-8 check, the excerpt), :mod:`.western` (step 5), :mod:`.codepages`
(step 6), :mod:`.plausibility` (the score that decides step 6) and :mod:`.languages` (the alphabets it
uses). The names the rest of the package and the tests use are importable from here (``__all__``).
"""

from __future__ import annotations

from collections.abc import Sequence

from async_ingest.transform.codecinfo import (
    ASCII_DETECTION,
    NOT_FILE_ENCODINGS,
    CodecTraits,
    Detection,
    UndetectableEncoding,
    ascii_compatible,
    codec_traits,
    detect_bom,
    resolve_codec,
)
from async_ingest.transform.codepages import PREFERENCE_ORDER, _detect_legacy
from async_ingest.transform.plausibility import MIN_PLAUSIBILITY, _plausibility
from async_ingest.transform.regions import (
    EXCERPT_LIMIT,
    _decode_region,
    _decodes_all,
    _is_utf8,
    _Region,
    _utf8_evidence,
)
from async_ingest.units import KiB, MiB

__all__ = [
    "ASCII_DETECTION",
    "NOT_FILE_ENCODINGS",
    "PREFERENCE_ORDER",
    "SAMPLE_ALIGN",
    "SAMPLE_WINDOW",
    "SAMPLE_WINDOWS",
    "CodecTraits",
    "Detection",
    "UndetectableEncoding",
    "ascii_compatible",
    "codec_traits",
    "detect",
    "detect_bom",
    "forced",
    "resolve_codec",
    "sample_offsets",
]

SAMPLE_WINDOW = 1 * MiB  # bytes per sampled window
SAMPLE_WINDOWS = 8  # windows per file: head, tail and six in between
SAMPLE_ALIGN = 4 * KiB  # middle windows start on page boundaries, a multiple of every UTF-16/32 code unit

WIDE_PROBE = 64 * KiB  # head bytes examined for UTF-16/32 NUL lanes

# Text in UTF-16/32 has a zero high byte for every ASCII/Latin-1 character. CJK-heavy CSV still has
# delimiters, digits and newlines, hence the low bar; the low byte is zero only for U+xx00 characters.
WIDE_ZERO_LANE_MIN = 0.1
WIDE_OTHER_LANE_MAX = 0.02
UTF32_ZERO_LANE_MIN = 0.9  # UTF-32: the top byte is always zero, the next one outside the astral planes

UTF8_CONFIDENCE = 0.99  # valid multi-byte UTF-8 sequences almost never arise by chance
# Single-byte code pages give no valid multi-byte UTF-8 (an accented letter is followed by ASCII), CJK
# ones up to ~30% by chance. Share = valid sequences / (valid + invalid) when the file is not clean UTF-8.
DAMAGED_UTF8_MIN_VALID = 8  # valid multi-byte characters needed before damage is considered
DAMAGED_UTF8_MIN_SHARE = 0.9  # UTF-8 with a few bad bytes, whatever a code page would say
MIXED_UTF8_MIN_SHARE = 0.2  # UTF-8 mixed with legacy rows, unless a CJK code page reads it all


def sample_offsets(size: int, window: int = SAMPLE_WINDOW, count: int = SAMPLE_WINDOWS) -> list[int]:
    """Start offsets of windows spread across a file of `size` bytes: head (0), tail (size - window) and
    evenly in between (middle ones aligned down to SAMPLE_ALIGN); sorted, deduplicated, each window
    inside the file. A file of at most count * window bytes gives [0]: read it whole, it costs no more."""
    if size < 0 or window <= 0 or count < 1:
        raise ValueError(f"invalid sampling: size={size} window={window} count={count}")
    if size <= count * window or count == 1:
        return [0]
    last = size - window
    middle = (i * last // (count - 1) for i in range(1, count - 1))
    return sorted({0, last, *(offset - offset % SAMPLE_ALIGN for offset in middle)})


def forced(name: str, head: bytes = b"") -> Detection:
    """Detection for a user-chosen encoding. A BOM of that encoding at the head is still stripped, and the
    byte-order-sniffing 'utf-16'/'utf-32'/'utf-8-sig' become their explicit variants (Python's incremental
    UTF-16/32 decoders refuse a stream without BOM)."""
    codec = resolve_codec(name)
    bom = detect_bom(head)
    family = {"utf-8-sig": "utf-8", "utf-16": "utf-16", "utf-32": "utf-32"}.get(codec, codec)
    if bom is not None and bom[0].startswith(family):
        return Detection(bom[0], "forced", 1.0, bom[1])
    if codec in ("utf-16", "utf-32"):
        lanes = _wide_by_nul_lanes(head)
        chosen = lanes if lanes is not None and lanes.startswith(codec) else codec + "-le"
        return Detection(chosen, "forced", 1.0, b"")
    return Detection(family, "forced", 1.0, b"")


def detect(samples: Sequence[bytes], *, extra: Sequence[bytes] = ()) -> Detection:
    """Decide the encoding from sampled windows; samples[0] is the head of the file (offset 0).
    Windows other than the head, and `extra` regions (e.g. around a decode failure), may start and end
    mid-character: they are trimmed so a cut character does not count against an encoding."""
    regions = [_Region(bytes(data), index == 0) for index, data in enumerate(samples)]
    regions += [_Region(bytes(data), False, extra=True) for data in extra]
    regions = [region for region in regions if region.data]
    if not regions:
        return ASCII_DETECTION
    head = bytes(samples[0]) if samples else b""
    bom = detect_bom(head)
    if bom is not None:
        return Detection(bom[0], "bom", 1.0, bom[1])
    wide = _detect_wide(regions)
    if wide is not None:
        return wide
    if any(b"\x00" in region.data for region in regions):
        raise UndetectableEncoding("binary data: NUL bytes outside UTF-16/32 text")
    if all(region.data.isascii() for region in regions):
        return ASCII_DETECTION
    if _is_utf8(regions):
        return Detection("utf-8", "detected", UTF8_CONFIDENCE, b"")
    return _detect_not_utf8(regions)


# --- UTF-16/32 without BOM -------------------------------------------------------------------------


def _wide_by_nul_lanes(head: bytes) -> str | None:
    probe = head[:WIDE_PROBE]
    probe = probe[: len(probe) - len(probe) % 4]  # whole UTF-32 units, so lane k is byte k of each
    if not probe:
        return None
    zero = [probe[lane::4].count(0) / len(probe[lane::4]) for lane in range(4)]
    if min(zero[2], zero[3]) >= UTF32_ZERO_LANE_MIN and zero[0] <= WIDE_OTHER_LANE_MAX:
        return "utf-32-le"
    if min(zero[0], zero[1]) >= UTF32_ZERO_LANE_MIN and zero[3] <= WIDE_OTHER_LANE_MAX:
        return "utf-32-be"
    even, odd = (zero[0] + zero[2]) / 2, (zero[1] + zero[3]) / 2
    if odd >= WIDE_ZERO_LANE_MIN and even <= WIDE_OTHER_LANE_MAX:
        return "utf-16-le"
    if even >= WIDE_ZERO_LANE_MIN and odd <= WIDE_OTHER_LANE_MAX:
        return "utf-16-be"
    return None


def _detect_wide(regions: list[_Region]) -> Detection | None:
    if not regions[0].head:
        return None
    codec = _wide_by_nul_lanes(regions[0].data)
    if codec is None or not _decodes_all(codec, regions):
        return None
    text = _decode_region(codec, regions[0].data[:EXCERPT_LIMIT], head=True)
    score = _plausibility(text) if text is not None else 0.0
    if score < MIN_PLAUSIBILITY:
        return None  # e.g. an array of 16-bit integers: the NUL lanes fit, the text does not
    return Detection(codec, "detected", round(score, 3), b"")


def _detect_not_utf8(regions: list[_Region]) -> Detection:
    """Legacy code page, unless this is UTF-8 with damage: a few invalid bytes, or legacy rows appended
    to a UTF-8 export. A code page would garble every valid sequence, whereas UTF-8 makes the strict
    transcoder stop at the exact offset of the damage (or replace it when asked to)."""
    valid, share = _utf8_evidence(regions)
    if valid < DAMAGED_UTF8_MIN_VALID or share < MIXED_UTF8_MIN_SHARE:
        return _detect_legacy(regions)
    damaged = Detection("utf-8", "detected", round(UTF8_CONFIDENCE * share, 3), b"")
    if share >= DAMAGED_UTF8_MIN_SHARE:
        return damaged
    try:
        legacy = _detect_legacy(regions)
    except UndetectableEncoding:
        return damaged
    # CJK code pages form valid UTF-8 pairs by chance (up to ~30% of them); single-byte ones never do.
    return damaged if codec_traits(legacy.encoding).single_byte else legacy
