"""The sampled windows of a file as the detector sees them (:class:`_Region`): strict decoding of windows
that may start or end mid-character, the UTF-8 check and its damage count, and the excerpt of lines holding
non-ASCII bytes that charset-normalizer and the plausibility scorer read instead of whole windows."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from async_ingest.transform.codecinfo import codec_traits
from async_ingest.units import KiB

EXCERPT_LIMIT = 64 * KiB  # bytes of non-ASCII-bearing lines given to charset-normalizer and the scorer
UTF8_CHECK_SLICE = 64 * KiB  # bytes decoded at a time when checking windows for UTF-8
LINE_CONTEXT = 256  # bytes kept either side of a non-ASCII run when its line is longer than that
SCAN_BLOCK = 4 * KiB  # pure-ASCII blocks of this size are skipped when looking for non-ASCII lines

# Every byte below 0x30 stands alone in all supported ASCII-compatible codecs: UTF-8 continuation bytes
# are >= 0x80 and CJK trail bytes >= 0x30 (GB18030 digits) or >= 0x40. Decoding can resume after one.
_SYNC_BYTE = re.compile(rb"[\x00-\x2f]")
_NON_ASCII_RUN = re.compile(rb"[\x80-\xff]+")
_HIGH_BYTES = bytes(range(0x80, 0x100))
_ASCII_BYTES = bytes(range(0x80))
_REPLACEMENT_UTF8 = "\ufffd".encode()


@dataclass(frozen=True)
class _Region:
    data: bytes
    head: bool  # starts at file offset 0 (else it may start mid-character)
    extra: bool = False  # passed by the caller as especially telling (e.g. around a decode failure)


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
