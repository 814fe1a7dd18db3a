"""Legacy code pages: the contest between charset-normalizer's pick and every code page of
:data:`PREFERENCE_ORDER` that decodes all samples strictly, after the cp1252 shortcut of :mod:`.western`.

charset-normalizer proposes candidates from a bounded excerpt (the lines that hold
non-ASCII bytes), but its first answer is not trusted: on Western European text with few accented
letters it ranks neighbour code pages such as mac_iceland or cp1250 first (charset_normalizer #624).

Decodings that produce the same text form one group; the most plausible group wins. On a tie the group
holding the detector's pick wins (its letter statistics see what an alphabet cannot, e.g. lower-case-only
KOI8-R against cp1251), otherwise the earliest code page of :data:`PREFERENCE_ORDER`. Within the winning
group the earliest code page is reported (cp1252 rather than latin-1 for identical text). A multi-byte
codec that decodes to different text never replaces the detector's multi-byte pick: telling one Han
reading from another needs the detector's frequency model, not an alphabet.

Each candidate reading is scored by :func:`.plausibility._plausibility`. For a short excerpt the evidence
bytes with their neighbours are cut out once (:func:`_byte_contexts`) and each single-byte code page only
decodes those, instead of every reading being scanned again."""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from async_ingest.transform.codecinfo import Detection, UndetectableEncoding, ascii_compatible, codec_traits
from async_ingest.transform.plausibility import _EVIDENCE, MIN_PLAUSIBILITY, SCORED_CHARS_MAX, _plausibility
from async_ingest.transform.regions import (
    _HIGH_BYTES,
    EXCERPT_LIMIT,
    _decode_region,
    _decodes_all,
    _distinct_high_bytes,
    _excerpt,
    _Region,
)
from async_ingest.transform.western import _western_shortcut

TIE_TOLERANCE = 1e-9  # plausibility differences below this are ties
DETECTOR_MIN_EVIDENCE = 32  # non-ASCII bytes below which charset-normalizer's pick gets no say on ties

# The scorer's evidence characters with their neighbours, as bytes; decoded back 3 characters at a time.
_EVIDENCE_TRIPLE_BYTES = re.compile(rb"(?=(.[^\t\n\r\x20-\x7e].))", re.DOTALL)
_THREE_CHARS = re.compile(".{3}", re.DOTALL)

# Documented order for ties. Western code pages first: cp1252 is a superset of latin-1's printable
# characters (latin-1's 0x80-0x9F are C1 controls, never real text); iso8859-15 before latin-1 because
# it differs only where latin-1 holds filler (¤ ¦ ¨ ´ ¸ ¼ ½ ¾). Then Central European, Baltic,
# Turkish, Cyrillic, Greek, Hebrew, Arabic, Thai, DOS/Mac Western, then CJK with the superset first
# where its mappings are identical (gb18030 > gbk; cp949 > euc_kr), so a later region needing the
# superset does not fail mid-stream.
PREFERENCE_ORDER: tuple[str, ...] = (
    "utf-8",
    "cp1252",
    "iso8859-15",
    "iso8859-1",
    "cp1250",
    "iso8859-2",
    "cp1257",
    "iso8859-13",
    "cp1254",
    "iso8859-9",
    "cp1251",
    "koi8-r",
    "koi8-u",
    "iso8859-5",
    "cp866",
    "mac-cyrillic",
    "cp1253",
    "iso8859-7",
    "cp1255",
    "iso8859-8",
    "cp1256",
    "iso8859-6",
    "cp874",
    "mac-roman",
    "cp850",
    "cp437",
    "gb18030",
    "gbk",
    "gb2312",
    "big5",
    "cp950",
    "big5hkscs",
    "shift_jis",
    "cp932",
    "euc_jp",
    "cp949",
    "euc_kr",
)

# Codecs charset-normalizer should not propose: wide and 7-bit stateful encodings turn 8-bit text into
# plausible-looking ideographs; UTF-16/32 are handled by BOM and NUL lanes instead.
_DETECTOR_EXCLUDED = ["utf_16", "utf_16_le", "utf_16_be", "utf_32", "utf_32_le", "utf_32_be", "utf_7"]

# --- legacy code pages --------------------------------------------------------------------------------


@dataclass
class _Group:
    """Candidate codecs that decode the excerpt to the same text."""

    text: str
    codecs: list[str]
    source: str  # the codec that decoded the excerpt to `text`
    plausibility: float = 0.0


def _detector_groups(payload: bytes) -> list[list[str]]:
    """charset-normalizer's candidates, best first; each entry lists codecs giving identical text."""
    if not payload:
        return []
    # Imported on first use: ASCII, UTF-8 and Western files never need it, and it is 4 MB resident.
    from charset_normalizer import from_bytes

    matches = from_bytes(payload, cp_exclusion=_DETECTOR_EXCLUDED, preemptive_behaviour=False)
    groups: list[list[str]] = []
    for match in matches:
        names: list[str] = []
        for name in match.could_be_from_charset:
            try:
                canonical = codecs.lookup(name).name
            except LookupError:
                continue
            if ascii_compatible(canonical) and canonical not in names:
                names.append(canonical)
        if names:
            groups.append(names)
    return groups


def _decode_pieces(codec: str, pieces: Sequence[bytes]) -> str | None:
    # Pieces start and end on character boundaries, so the joined excerpt decodes as a whole; it is also
    # exactly what the detector decoded.
    return _decode_region(codec, b"\n".join(pieces), head=True)


def _detect_legacy(regions: list[_Region]) -> Detection:
    high_bytes = _distinct_high_bytes(regions)
    small = sum(len(region.data) for region in regions) <= EXCERPT_LIMIT
    # A small file is its own excerpt for a single-byte reading: no need to cut it into lines first.
    pieces = [] if small else _excerpt(regions)
    sample = b"\n".join(region.data for region in regions) if small else b"\n".join(pieces)
    western = _western_shortcut(sample, high_bytes)
    if western is not None:
        return western
    pieces = pieces or _excerpt(regions)
    detector = _detector_groups(b"\n".join(pieces))
    pick = _first_valid_group(detector, regions, high_bytes)
    evidence = sum(len(piece) - len(piece.translate(None, _HIGH_BYTES)) for piece in pieces)
    # With a handful of bytes the detector's statistics mean nothing: its pick then merely competes.
    trusted = bool(pick) and evidence >= DETECTOR_MIN_EVIDENCE
    groups = _contender_groups(pieces, regions, high_bytes, pick, trusted)
    if not groups:
        raise UndetectableEncoding("no text encoding decodes these bytes (binary data?)")
    rank = _rank(detector)
    best = _choose(groups, pick if trusted else [], rank)
    codec = min(best.codecs, key=lambda name: rank[name])
    if best.plausibility < MIN_PLAUSIBILITY:
        raise UndetectableEncoding(
            f"no text encoding fits (best guess {codec} reads as garbage, score {best.plausibility:.2f})"
        )
    return Detection(codec, "detected", round(best.plausibility, 3), b"")


def _first_valid_group(
    detector: Sequence[Sequence[str]], regions: Sequence[_Region], high_bytes: bytes
) -> list[str]:
    """The detector's best candidate group, restricted to codecs that decode every region: it saw only
    the excerpt."""
    for group in detector:
        valid = [codec for codec in group if _decodes_all(codec, regions, high_bytes)]
        if valid:
            return valid
    return []


def _rank(detector: Sequence[Sequence[str]]) -> dict[str, int]:
    """Tie order: PREFERENCE_ORDER, then the detector's order for codecs it lists and we do not."""
    rank = {codec: index for index, codec in enumerate(PREFERENCE_ORDER)}
    for position, group in enumerate(detector):
        for codec in group:
            rank.setdefault(codec, len(PREFERENCE_ORDER) + position)
    return rank


def _contender_groups(
    pieces: Sequence[bytes],
    regions: Sequence[_Region],
    high_bytes: bytes,
    pick: Sequence[str],
    trusted: bool,
) -> list[_Group]:
    pick_text = _decode_pieces(pick[0], pieces) if pick else None
    by_text: dict[str, _Group] = {}
    for codec in dict.fromkeys([*pick, *PREFERENCE_ORDER[1:]]):
        text = pick_text if codec in pick else _decode_pieces(codec, pieces)
        if text is None:
            continue
        if trusted and text != pick_text and not codec_traits(codec).single_byte:
            continue  # whether the text is CJK at all, and which CJK, is the detector's call
        if codec not in pick and not _decodes_all(codec, regions, high_bytes):
            continue  # checked last: for a multi-byte codec it decodes every sampled byte
        source = pick[0] if codec in pick else codec
        by_text.setdefault(text, _Group(text, [], source)).codecs.append(codec)
    contexts = _byte_contexts(b"\n".join(pieces)) if by_text else None
    for group in by_text.values():
        group.plausibility = _plausibility(group.text, _decoded_contexts(group.source, group.text, contexts))
    return list(by_text.values())


@dataclass(frozen=True)
class _ByteContexts:
    """The distinct 3-byte contexts of the evidence bytes of an excerpt, joined, and their counts."""

    joined: bytes
    counts: list[int]


def _byte_contexts(excerpt: bytes) -> _ByteContexts | None:
    """Each evidence byte with its neighbours, counted (the excerpt padded with spaces, as the scorer pads
    its text). A single-byte code page decodes these to the scorer's 3-character contexts: the excerpt is
    cut once, not once per candidate reading. None for an excerpt the scorer samples instead."""
    if len(excerpt) > SCORED_CHARS_MAX:
        return None
    contexts = Counter(_EVIDENCE_TRIPLE_BYTES.findall(b" " + excerpt + b" "))
    return _ByteContexts(b"".join(contexts), list(contexts.values())) if contexts else None


def _decoded_contexts(codec: str, text: str, contexts: _ByteContexts | None) -> dict[str, int] | None:
    """The scorer's 3-character contexts of `text` (`codec`'s reading of the excerpt) from the byte
    contexts, or None when they cannot be had that way (a multi-byte codec, a long text)."""
    if contexts is None or len(text) > SCORED_CHARS_MAX or not _keeps_evidence(codec):
        return None
    triples = _THREE_CHARS.findall(contexts.joined.decode(codec))
    decoded = dict(zip(triples, contexts.counts, strict=True))
    if len(decoded) == len(triples):
        return decoded
    merged: Counter[str] = Counter()  # two bytes read as one character: their contexts merge
    for triple, count in zip(triples, contexts.counts, strict=True):
        merged[triple] += count
    return merged


@lru_cache(maxsize=64)
def _keeps_evidence(codec: str) -> bool:
    """Whether `codec` reads byte by byte with an evidence character for exactly the evidence bytes (ASCII
    as itself, every decodable byte >= 0x80 as a non-ASCII character): then its 3-character contexts are
    its reading of the byte contexts."""
    traits = codec_traits(codec)
    if not (traits.single_byte and traits.ascii_compatible):
        return False
    high = bytes(range(0x80, 0x100)).decode(codec, errors="ignore")
    return not _EVIDENCE.sub("", high)


def _choose(groups: Sequence[_Group], pick: Sequence[str], rank: dict[str, int]) -> _Group:
    """Most plausible group; ties go to the detector's pick, then to PREFERENCE_ORDER."""
    top = max(group.plausibility for group in groups)
    tied = [group for group in groups if group.plausibility >= top - TIE_TOLERANCE]
    for group in tied:
        if pick and pick[0] in group.codecs:
            return group
    return min(tied, key=lambda group: min(rank[codec] for codec in group.codecs))
