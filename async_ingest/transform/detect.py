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
5. Plainly Western European text in cp1252 is decided from a byte histogram (:func:`_western_shortcut`);
   everything else goes on to step 6.
6. Legacy code pages. charset-normalizer proposes candidates from a bounded excerpt (the lines that hold
   non-ASCII bytes), but its first answer is not trusted: on Western European text with few accented
   letters it ranks neighbour code pages such as mac_iceland or cp1250 first (charset_normalizer #624).
   Its pick competes with every code page of :data:`PREFERENCE_ORDER` that decodes all samples strictly.

Plausibility score (why it can overrule the detector). Only the non-ASCII and control characters of a
decoding carry evidence: ASCII decodes identically under every candidate. Each such character scores 1
or 0, and the mean is the plausibility (0..1):

* 0 for controls, unassigned and private-use code points (a C1 control from 0x80-0x9F is never text),
  and for spacing diacritics or the currency sign ``¤`` that exist only as code page filler;
* 0 for a symbol or punctuation mark glued inside a word (``Kinos‰le`` is mac_roman misreading ``ä``);
* 0 for an uppercase letter right after a lowercase one (``cafÈ``; KOI8-R read as cp1251 flips case);
* 0 for a letter touching a letter of another alphabet (``Mьnchen``), or a CJK character wedged
  inside a Latin word (a multi-byte codec swallowing ``é`` plus the next ASCII letter);
* a letter scores 1 only if it belongs to the alphabet of the best covering language (1/2 if only a
  second language has it): Czech read as cp1252 gives ``ø è ì ò`` next to ``š ž``, which no language
  writes together, whereas cp1250 gives Czech. The contest also credits the other languages of the best
  language's region at REGION_LANGUAGE_WEIGHT (mixed-language files), and counts a word whose non-ASCII
  letters share no language (``Ćrř``) as MIXED_WORD_WEIGHT bad characters.
  A language of LANGUAGE_MARKERS is credited only if one of its marker letters is present (Turkish
  read as cp1252 is Icelandic ``ð ý þ`` without an Icelandic vowel).

Decodings that produce the same text form one group; the most plausible group wins. On a tie the group
holding the detector's pick wins (its letter statistics see what an alphabet cannot, e.g. lower-case-only
KOI8-R against cp1251), otherwise the earliest code page of :data:`PREFERENCE_ORDER`. Within the winning
group the earliest code page is reported (cp1252 rather than latin-1 for identical text). A multi-byte
codec that decodes to different text never replaces the detector's multi-byte pick: telling one Han
reading from another needs the detector's frequency model, not an alphabet.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

KiB = 1024
MiB = 1024 * KiB

SAMPLE_WINDOW = 1 * MiB  # bytes per sampled window
SAMPLE_WINDOWS = 8  # windows per file: head, tail and six in between
SAMPLE_ALIGN = 4 * KiB  # middle windows start on page boundaries, a multiple of every UTF-16/32 code unit

EXCERPT_LIMIT = 64 * KiB  # bytes of non-ASCII-bearing lines given to charset-normalizer and the scorer
UTF8_CHECK_SLICE = 64 * KiB  # bytes decoded at a time when checking windows for UTF-8
LINE_CONTEXT = 256  # bytes kept either side of a non-ASCII run when its line is longer than that
WIDE_PROBE = 64 * KiB  # head bytes examined for UTF-16/32 NUL lanes
SCAN_BLOCK = 4 * KiB  # pure-ASCII blocks of this size are skipped when looking for non-ASCII lines
SCORED_CHARS_MAX = 4096  # evidence characters scored per candidate; more adds time, not accuracy
SCORE_SLICES = 16  # the scored characters are drawn evenly from this many slices of the excerpt

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
MIN_PLAUSIBILITY = 0.6  # below this the best decoding is judged garbage: the file is treated as binary
SECOND_LANGUAGE_WEIGHT = 0.5  # a letter only a second (third...) language explains counts half
REGION_LANGUAGE_WEIGHT = 0.8  # ... and one of the same region as the best language counts nearly full
MIXED_WORD_WEIGHT = 2.0  # a word mixing two languages' letters (`Ćrř`) counts as two bad characters
_LATIN_END = "\u0250"  # first code point after Latin Extended-B
WORD_GAP_MAX = 24  # ASCII letters between two non-ASCII letters of one word, at most
TIE_TOLERANCE = 1e-9  # plausibility differences below this are ties
DETECTOR_MIN_EVIDENCE = 32  # non-ASCII bytes below which charset-normalizer's pick gets no say on ties

# Every byte below 0x30 stands alone in all supported ASCII-compatible codecs: UTF-8 continuation bytes
# are >= 0x80 and CJK trail bytes >= 0x30 (GB18030 digits) or >= 0x40. Decoding can resume after one.
_SYNC_BYTE = re.compile(rb"[\x00-\x2f]")
_NON_ASCII_RUN = re.compile(rb"[\x80-\xff]+")
_HIGH_BYTES = bytes(range(0x80, 0x100))
_ASCII_BYTES = bytes(range(0x80))
_REPLACEMENT_UTF8 = "\ufffd".encode()
_EVIDENCE = re.compile(r"[^\t\n\r\x20-\x7e]")  # characters whose reading differs between candidates

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

# BOMs, longest first: FF FE 00 00 is UTF-32-LE, not UTF-16-LE followed by a NUL character.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Codecs charset-normalizer should not propose: wide and 7-bit stateful encodings turn 8-bit text into
# plausible-looking ideographs; UTF-16/32 are handled by BOM and NUL lanes instead.
_DETECTOR_EXCLUDED = ["utf_16", "utf_16_le", "utf_16_be", "utf_32", "utf_32_le", "utf_32_be", "utf_7"]


@dataclass(frozen=True)
class Detection:
    encoding: str  # Python codec name as codecs.lookup() spells it
    method: str  # "bom" | "detected" | "forced" | "ascii"
    confidence: float  # 0.0..1.0
    bom: bytes  # BOM at the start of the file, to strip (b"" if none)


ASCII_DETECTION = Detection("utf-8", "ascii", 1.0, b"")


class UndetectableEncoding(ValueError):
    """No text encoding fits the sampled bytes (binary data, or garbage in every candidate)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CodecTraits:
    name: str
    ascii_compatible: bool  # an idle decoder maps every ASCII byte to itself and stays idle
    single_byte: bool  # every byte decodes on its own; no state carries between bytes
    unit: int  # code unit size in bytes: 2 for UTF-16, 4 for UTF-32, else 1


@lru_cache(maxsize=256)
def codec_traits(name: str) -> CodecTraits:
    """Properties of a codec measured on its own decoder, so no hand-kept list can go stale."""
    canonical = codecs.lookup(name).name
    unit = 4 if canonical.startswith("utf-32") else 2 if canonical.startswith("utf-16") else 1
    return CodecTraits(canonical, _maps_ascii_to_itself(canonical), _decodes_byte_by_byte(canonical), unit)


def ascii_compatible(name: str) -> bool:
    """True if pure-ASCII bytes decode to themselves from an idle decoder (cp1252, shift_jis, gb18030...),
    false for UTF-16/32, EBCDIC, UTF-7 and the ISO-2022 family whose escapes change the meaning of ASCII."""
    return codec_traits(name).ascii_compatible


def _maps_ascii_to_itself(name: str) -> bool:
    decoder = codecs.getincrementaldecoder(name)(errors="strict")
    idle = decoder.getstate()
    try:
        for byte in range(0x80):
            if decoder.decode(bytes((byte,))) != chr(byte) or decoder.getstate() != idle:
                return False
    except (UnicodeError, ValueError):
        return False
    return True


def _decodes_byte_by_byte(name: str) -> bool:
    factory = codecs.getincrementaldecoder(name)
    for byte in range(0x100):
        decoder = factory(errors="strict")
        try:
            if len(decoder.decode(bytes((byte,)))) != 1:
                return False
        except UnicodeDecodeError:
            continue  # an unmapped byte is still a single byte
        except (UnicodeError, ValueError):
            return False
    return True


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


def detect_bom(head: bytes) -> tuple[str, bytes] | None:
    """(codec, bom) if `head` starts with a byte order mark. The codecs are the BOM-less variants
    ('utf-16-le', not 'utf-16') because the caller strips the BOM itself."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, bom
    return None


# Codecs Python counts as text encodings that are not a character set a CSV is written in: escape
# and transform codecs that rewrite the data (unicode_escape turns a literal "C:\new" into a line
# break), IDNA/Punycode (host names), UTF-7 (a mail transfer form), and two placeholders.
NOT_FILE_ENCODINGS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "utf-7", "idna", "punycode", "charmap", "undefined"}
)


def resolve_codec(name: str) -> str:
    """Validate a user-supplied encoding name; return its canonical Python codec name."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}") from None
    # _is_text_encoding is False for bytes-to-bytes and str-to-str codecs (base64, zlib, rot13...).
    if not getattr(info, "_is_text_encoding", True) or info.name in NOT_FILE_ENCODINGS:
        raise ValueError(f"{name!r} is not a text encoding a CSV file can be read in")
    return info.name


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


@dataclass(frozen=True)
class _Region:
    data: bytes
    head: bool  # starts at file offset 0 (else it may start mid-character)
    extra: bool = False  # passed by the caller as especially telling (e.g. around a decode failure)


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


# --- strict decoding of (possibly cut) regions ------------------------------------------------------


def _sync_start(data: bytes) -> int | None:
    """Offset just after the first byte that stands alone in every ASCII-compatible codec."""
    found = _SYNC_BYTE.search(data)
    return None if found is None else found.end()


def _start_candidates(codec: str, data: bytes, head: bool) -> Sequence[int]:
    if head:
        return (0,)
    traits = codec_traits(codec)
    if traits.single_byte:
        return (0,)
    if traits.unit > 1:
        # Alignment unknown for `extra` regions; +2 also skips a cut UTF-16 surrogate pair.
        return range(traits.unit + 2) if traits.unit == 2 else range(traits.unit)
    start = _sync_start(data) if traits.ascii_compatible else None
    return (start,) if start is not None else range(4)


def _decode_region(codec: str, data: bytes, head: bool) -> str | None:
    """Decoded text of a region, or None if it does not decode. The end is decoded with final=False so
    a character cut by the window edge stays pending instead of failing."""
    factory = codecs.getincrementaldecoder(codec)
    for start in _start_candidates(codec, data, head):
        try:
            return str(factory(errors="strict").decode(data[start:], final=False))
        except (UnicodeError, ValueError):
            continue
    return None


def _decodes_all(codec: str, regions: Sequence[_Region], high_bytes: bytes | None = None) -> bool:
    traits = codec_traits(codec)
    if high_bytes is not None and traits.single_byte and traits.ascii_compatible:
        # Stateless and ASCII-safe: valid iff every distinct non-ASCII byte maps to a character.
        try:
            high_bytes.decode(codec)
        except UnicodeDecodeError:
            return False
        return True
    return all(_decode_region(codec, region.data, region.head) is not None for region in regions)


def _is_utf8(regions: Sequence[_Region]) -> bool:
    """Valid UTF-8 with at least one complete multi-byte character: a lone lead byte left pending at the
    end ("café" in cp1252 ends with 0xE9) is no evidence for UTF-8."""
    multibyte = False
    for region in regions:
        found = _utf8_region(region.data, region.head)
        if found is None:
            return False
        multibyte = multibyte or found
    return multibyte


def _utf8_region(data: bytes, head: bool) -> bool | None:
    """None if the region is not UTF-8, else whether it holds a complete multi-byte character.

    Checked slice by slice: eight whole windows decoded at once made up to 32 MiB of str, a peak
    that added to the memory of the files already uploading."""
    view = memoryview(data)
    for start in _start_candidates("utf-8", data, head):
        decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        multibyte = False
        try:
            for offset in range(start, len(data), UTF8_CHECK_SLICE):
                text = decoder.decode(view[offset : offset + UTF8_CHECK_SLICE], final=False)
                multibyte = multibyte or not text.isascii()
        except UnicodeDecodeError:
            continue
        return multibyte
    return None


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


def _utf8_evidence(regions: Sequence[_Region]) -> tuple[int, float]:
    """(valid multi-byte UTF-8 characters, their share among valid + invalid sequences)."""
    valid = invalid = 0
    for region in regions:
        start = 0 if region.head else (_sync_start(region.data) or 0)
        data = region.data[start:]
        text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=False)
        replaced = text.count("\ufffd") - data.count(_REPLACEMENT_UTF8)
        ascii_count = len(data) - len(data.translate(None, _ASCII_BYTES))
        valid += len(text) - ascii_count - replaced
        invalid += replaced
    return valid, valid / max(1, valid + invalid)


def _distinct_high_bytes(regions: Sequence[_Region]) -> bytes:
    present: set[int] = set()
    for region in regions:
        present.update(region.data.translate(None, _ASCII_BYTES))
    return bytes(sorted(present))


# --- excerpt of non-ASCII-bearing lines -------------------------------------------------------------


def _region_span(region: _Region, keep_tail: bool) -> tuple[int, int]:
    data = region.data
    low = 0 if region.head else (_sync_start(data) or len(data))
    # A trailing non-ASCII run may be a character cut by the window edge; strict decoders reject it.
    high = len(data) if keep_tail else len(data.rstrip(_HIGH_BYTES))
    return low, max(low, high)


def _last_sync_end(data: bytes, low: int, high: int) -> int | None:
    last = None
    for found in _SYNC_BYTE.finditer(data, low, high):
        last = found.end()
    return last


def _non_ascii_runs(data: bytes, low: int, high: int) -> Iterator[re.Match[bytes]]:
    # bytes.isascii() skips ASCII blocks ~100x faster than the regex scans them.
    for block in range(low, high, SCAN_BLOCK):
        end = min(block + SCAN_BLOCK, high)
        if not data[block:end].isascii():
            yield from _NON_ASCII_RUN.finditer(data, block, end)


def _pieces(data: bytes, low: int, high: int, budget: int) -> Iterator[bytes]:
    """Lines holding non-ASCII bytes (trimmed to LINE_CONTEXT around the run when longer)."""
    done = low
    for run in _non_ascii_runs(data, low, high):
        if run.start() < done:
            continue
        start = max(done, data.rfind(b"\n", low, run.start()) + 1)
        if run.start() - start > LINE_CONTEXT:
            start = _last_sync_end(data, run.start() - LINE_CONTEXT, run.start()) or run.start()
        newline = data.find(b"\n", run.end(), high)
        end = high if newline < 0 else newline + 1
        if end - run.end() > LINE_CONTEXT:
            sync = _SYNC_BYTE.search(data, run.end(), run.end() + LINE_CONTEXT)
            end = sync.start() if sync is not None else end
        yield data[start:end]
        done = end
        budget -= end - start
        if budget <= 0:
            return


def _excerpt(regions: Sequence[_Region], keep_tail: bool = False) -> list[bytes]:
    budget = max(LINE_CONTEXT, EXCERPT_LIMIT // len(regions))
    # `extra` regions (around a decode failure) carry the most telling bytes, then the head: take them first.
    ordered = sorted(regions, key=lambda region: (not region.extra, not region.head))
    pieces: list[bytes] = []
    for region in ordered:
        low, high = _region_span(region, keep_tail)
        pieces.extend(_pieces(region.data, low, high, budget))
    if not keep_tail and all(piece.isascii() for piece in pieces):
        return _excerpt(regions, keep_tail=True)  # e.g. a whole small file ending in "café"
    return pieces


# --- plausibility scoring ---------------------------------------------------------------------------


def _letters(first: int, last: int) -> str:
    return "".join(chr(code) for code in range(first, last + 1) if chr(code).isalpha())


# Non-ASCII lowercase letters each language writes. Coverage of the decoded letters by these alphabets
# is what separates code pages that all yield "letters" (cp1250 vs cp1252, koi8-r vs cp1251 by case).
LANGUAGE_ALPHABETS: dict[str, frozenset[str]] = {
    name: frozenset(letters)
    for name, letters in {
        "portuguese": "áâãàçéêíóôõúüªº",
        "spanish": "áéíóúñüªº",
        "french": "àâæçéèêëîïôœùûüÿ",
        "german": "äöüß",
        "italian": "àèéìíîòóùúªº",
        "catalan": "àçéèíïòóúüªº",
        "dutch": "áéèëïóöü",
        "danish_norwegian": "æøåéóü",
        "swedish_finnish": "åäöéšž",
        "icelandic": "áðéíóúýþæö",
        "estonian": "äöõüšž",
        "czech": "áčďéěíňóřšťúůýž",
        "slovak": "áäčďéíĺľňóôŕšťúýž",
        "polish": "ąćęłńóśźż",
        "hungarian": "áéíóöőúüű",
        "romanian": "ăâîșțşţ",
        "croatian_slovene": "čćđšž",
        "turkish": "çğıöşüâî",
        "lithuanian": "ąčęėįšųūž",
        "latvian": "āčēģīķļņšūž",
        "albanian": "çë",
        "russian": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        "ukrainian": "абвгґдеєжзиіїйклмнопрстуфхцчшщьюяʼ",
        "belarusian": "абвгдеёжзійклмнопрстуўфхцчшыьэюя",
        "bulgarian": "абвгдежзийклмнопрстуфхцчшщъьюя",
        "serbian_macedonian": "абвгдђѓежзѕијклљмнњопрстћќуфхцчџш",
        "greek": "αβγδεζηθικλμνξοπρσςτυφχψωάέήίόύώϊϋΐΰ",
        "hebrew": _letters(0x05D0, 0x05EA),
        "arabic": _letters(0x0620, 0x064A) + "پچژکگی",
        "thai": _letters(0x0E01, 0x0E4E),
    }.items()
}
LANGUAGE_ALPHABETS["turkish"] |= {"İ".lower()}  # two code points, a dotted i: no letter of the string

_CJK_SCRIPTS = frozenset(
    {"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "HALFWIDTH", "FULLWIDTH", "IDEOGRAPHIC", "BOPOMOFO"}
)
_ALPHABETIC_SCRIPTS = frozenset({"LATIN", "GREEK", "CYRILLIC", "HEBREW", "ARABIC", "THAI", "ARMENIAN"})
_SCRIPT_ALIASES = {"FEMININE": "LATIN", "MASCULINE": "LATIN"}  # ª º
# Code page filler that real text practically never uses (iso8859-15 replaced most of them).
_FILLER = frozenset("¤¦¨´¸¯ˆ˜")
_INWORD_PUNCTUATION = frozenset("’‘ʼ'·-")  # apostrophes and the Catalan middle dot sit inside words
_ORDINALS = frozenset("ºª")  # letters (category Lo) that end a word: "1º", "nº", "2ª"

_BAD, _NEUTRAL, _LETTER = 0, 1, 2


@lru_cache(maxsize=8192)
def _script(char: str) -> str:
    word = unicodedata.name(char, "").split(" ", 1)[0]
    word = _SCRIPT_ALIASES.get(word, word)
    return "CJK" if word in _CJK_SCRIPTS else word


def _is_alpha_letter(char: str) -> bool:
    """A letter of a space-separated alphabet (CJK text has no words to be 'inside' of)."""
    return char.isalpha() and _script(char) != "CJK"


def _foreign(script: str, neighbour: str) -> bool:
    other = _script(neighbour) if _is_alpha_letter(neighbour) else script
    return other != script and other in _ALPHABETIC_SCRIPTS and script in _ALPHABETIC_SCRIPTS


@lru_cache(maxsize=65536)  # real text repeats its letter contexts: most lookups hit
def _verdict(char: str, left: str, right: str) -> int:
    category = unicodedata.category(char)
    if category in ("Cc", "Cn", "Co", "Cs") or category == "Sk" or char in _FILLER:
        return _BAD
    if category[0] == "L":
        return _letter_verdict(char, category, left, right)
    if category[0] == "M":
        # A mark belongs on a letter of its own script: a Hebrew point on a Latin letter is cp1255
        # misreading UTF-8. Generic combining accents (U+0300...) fit any base.
        mark_script = _script(char)
        fits = mark_script in ("COMBINING", _script(left))
        return _NEUTRAL if left.isalpha() and fits else _BAD
    glued = _is_alpha_letter(left) and _is_alpha_letter(right)
    if glued and char not in _INWORD_PUNCTUATION:
        return _BAD
    if category in ("So", "Sm", "Sc") and right.islower():
        return _BAD  # "©uąterąič" (ISO-8859-2 "Šušteršič" read as Windows-1250): a symbol opens no word
    if category in ("So", "Sm") and (_is_symbol_run(left) or _is_symbol_run(right)):
        return _BAD  # box drawing from a DOS code page, not text: real symbols stand alone ("© 2001")
    return _NEUTRAL


def _is_symbol_run(neighbour: str) -> bool:
    return not neighbour.isascii() and unicodedata.category(neighbour) in ("So", "Sm")


def _letter_verdict(char: str, category: str, left: str, right: str) -> int:
    script = _script(char)
    if script == "CJK":
        enclosed = _is_alpha_letter(left) and _is_alpha_letter(right)
        return _BAD if enclosed else _NEUTRAL
    if category in ("Lu", "Lt") and unicodedata.category(left) == "Ll":
        return _BAD
    if _foreign(script, left) or _foreign(script, right):
        return _BAD
    if char in "ðÐ" and not _is_alpha_letter(left):
        return _BAD  # "ðalis" (Lithuanian š read as Windows-1252): no Icelandic word starts with ð
    if char in _ORDINALS and _is_alpha_letter(right):
        return _BAD  # "Piteºti" (Romanian ş read as ISO-8859-15): an ordinal follows a number or "n", no word
    return _LETTER


_ALPHABETS = tuple(LANGUAGE_ALPHABETS.values())

# Code page regions whose languages share files (German names turn up in Central European ones too).
LANGUAGE_REGIONS: dict[str, frozenset[str]] = {
    "western": frozenset(
        {
            "portuguese",
            "spanish",
            "french",
            "german",
            "italian",
            "catalan",
            "dutch",
            "danish_norwegian",
            "swedish_finnish",
            "icelandic",
            "albanian",
        }
    ),
    "central": frozenset(
        {"czech", "slovak", "polish", "hungarian", "romanian", "croatian_slovene", "german", "albanian"}
    ),
    "baltic": frozenset({"estonian", "lithuanian", "latvian", "swedish_finnish", "german"}),
    "cyrillic": frozenset({"russian", "ukrainian", "belarusian", "bulgarian", "serbian_macedonian"}),
}
_LANGUAGE_INDEX = {name: index for index, name in enumerate(LANGUAGE_ALPHABETS)}
_REGION_MEMBERS = tuple(
    tuple(_LANGUAGE_INDEX[name] for name in sorted(members)) for members in LANGUAGE_REGIONS.values()
)
# A language credited only if the text has one of these letters: Turkish read as Windows-1252 gives ð ý þ
# (from ğ ı ş) next to ö ü ç, all Icelandic, but Icelandic text without one accented vowel is rare.
LANGUAGE_MARKERS = {"icelandic": frozenset("áéíóúæ")}
_MARKED = tuple((_LANGUAGE_INDEX[name], markers) for name, markers in LANGUAGE_MARKERS.items())


def _masked(letters: Counter[str]) -> frozenset[int]:
    """Indexes of the languages none of whose LANGUAGE_MARKERS is among the letters."""
    return frozenset(index for index, markers in _MARKED if markers.isdisjoint(letters))


def _languages_of(letter: str, masked: frozenset[int]) -> tuple[int, ...]:
    found = _alphabets_of(letter)
    return tuple(index for index in found if index not in masked) if masked else found


@lru_cache(maxsize=4096)
def _alphabets_of(letter: str) -> tuple[int, ...]:
    """Indexes in _ALPHABETS of the alphabets holding the letter."""
    return tuple(index for index, alphabet in enumerate(_ALPHABETS) if letter in alphabet)


def _covered(letters: Counter[str]) -> float:
    """Letters explained by the best language plus, at half weight, by the best second language."""
    # Each letter adds its count to the alphabets that hold it: the few letters present are looked
    # up once each, not every alphabet intersected (~30 of them) twice. LANGUAGE_MARKERS are the
    # contest's (:func:`_covered_by_languages`): the shortcut never accepts Icelandic ð þ ý anyway.
    totals = [0] * len(_ALPHABETS)
    for letter, count in letters.items():
        for index in _alphabets_of(letter):
            totals[index] += count
    return _one_and_a_half(letters, totals, frozenset())


def _one_and_a_half(letters: Counter[str], totals: list[int], masked: frozenset[int]) -> float:
    top = max(totals)
    best = _ALPHABETS[totals.index(top)]  # the first best language, as max() picks it
    seconds = [0] * len(_ALPHABETS)
    for letter, count in letters.items():
        if letter not in best:
            for index in _languages_of(letter, masked):
                seconds[index] += count
    return top + SECOND_LANGUAGE_WEIGHT * max(seconds)


def _covered_by_languages(letters: Counter[str]) -> float:
    """The contest's coverage: the better of :func:`_covered` (one language and a half) and, for each
    region of LANGUAGE_REGIONS, its best language in full plus the letters only its other languages
    explain at REGION_LANGUAGE_WEIGHT. Files mix the languages of one code page's region (a customer list
    with Portuguese, Danish and French names): with one language and a half, the true reading of such a
    file scored as garbage and a neighbour code page won."""
    masked = _masked(letters)
    totals = [0] * len(_ALPHABETS)
    regional = [0] * len(LANGUAGE_REGIONS)
    for letter, count in letters.items():
        languages, regions = _letter_languages(letter, masked)
        for index in languages:
            totals[index] += count
        for index in regions:
            regional[index] += count
    best = _one_and_a_half(letters, totals, masked)
    for index, members in enumerate(_REGION_MEMBERS):
        top = max(totals[member] for member in members)
        best = max(best, top + REGION_LANGUAGE_WEIGHT * (regional[index] - top))
    return best


@lru_cache(maxsize=4096)
def _letter_languages(letter: str, masked: frozenset[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(languages, regions) crediting the letter, looked up once per letter for every candidate."""
    languages = _languages_of(letter, masked)
    return languages, _regions_of(languages)


@lru_cache(maxsize=4096)
def _regions_of(languages: tuple[int, ...]) -> tuple[int, ...]:
    """Indexes in LANGUAGE_REGIONS of the regions holding one of the languages (a letter's)."""
    return tuple(
        index for index, members in enumerate(_REGION_MEMBERS) if not set(members).isdisjoint(languages)
    )


@lru_cache(maxsize=16384)
def _same_language(first: str, second: str) -> bool:
    """Whether two non-ASCII letters of one word can belong to one language: `Săo` (ă Romanian) can,
    `Ćrř` (Ć Croatian or Polish, ř Czech) cannot, so Danish `Ærø` read as Windows-1250 is not text.
    A letter no listed alphabet holds (İ, ǆ) is no evidence either way."""
    a, b = _alphabets_of(first.lower()), _alphabets_of(second.lower())
    return not a or not b or not set(a).isdisjoint(b)


def _evidence_positions(text: str) -> list[int]:
    """Up to SCORED_CHARS_MAX evidence positions, spread over the whole text (the excerpt holds the
    regions one after another, and the tail window must be heard too)."""
    if len(text) <= SCORED_CHARS_MAX:  # no slice can reach its quota: one scan gives the same positions
        return [match.start() for match in _EVIDENCE.finditer(text)]
    span = max(1, -(-len(text) // SCORE_SLICES))
    per_slice = SCORED_CHARS_MAX // SCORE_SLICES
    positions: list[int] = []
    for start in range(0, len(text), span):
        found = _EVIDENCE.finditer(text, start, start + span)
        positions.extend(match.start() for match in islice(found, per_slice))
    return positions


def _plausibility(text: str) -> float:
    """Share (0..1) of the evidence characters (non-ASCII and controls) that read as real text."""
    positions = _evidence_positions(text)
    if not positions:
        return 1.0
    # Each distinct (left, char, right) is judged once: text repeats its letter contexts, and a Counter
    # of 3-character slices is far cheaper than a Python step per evidence position.
    padded = " " + text + " "
    bad = 0.0
    letters: Counter[str] = Counter()
    latin: set[str] = set()
    for triple, count in Counter(padded[index : index + 3] for index in positions).items():
        left, char, right = triple[0], triple[1], triple[2]
        verdict = _verdict(char, left, right)
        if verdict == _BAD:
            bad += count
        elif verdict == _LETTER:
            letters[char.lower()] += count
            if char < _LATIN_END:
                latin.add(char)
    if len(latin) > 1 and not _one_language(frozenset(char.lower() for char in latin)):
        bad += MIXED_WORD_WEIGHT * _mixed_words(text, positions, latin)
    uncovered = letters.total() - _covered_by_languages(letters) if letters else 0.0
    return max(0.0, 1.0 - (bad + uncovered) / len(positions))


@lru_cache(maxsize=4096)
def _one_language(letters: frozenset[str]) -> bool:
    """Whether one language has all these letters (then no word can mix two: the check is skipped).
    Letters no listed alphabet holds are no evidence either way, as in :func:`_same_language`."""
    common: set[int] | None = None
    for letter in letters:
        found = _alphabets_of(letter)
        if found:
            common = set(found) if common is None else common & set(found)
    return common is None or bool(common)


def _mixed_words(text: str, positions: Sequence[int], latin: set[str]) -> int:
    """Pairs of successive non-ASCII Latin letters in one word that no one language writes together."""
    mixed = 0
    previous = -2  # position of the last non-ASCII Latin letter seen
    for index in positions:
        char = text[index]
        if char not in latin:
            continue
        # The word is sliced last, for the rare pair of no one language.
        if previous >= 0 and not _same_language(text[previous], char) and _in_one_word(text, previous, index):
            mixed += 1
        previous = index
    return mixed


def _in_one_word(text: str, previous: int, index: int) -> bool:
    """Whether two non-ASCII letters are in one word: only ASCII letters between them."""
    if index - previous > WORD_GAP_MAX:
        return False
    gap = text[previous + 1 : index]
    return not gap or (gap.isascii() and gap.isalpha())


# --- legacy code pages --------------------------------------------------------------------------------


@dataclass
class _Group:
    """Candidate codecs that decode the excerpt to the same text."""

    text: str
    codecs: list[str]
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


# --- shortcut: Western European text in Windows-1252 ------------------------------------------------
#
# Most legacy files are Western European text in cp1252. The full contest (charset-normalizer plus the
# plausibility of ~20 candidate readings) costs ~25 ms on a 10 KiB file; this decides the common case from
# a byte histogram and a few regex counts in well under 1 ms, and hands everything else to the contest.
# It only says cp1252 when (a) the cp1252 reading uses nothing but letters of Western languages and
# common typography, with the shape of Western text (accented letters sparse, never long runs), and
# (b) its plausibility, computed as the scorer does, beats by a margin an optimistic score of every Latin
# code page that reads those bytes differently. Bytes where cp1254 (Turkish), iso8859-15 or Icelandic
# text would differ, and the š ž of Central European and Baltic text, are not accepted at all.
# Cyrillic, Greek, Hebrew, Arabic, Thai and CJK read as cp1252 fail (a) (ð, long runs, density);
# DOS and Mac code pages fail it too (C1-range symbols glued inside words, "cafŽ").

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
        by_text.setdefault(text, _Group(text, [])).codecs.append(codec)
    for group in by_text.values():
        group.plausibility = _plausibility(group.text)
    return list(by_text.values())


def _choose(groups: Sequence[_Group], pick: Sequence[str], rank: dict[str, int]) -> _Group:
    """Most plausible group; ties go to the detector's pick, then to PREFERENCE_ORDER."""
    top = max(group.plausibility for group in groups)
    tied = [group for group in groups if group.plausibility >= top - TIE_TOLERANCE]
    for group in tied:
        if pick and pick[0] in group.codecs:
            return group
    return min(tied, key=lambda group: min(rank[codec] for codec in group.codecs))
