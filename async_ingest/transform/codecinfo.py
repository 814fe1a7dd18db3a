"""What the detector knows about a codec, and what it answers: facts measured on Python's own decoders
(:func:`codec_traits`), the validation of a user-given encoding name (:func:`resolve_codec`), byte order
marks (:func:`detect_bom`), and the :class:`Detection` / :class:`UndetectableEncoding` results shared by
the detector's modules (:mod:`.detect` is the entry point)."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from functools import lru_cache

# BOMs, longest first: FF FE 00 00 is UTF-32-LE, not UTF-16-LE followed by a NUL character.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


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
